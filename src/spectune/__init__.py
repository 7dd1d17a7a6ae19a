"""spectune: automatic tuning of deep models for 1-D spectra, compared honestly with PLS."""

from __future__ import annotations

from spectune.data import Spectra

__version__ = "0.1.0"

__all__ = ["Spectra", "__version__"]
