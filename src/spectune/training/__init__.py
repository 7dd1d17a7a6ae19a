"""Training stage of spectune: one loop with callbacks, and the LR range test.

The loop never imports Optuna: pruning reaches it through :class:`ReportCallback`, which raises
:class:`TrainingPruned`; the tuning layer translates that into ``optuna.TrialPruned``.
"""

from __future__ import annotations

from spectune.training._augment import SpectralAugmenter, augmenter_from_params
from spectune.training._callback import Callback
from spectune.training._config import TrainConfig, get_default_config, resolve_device
from spectune.training._conformal import ConformalSet, coverage, predict_interval
from spectune.training._early_stopping import EarlyStopping
from spectune.training._errors import DivergedError, StopTraining, TrainingPruned
from spectune.training._files import JSON_NAME, Member, SavedModel, load_model, save_model
from spectune.training._history import History
from spectune.training._losses import hidden_weights, l2_penalty
from spectune.training._lr_find import find_learning_rates
from spectune.training._lr_range import LRRangeResult, lr_range_test
from spectune.training._network import SpectralNetwork, as_3d, fit_network
from spectune.training._plateau import ReduceLROnPlateau
from spectune.training._population import MemberOutcome, PopulationTrainer, population_key
from spectune.training._predict import predict
from spectune.training._report import ReportCallback
from spectune.training._residual import PLSBaseline, fit_pls_baseline
from spectune.training._result import TrainResult
from spectune.training._trainer import Trainer, train
from spectune.training._transfer_map import TransferMap

__all__ = [
    "JSON_NAME",
    "Callback",
    "ConformalSet",
    "DivergedError",
    "EarlyStopping",
    "History",
    "LRRangeResult",
    "Member",
    "MemberOutcome",
    "PLSBaseline",
    "PopulationTrainer",
    "ReduceLROnPlateau",
    "ReportCallback",
    "SavedModel",
    "SpectralAugmenter",
    "SpectralNetwork",
    "StopTraining",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingPruned",
    "TransferMap",
    "as_3d",
    "augmenter_from_params",
    "coverage",
    "find_learning_rates",
    "fit_network",
    "fit_pls_baseline",
    "get_default_config",
    "hidden_weights",
    "l2_penalty",
    "load_model",
    "lr_range_test",
    "population_key",
    "predict",
    "predict_interval",
    "resolve_device",
    "save_model",
    "train",
]
