"""models stage of spectune."""
