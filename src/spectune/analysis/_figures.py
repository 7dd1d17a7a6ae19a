"""Writing figures: every figure of a run goes to disk as PNG (for the report) and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["save_figure"]


def save_figure(figure: Figure, path: str | Path) -> list[Path]:
    """Write ``figure`` as ``path`` with the suffixes .png and .svg; returns the two files."""
    written = [Path(path).with_suffix(ext) for ext in (".png", ".svg")]
    for file in written:
        figure.savefig(file, dpi=120)
    return written
