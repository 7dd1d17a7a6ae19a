"""analysis stage of spectune."""
