"""spectune: automatic tuning of deep models for 1-D spectra, compared honestly with PLS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spectune.data import Spectra

__version__ = "0.1.0"

__all__ = ["Spectra", "__version__", "tune"]


def __getattr__(name: str) -> Any:
    # ``spectune.tune`` loads torch and Optuna, ``Spectra`` numpy and pandas: import them only
    # when used, so that the command line starts at once.
    if name == "Spectra":
        from spectune.data import Spectra

        return Spectra
    if name == "tune":
        from spectune._api import tune

        return tune
    raise AttributeError(f"module 'spectune' has no attribute {name!r}")
