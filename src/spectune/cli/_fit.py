"""``spectune fit``: train one network with given settings, evaluate once, save the model folder."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from spectune._json import write_json
from spectune._outdir import check_out_dir, staged_output
from spectune.cli._common import add_data_arguments, describe, input_paths, load_dataset
from spectune.cli._options import integer, non_negative, positive
from spectune.estimators import SpectralCNNClassifier, SpectralCNNRegressor
from spectune.exceptions import SpectuneError
from spectune.metrics import classification_metrics, regression_metrics
from spectune.models import ApplicabilityDomain, ArchSpec, outside_warning
from spectune.models._arch_params import MLP, PassosCNN, ShenCNN
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import TrainConfig, save_model

_PRESETS = {"passos": PassosCNN, "shen": ShenCNN, "mlp": MLP}
log = logging.getLogger("spectune")


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Train one network (no tuning) on TRAIN, evaluate it once on the test "
                          "data, and write the model folder OUT (model.json + model.safetensors, "
                          "the calibration domain in domain.json + domain.safetensors) with "
                          "metrics.json.")
    add_data_arguments(parser)
    parser.add_argument("--arch", default="passos",
                        help="passos, shen, mlp, or a YAML file (an ArchSpec, or "
                        "'preset: passos' with its settings)")
    parser.add_argument("--preprocessing", default="snv",
                        help="route such as snv+sg1, or 'passos' / 'shen' (default snv)")
    parser.add_argument("--lr", type=positive, default=1e-3)
    parser.add_argument("--l2", type=non_negative, default=0.0)
    parser.add_argument("--batch-size", type=integer(1), default=32)
    parser.add_argument("--epochs", type=integer(1), default=300)
    parser.add_argument("--patience", type=integer(1), default=40,
                        help="early-stopping patience on a 15%% validation split")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = [*input_paths(args), *([Path(args.arch)] if Path(args.arch).is_file() else [])]
    check_out_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    arch = read_arch(args.arch)
    preprocessing = parse_preprocessing(args.preprocessing)
    train_config(lr=args.lr, l2=args.l2, batch_size=args.batch_size, max_epochs=args.epochs,
                 early_stopping_patience=args.patience, seed=args.seed)  # checked before reading
    data = load_dataset(args)
    task = data.train.task
    cls = SpectralCNNRegressor if task == "regression" else SpectralCNNClassifier
    estimator = cls(
        arch, preprocessing=preprocessing, lr=args.lr, l2=args.l2, batch_size=args.batch_size,
        max_epochs=args.epochs, early_stopping_patience=args.patience, random_state=args.seed,
    ).fit(data.train.flat_X(), _targets(data.train.y, task))
    prediction = estimator.predict(data.test.flat_X())
    if task == "regression":
        test = regression_metrics(data.test.y, prediction.reshape(data.test.y.shape),
                                  target_names=list(data.train.target_names))
    else:
        test = classification_metrics(data.test.y, prediction, labels=estimator.classes_)
    metrics: dict[str, Any] = {
        "task": task, "target": _target(data.train.target_names),
        "cnn": {"test": test, "arch": estimator.network_.arch.to_dict(),
                "preprocessing": preprocessing.to_dict(), "best_epoch": estimator.best_epoch_,
                "n_params": estimator.network_.n_params},
        "data": describe(data, args.wl_range),
    }
    # The domain: the network's routes without the column standardisation, which would
    # blow up flat, noisy points.
    domain = ApplicabilityDomain(dataclasses.replace(preprocessing, standardise=False),
                                 random_state=args.seed).fit(data.train.flat_X())
    metrics["domain"] = {"test": domain.summary(data.test.flat_X())}
    with staged_output(args.out, overwrite=args.overwrite, inputs=inputs) as stage:
        save_model(stage, [estimator.network_], wavelengths=data.train.wavelengths,
                   target_names=list(data.train.target_names), domain=domain)
        write_json(stage / "metrics.json", metrics)
    message = outside_warning(metrics["domain"]["test"], what="test spectra")
    if message:
        log.warning(message)
    key = "rmse" if task == "regression" else "balanced_accuracy"
    print(f"CNN test {key}: {test[key]:.4g}  (model in {args.out})")
    return 0


def read_arch(value: str) -> Any:
    """A preset name, or a YAML file holding an ArchSpec or ``preset: NAME`` plus settings."""
    if value in _PRESETS:
        return _PRESETS[value]()
    path = Path(value)
    if not path.is_file():
        raise SpectuneError(f"--arch {value}: not a preset ({', '.join(_PRESETS)}) nor a file.")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SpectuneError(f"--arch {value}: not valid YAML ({str(error).splitlines()[0]}).")
    if not isinstance(spec, dict):
        raise SpectuneError(f"--arch {value}: expected a mapping, got {type(spec).__name__}.")
    preset = spec.pop("preset", None)
    try:
        if preset is not None:
            if preset not in _PRESETS:
                raise ValueError(f"preset {preset!r} is not one of {', '.join(_PRESETS)}")
            return _PRESETS[preset](**spec)
        return ArchSpec.from_dict(spec)
    except (TypeError, ValueError) as error:
        raise SpectuneError(f"--arch {value}: {str(error).splitlines()[0]}") from None


def train_config(**settings: Any) -> TrainConfig:
    """The training options as a TrainConfig; a bad value is a one-line user error."""
    try:
        return TrainConfig(**settings)
    except ValueError as error:
        raise SpectuneError(f"{error} Check the option of that name.") from None


def parse_preprocessing(value: str) -> PreprocessingSpec:
    try:
        if value == "passos":
            return PreprocessingSpec.passos()
        if value == "shen":
            return PreprocessingSpec.shen()
        return PreprocessingSpec((value,))
    except ValueError as error:
        raise SpectuneError(f"--preprocessing {value}: {error}") from None


def _targets(y: np.ndarray, task: str) -> np.ndarray:
    return y[:, 0] if task == "regression" and y.shape[1] == 1 else y


def _target(names: tuple[str, ...]) -> str | list[str]:
    return names[0] if len(names) == 1 else list(names)
