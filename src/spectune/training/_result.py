"""The outcome of a training run: the model, its history and how to predict with it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from torch import nn

from spectune.training._history import History
from spectune.training._predict import predict


@dataclass
class TrainResult:
    """A trained model with what is needed to use and judge it.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model, in evaluation mode (best weights if early stopping restored them).
    history : History
    task : str
    y_mean, y_std : ndarray of shape (n_targets,) or None
        Training-target statistics that :meth:`predict` uses to map outputs back.
    best_epoch : int or None
        Best epoch found by an EarlyStopping callback, if any.
    stop_reason : str
        Why the loop ended ("max_epochs reached" or a StopTraining message).
    """

    model: nn.Module
    history: History
    task: str
    y_mean: np.ndarray | None
    y_std: np.ndarray | None
    best_epoch: int | None
    stop_reason: str

    def predict(self, X: npt.ArrayLike, *, proba: bool = False) -> np.ndarray:
        """Predictions in original units (regression) or logits/probabilities (classification)."""
        return predict(
            self.model, X, task=self.task, y_mean=self.y_mean, y_std=self.y_std, proba=proba
        )
