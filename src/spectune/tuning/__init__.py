"""tuning stage of spectune."""
