"""TrainConfig: defaults in one place, and every bad value named in the error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spectune.training import TrainConfig, get_default_config, resolve_device


def test_defaults_are_valid_and_json_serialisable():
    config = get_default_config()
    assert config == TrainConfig() and config.optimizer == "adam"
    assert json.loads(json.dumps(config.as_dict())) == config.as_dict()


def test_numpy_scalars_and_lists_are_normalised():
    config = TrainConfig(lr=np.float32(0.5), batch_size=np.int64(8), class_weights=[1, 2])
    assert type(config.batch_size) is int and type(config.lr) is float
    assert config.class_weights == (1.0, 2.0)
    json.dumps(config.as_dict())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"optimizer": "lbfgs"}, "optimizer=.lbfgs"),
        ({"lr": 0.0}, "lr must be a finite number > 0.0, got lr=0.0"),
        ({"lr": float("nan")}, "lr=nan"),
        ({"l2": -1e-3}, "l2=-0.001"),
        ({"momentum": 1.0}, "momentum=1.0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"max_epochs": 2.5}, "max_epochs=2.5"),
        ({"loss": "mae"}, "loss=.mae"),
        ({"early_stopping_patience": 0}, "early_stopping_patience=0"),
        ({"plateau_factor": 1.0}, "plateau_factor=1.0"),
        ({"grad_clip": -1.0}, "grad_clip=-1.0"),
        ({"class_weights": (1.0, 0.0)}, "class_weights=0.0"),
        ({"seed": True}, "seed=True"),
        ({"device": "tpu"}, "device=.tpu"),
        ({"weight_decay": 0.1}, "weight_decay=0.1 applies to optimizer='adamw' only"),
        ({"nesterov": True, "optimizer": "adam"}, "nesterov=True needs optimizer='sgd'"),
        ({"class_weights": (1.0, 2.0), "loss": "mse"}, "class_weights need loss='cross_entropy'"),
        ({"lr": 1e-3, "lr_min": 1e-2}, "lr_min=0.01 must not exceed lr=0.001"),
    ],
)
def test_bad_values_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**options)


def test_auto_device_follows_cuda_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
