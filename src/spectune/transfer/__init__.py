"""Calibration transfer: move a model to a new instrument with a few transfer standards.

The standards are measured on the model's instrument and on the new one
(:func:`match_standards` pairs them by id); :func:`transfer_model` scores every method (none,
slope/bias, DS, PDS, SST, recalibration with the standards added, fine-tuning of networks;
recalibration only when every member of the model has a PLS) and its settings by
cross-validation over the standards, and returns the model moved with the best.
The moved model is an ordinary model folder: ``spectune predict`` uses it on the new
instrument's spectra as they are. Only the command line imports this stage.
"""

from __future__ import annotations

from spectune.transfer._finetune import fine_tune
from spectune.transfer._methods import Context, Method, affine_map
from spectune.transfer._select import (
    METHODS,
    MIN_STANDARDS,
    TransferResult,
    check_movable,
    transfer_model,
)
from spectune.transfer._standards import Standards, match_standards, source_record

__all__ = [
    "METHODS",
    "MIN_STANDARDS",
    "Context",
    "Method",
    "Standards",
    "TransferResult",
    "affine_map",
    "check_movable",
    "fine_tune",
    "match_standards",
    "source_record",
    "transfer_model",
]
