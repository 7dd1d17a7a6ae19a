"""training stage of spectune."""
