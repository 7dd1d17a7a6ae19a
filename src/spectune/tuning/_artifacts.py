"""What a finished run leaves for its report: predictions of every sample and the spectra.

``predictions.csv`` has one row per calibration, tuning and test sample with the observed
target and the CNN's and PLS's predictions (the refitted models; for classes, labels);
``spectra.safetensors`` holds the spectra and wavelengths, so ``spectune report DIR`` can draw
spectra and explanations without the original files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from spectune.data import Spectra
from spectune.models import pls_pipeline
from spectune.training._network import SpectralNetwork
from spectune.tuning._trial import Evaluation

__all__ = ["load_spectra_arrays", "write_predictions", "write_spectra"]

PREDICTIONS = "predictions.csv"
SPECTRA = "spectra.safetensors"


def write_predictions(
    out: Path, pool: Spectra, test: Spectra | None, evaluation: Evaluation,
    network: SpectralNetwork, pls: dict,
) -> pd.DataFrame:
    """Observed and predicted values of every sample, labelled cal / tune / test."""
    sets = np.full(pool.n_samples, "cal", dtype=object)
    if len(evaluation.val) < pool.n_samples:
        sets[evaluation.val] = "tune"
    model = _RefittedPLS(pls["preprocessing"], pls["n_components"], pool)
    frames = [_frame(pool, sets, network, model)]
    if test is not None:
        frames.append(_frame(test, np.full(test.n_samples, "test", dtype=object), network, model))
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


def _frame(spectra: Spectra, sets: np.ndarray, network: SpectralNetwork, pls: _RefittedPLS
           ) -> pd.DataFrame:
    table = pd.DataFrame({"set": sets})
    if spectra.ids is not None:
        table["sample"] = spectra.ids
    cnn, linear = network.predict(spectra.flat_X()), pls.predict(_flat(spectra))
    if spectra.task == "classification":
        table["observed"], table["cnn"] = spectra.y, cnn
        table["pls"] = np.asarray(linear).reshape(-1)
        return table
    linear = np.asarray(linear, dtype=float).reshape(spectra.n_samples, -1)
    for i, name in enumerate(spectra.target_names):
        table[f"observed_{name}"] = spectra.y[:, i]
        table[f"cnn_{name}"] = cnn[:, i]
        table[f"pls_{name}"] = linear[:, i]
    return table


class _RefittedPLS:
    """The baseline's chosen PLS (PLS-DA: one-hot targets, largest score) refitted on the pool."""

    def __init__(self, route: str, n_components: int, pool: Spectra) -> None:
        self.classes = pool.classes if pool.task == "classification" else None
        y = pool.y if self.classes is None else (pool.y[:, None] == self.classes).astype(float)
        self.pipeline = pls_pipeline(route, n_components).fit(_flat(pool), y)

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = self.pipeline.predict(X)
        return out if self.classes is None else self.classes[np.argmax(out, axis=1)]


def _flat(spectra: Spectra) -> np.ndarray:
    return spectra.X.reshape(spectra.n_samples, -1)
