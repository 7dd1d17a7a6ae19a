"""Errors and warnings of spectune: one small hierarchy, so callers can catch ours only."""

from __future__ import annotations

from typing import Any


class SpectuneError(Exception):
    """Base class of every error spectune raises on purpose."""


class DataError(SpectuneError, ValueError):
    """Input data that cannot be used; the message names file, row/column and the fix."""


class GridMismatchError(DataError):
    """Spectra at predict time lie on another wavelength grid than the training spectra."""


class InvalidArchitectureError(SpectuneError, ValueError):
    """An architecture draw that cannot be built (a layer output shorter than 1, too many weights)."""


class ModelFileError(SpectuneError):
    """A saved model folder that is missing pieces or whose JSON and tensors disagree."""


class SpectuneWarning(UserWarning):
    """Base class of the non-fatal issues spectune reports."""


def __getattr__(name: str) -> Any:
    # NotFittedError also subclasses scikit-learn's, whose import takes half a second: made on
    # first use, so that ``spectune --help`` and the other errors need no scikit-learn.
    if name != "NotFittedError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(SpectuneError, SklearnNotFittedError):
        """An estimator used before ``fit``; also a scikit-learn ``NotFittedError``."""

    NotFittedError.__qualname__ = "NotFittedError"
    globals()[name] = NotFittedError
    return NotFittedError
