"""Predictions of a trained model in the units the user gave (standardisation mapped back)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from spectune.training._data import as_features

CHUNK = 1024


@torch.no_grad()
def forward_in_chunks(model: nn.Module, X: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """Evaluation-mode forward pass in chunks, so a large set does not fill the device memory.

    Regression outputs come back as ``[n, n_outputs]`` (a ``[n]`` output gets a column axis).
    """
    model.eval()
    out = torch.cat([model(X[i : i + chunk]) for i in range(0, len(X), chunk)])
    return out.reshape(len(X), -1)


def predict(
    model: nn.Module,
    X: npt.ArrayLike,
    *,
    task: str = "regression",
    y_mean: npt.ArrayLike | None = None,
    y_std: npt.ArrayLike | None = None,
    proba: bool = False,
) -> np.ndarray:
    """Predict with ``model`` on the device its parameters live on.

    Parameters
    ----------
    model : torch.nn.Module
        A model trained by :func:`train`; it is put in evaluation mode.
    X : array-like of shape (n, ...)
        Inputs with the shape the model was trained on.
    task : {"regression", "classification"}
    y_mean, y_std : array-like of shape (n_targets,), optional
        The training targets' statistics (``TrainResult.y_mean``/``y_std``); the standardised
        outputs are mapped back as ``out * y_std + y_mean``. Left out: raw outputs.
    proba : bool
        Classification only: softmax probabilities instead of logits.

    Returns
    -------
    ndarray of shape (n, n_targets) or (n, n_classes)
        Regression predictions in original units (always 2-D), or logits/probabilities.
    """
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    X_t = torch.as_tensor(as_features(X, "X"), device=device)
    out = forward_in_chunks(model, X_t)
    if task == "classification":
        return (out.softmax(dim=1) if proba else out).double().cpu().numpy()
    pred = out.double().cpu().numpy()
    if y_std is not None:
        pred = pred * np.asarray(y_std, dtype=np.float64)
    if y_mean is not None:
        pred = pred + np.asarray(y_mean, dtype=np.float64)
    return pred
