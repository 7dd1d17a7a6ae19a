"""preprocess stage of spectune."""
