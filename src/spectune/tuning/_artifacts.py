"""What a finished run leaves for its report: predictions of every sample and the spectra.

``predictions.csv`` has one row per calibration, tuning and test sample with the observed
target, the final model's prediction and PLS's: out-of-fold for the calibration and tuning
spectra (each predicted by models that never saw it: the honest figure), from the saved models
for the test spectra (for classes, labels). ``spectra.safetensors`` holds the spectra and
wavelengths, so ``spectune report DIR`` can draw spectra and explanations without the original
files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from spectune.data import Spectra
from spectune.models import FittedBaseline

__all__ = ["PREDICTIONS", "SPECTRA", "load_spectra_arrays", "write_predictions", "write_spectra"]

PREDICTIONS = "predictions.csv"
SPECTRA = "spectra.safetensors"


def write_predictions(
    out: Path, pool: Spectra, test: Spectra | None, sets: np.ndarray, stack_oof: np.ndarray,
    model: Any, baselines: dict[str, FittedBaseline],
) -> pd.DataFrame:
    """Observed and predicted values of every sample, labelled cal / tune / test."""
    pls = baselines["pls"]
    final = stack_oof if pool.task == "regression" else pool.classes[stack_oof.argmax(axis=1)]
    frames = [_frame(pool, sets, final, pls.oof)]
    if test is not None:
        flat = test.X.reshape(test.n_samples, -1)
        frames.append(_frame(test, np.full(test.n_samples, "test", dtype=object),
                             model.predict(test.flat_X()), pls.model.predict(flat)))
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(out / PREDICTIONS, index=False)
    return table


def write_spectra(out: Path, pool: Spectra, test: Spectra | None) -> None:
    arrays = {"pool": pool.X, "wavelengths": pool.wavelengths}
    if test is not None:
        arrays["test"] = test.X
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(out / SPECTRA))


def load_spectra_arrays(out: Path) -> dict[str, np.ndarray]:
    return load_file(str(Path(out) / SPECTRA))


def _frame(spectra: Spectra, sets: np.ndarray, final: np.ndarray, pls: np.ndarray
           ) -> pd.DataFrame:
    table = pd.DataFrame({"set": sets})
    if spectra.ids is not None:
        table["sample"] = spectra.ids
    if spectra.task == "classification":
        table["observed"], table["final"] = spectra.y, np.asarray(final).reshape(-1)
        table["pls"] = np.asarray(pls).reshape(-1)
        return table
    final = np.asarray(final, dtype=float).reshape(spectra.n_samples, -1)
    pls = np.asarray(pls, dtype=float).reshape(spectra.n_samples, -1)
    for i, name in enumerate(spectra.target_names):
        table[f"observed_{name}"] = spectra.y[:, i]
        table[f"final_{name}"] = final[:, i]
        table[f"pls_{name}"] = pls[:, i]
    return table
