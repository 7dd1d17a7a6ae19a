"""Writing figures: every figure of a run goes to disk as PNG (for the report) and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["grid_figure", "save_figure"]


def save_figure(figure: Figure, path: str | Path) -> list[Path]:
    """Write ``figure`` as ``path`` with the suffixes .png and .svg; returns the two files."""
    written = [Path(path).with_suffix(ext) for ext in (".png", ".svg")]
    for file in written:
        figure.savefig(file, dpi=120)
    return written


def grid_figure(rows: int, cols: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of ``rows`` x ``cols`` panels, each ``width`` x ``height``
    inches, and its axes as a 2-D array."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
    return figure, np.asarray(figure.subplots(rows, cols, squeeze=False))
