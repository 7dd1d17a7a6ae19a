"""``fit_network`` in three steps, so that many networks can share one preprocessed dataset.

:func:`~spectune.training._network.fit_network` fits the preprocessing, builds the model, trains
it and wraps the result. The population trainer trains K networks in one loop, so it needs the
steps apart: :func:`prepare_inputs` (fit the preprocessing on the calibration spectra, encode or
de-trend the targets: once per dataset), :func:`build_member` (size and build one network, as
``fit_network`` seeds it) and :func:`finish_network` (the :class:`SpectralNetwork` of a trained
model). ``prepare_inputs`` + ``build_member`` + ``train`` + ``finish_network`` gives the same
network as ``fit_network`` (tests/training/test_population.py checks it to the bit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, clone
from torch import nn

from spectune.models import ArchSpec, build_model
from spectune.models._arch_params import ArchPreset, resolve_arch
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training._config import TrainConfig
from spectune.training._network import (
    SpectralNetwork,
    _as_2d,
    _as_input,
    _baseline,
    _encode,
    as_3d,
)
from spectune.training._residual import (
    LinearPLS,
    PLSBaseline,
    absorb_target_mean,
    start_as_pls,
)
from spectune.training._result import TrainResult
from spectune.training._trainer import Augment

__all__ = ["NetworkInputs", "build_member", "finish_network", "prepare_inputs"]


@dataclass(frozen=True, eq=False)
class NetworkInputs:
    """The network's training data after the calibration-fitted preprocessing.

    Attributes
    ----------
    preprocessing, transformer : the spec and its transformer fitted on the calibration spectra
    in_shape : (channels, points) of the raw spectra
    X, X_val : float32 ``[n, channels, points]`` network inputs (X_val may be None)
    y, y_val : targets as the loop takes them (class codes; PLS residuals with ``linear``)
    task : {"regression", "classification"}
    classes : class labels in code order, or None
    n_outputs : int
    linear : LinearPLS or None (PLS-residual networks)
    """

    preprocessing: PreprocessingSpec
    transformer: BaseEstimator
    in_shape: tuple[int, int]
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    task: str
    classes: np.ndarray | None
    n_outputs: int
    linear: LinearPLS | None


def prepare_inputs(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    preprocessing: PreprocessingSpec,
    task: str = "regression",
    X_val: npt.ArrayLike | None = None,
    y_val: npt.ArrayLike | None = None,
    classes: Sequence[Any] | None = None,
    pls_residual: bool | PLSBaseline = False,
    seed: int = 0,
) -> NetworkInputs:
    """``fit_network``'s data steps: PLS baseline, preprocessing fit and transform, labels."""
    pls = _baseline(pls_residual, X, y, task, seed)
    if pls is not None:
        y = _as_2d(y) - pls.oof
        if y_val is not None and X_val is not None:
            y_val = _as_2d(y_val) - pls.linear.predict(X_val)
    raw = np.asarray(X, dtype=np.float32)
    in_shape = (raw.shape[1], raw.shape[2]) if raw.ndim == 3 else (1, raw.shape[-1])
    transformer = preprocessing.build().fit(_as_input(raw, in_shape))
    Xt = as_3d(transformer.transform(_as_input(raw, in_shape)))
    Xv = None if X_val is None else as_3d(transformer.transform(_as_input(X_val, in_shape)))
    if task == "classification":
        labels = np.unique(np.asarray(y)) if classes is None else np.asarray(classes)
        codes = _encode(y, labels)
        codes_val = None if y_val is None else _encode(y_val, labels)
        return NetworkInputs(preprocessing, transformer, in_shape, Xt, codes, Xv, codes_val,
                             task, labels, len(labels), None)
    n_outputs = 1 if np.ndim(y) == 1 else np.shape(y)[1]
    return NetworkInputs(preprocessing, transformer, in_shape, Xt, np.asarray(y), Xv,
                         None if y_val is None else np.asarray(y_val), task, None, n_outputs,
                         None if pls is None else pls.linear)


def build_member(
    inputs: NetworkInputs,
    arch: str | ArchPreset | ArchSpec | Mapping[str, Any],
    config: TrainConfig,
    *,
    augment: Augment | None = None,
    init_state: Mapping[str, Any] | None = None,
) -> tuple[ArchSpec, nn.Module, Augment | None]:
    """The sized spec, the seeded model and the fitted augmenter of one network."""
    channels, points = inputs.X.shape[1], inputs.X.shape[2]
    spec = resolve_arch(arch, channels, points, task=inputs.task, n_outputs=inputs.n_outputs)
    model = build_model(spec, channels, points, seed=config.seed)
    if init_state is not None:
        model.load_state_dict(dict(init_state))
    elif inputs.linear is not None:
        start_as_pls(model)
    if augment is not None and hasattr(augment, "fit"):
        augment = clone(augment).fit(inputs.X)  # magnitudes relative to the calibration spread
    return spec, model, augment


def finish_network(
    inputs: NetworkInputs, spec: ArchSpec, result: TrainResult, config: TrainConfig
) -> SpectralNetwork:
    """The :class:`SpectralNetwork` of a trained model (moved to the CPU)."""
    y_mean = result.y_mean
    if inputs.linear is not None and y_mean is not None and result.y_std is not None:
        absorb_target_mean(result.model, y_mean, result.y_std)
        y_mean = None
    return SpectralNetwork(
        preprocessing=inputs.preprocessing, transformer=inputs.transformer, arch=spec,
        model=result.model.cpu(), task=inputs.task, in_shape=inputs.in_shape, y_mean=y_mean,
        y_std=result.y_std, classes=inputs.classes, history=result.history,
        best_epoch=result.best_epoch, config=config, linear=inputs.linear,
    )
