"""Training stage of spectune: one loop with callbacks, and the LR range test.

The loop never imports Optuna: pruning reaches it through :class:`ReportCallback`, which raises
:class:`TrainingPruned`; the tuning layer translates that into ``optuna.TrialPruned``.
"""

from __future__ import annotations

from spectune.training._augment import SpectralAugmenter, augmenter_from_params
from spectune.training._callback import Callback
from spectune.training._config import TrainConfig, get_default_config, resolve_device
from spectune.training._early_stopping import EarlyStopping
from spectune.training._errors import DivergedError, StopTraining, TrainingPruned
from spectune.training._history import History
from spectune.training._losses import hidden_weights, l2_penalty
from spectune.training._lr_range import LRRangeResult, lr_range_test
from spectune.training._plateau import ReduceLROnPlateau
from spectune.training._predict import predict
from spectune.training._report import ReportCallback
from spectune.training._result import TrainResult
from spectune.training._trainer import Trainer, train

__all__ = [
    "Callback",
    "DivergedError",
    "EarlyStopping",
    "History",
    "LRRangeResult",
    "ReduceLROnPlateau",
    "ReportCallback",
    "SpectralAugmenter",
    "StopTraining",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingPruned",
    "augmenter_from_params",
    "get_default_config",
    "hidden_weights",
    "l2_penalty",
    "lr_range_test",
    "predict",
    "resolve_device",
    "train",
]
