"""What moves a saved model to another instrument: a map of the spectra in, a fix of the output.

Calibration transfer (``spectune transfer``) corrects a model for a new spectrometer in one of
two places, and both are plain arrays, so a model folder stays code-free:

- before the model, an affine map of the new instrument's raw spectra onto the model's
  instrument, ``x @ matrix + offset`` (direct standardisation, piecewise DS and spectral space
  transformation are all of this form);
- after the model, a per-target correction of the prediction, ``slope * y + bias``.

A transfer that changes the members instead (recalibration, fine-tuning) keeps only its
``record``: the method, its settings, the standards' checksum and the source model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from spectune.exceptions import ModelFileError

__all__ = ["TransferMap", "read_transfer"]

_PARTS = ("matrix", "offset", "slope", "bias")


@dataclass(frozen=True, eq=False)
class TransferMap:
    """Corrections of a model moved to another instrument (any part may be None).

    Attributes
    ----------
    record : dict
        JSON-safe description: method, settings, standards, source model, CV error.
    matrix : ndarray of shape (points, points), optional
        Spectra in: ``x @ matrix + offset`` maps the new instrument's raw spectra onto the
        model's instrument.
    offset : ndarray of shape (points,), optional
    slope, bias : ndarray of shape (n_targets,), optional
        Predictions out: ``slope * y + bias`` (regression).

    Examples
    --------
    >>> m = TransferMap({"method": "slope-bias"}, slope=np.array([2.0]), bias=np.array([1.0]))
    >>> m.correct(np.array([[1.0], [3.0]])).ravel().tolist()
    [3.0, 7.0]
    """

    record: dict[str, Any] = field(default_factory=dict)
    matrix: np.ndarray | None = None
    offset: np.ndarray | None = None
    slope: np.ndarray | None = None
    bias: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in _PARTS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, np.asarray(value, dtype=np.float64))
        points = None if self.matrix is None else self.matrix.shape[0]
        if self.matrix is not None and self.matrix.shape != (points, points):
            raise ValueError(f"matrix must be square (points, points); got {self.matrix.shape}.")
        if self.offset is not None and (points is None or self.offset.shape != (points,)):
            raise ValueError(f"offset {self.offset.shape} needs a matrix of the same points.")
        for name in ("slope", "bias"):
            value = getattr(self, name)
            if value is not None and value.ndim != 1:
                raise ValueError(f"{name} must be one value per target; got {value.shape}.")

    def to_master(self, X: npt.ArrayLike) -> np.ndarray:
        """New-instrument raw spectra ``[n, points]`` or ``[n, 1, points]`` on the model's."""
        X = np.asarray(X)
        if self.matrix is None:
            return X
        flat = X.reshape(len(X), -1).astype(np.float64)
        if flat.shape[1] != self.matrix.shape[0]:
            raise ValueError(f"spectra of {flat.shape[1]} values; the transfer maps "
                             f"{self.matrix.shape[0]} points of one channel.")
        moved = flat @ self.matrix
        if self.offset is not None:
            moved += self.offset
        return moved.reshape(X.shape)

    def correct(self, prediction: np.ndarray) -> np.ndarray:
        """``slope * prediction + bias`` per target (``[n, n_targets]``)."""
        out = np.asarray(prediction, dtype=np.float64)
        if self.slope is not None:
            out = out * self.slope
        if self.bias is not None:
            out = out + self.bias
        return out

    def check_fits(self, points: int, n_targets: int) -> None:
        """Refuse a map of another grid, or a slope/bias of other targets than the model's."""
        if self.matrix is not None and self.matrix.shape[0] != points:
            raise ValueError(f"the transfer maps {self.matrix.shape[0]} points; the model reads "
                             f"{points}.")
        for name in ("slope", "bias"):
            value = getattr(self, name)
            if value is not None and value.shape != (n_targets,):
                raise ValueError(f"transfer {name} has {value.size} values for {n_targets} "
                                 "targets.")

    def arrays(self) -> dict[str, np.ndarray]:
        """The parts that are set, by name (tensors ``transfer.<name>`` of a model folder)."""
        return {name: getattr(self, name) for name in _PARTS if getattr(self, name) is not None}

    @classmethod
    def from_arrays(cls, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> TransferMap:
        unknown = sorted(set(arrays) - set(_PARTS))
        if unknown:
            raise ValueError(f"unknown transfer arrays {unknown}; expected some of {_PARTS}.")
        return cls(record, **arrays)


def read_transfer(folder: Path, entry: dict[str, Any], arrays: dict[str, np.ndarray],
                  points: int, n_targets: int) -> TransferMap:
    """The ``"transfer"`` part of a model folder, checked against its JSON and the model."""
    try:
        if sorted(arrays) != sorted(entry.get("arrays", [])):
            raise ValueError(f"arrays {sorted(arrays)}, described {entry.get('arrays')}")
        transfer = TransferMap.from_arrays(dict(entry.get("record", {})), arrays)
        transfer.check_fits(points, n_targets)
    except (AttributeError, TypeError, ValueError) as error:
        raise ModelFileError(f"{folder}: the transfer part cannot be used: {error}; the folder "
                             "is damaged or was edited.") from None
    return transfer
