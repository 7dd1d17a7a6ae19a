"""A trained spectral network: fitted preprocessing + torch model + the target mapping.

``fit_network`` is the one place where spectra become a trained model: the preprocessing is
fitted on the training (calibration) spectra only, the architecture is sized for the
preprocessed input, the loop trains. Estimators, tuning trials and the final refit all call it.
With ``pls_residual`` the network learns y minus an out-of-fold PLS prediction and predicts
PLS + network (see :mod:`spectune.training._residual`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, clone
from torch import nn

from spectune.models import ArchSpec, LinearModel, build_model
from spectune.models._arch_params import ArchPreset, resolve_arch
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training._callback import Callback
from spectune.training._config import TrainConfig
from spectune.training._history import History
from spectune.training._predict import predict
from spectune.training._residual import (
    PLSBaseline,
    absorb_target_mean,
    fit_pls_baseline,
    start_as_pls,
)
from spectune.training._result import TrainResult
from spectune.training._trainer import Augment, train

__all__ = [
    "NetworkInputs",
    "SpectralNetwork",
    "as_3d",
    "build_member",
    "finish_network",
    "fit_network",
    "prepare_inputs",
]


@dataclass
class SpectralNetwork:
    """Everything needed to predict from raw spectra, and nothing that needs pickle to save.

    Attributes
    ----------
    preprocessing : PreprocessingSpec
    transformer : fitted scikit-learn transformer of ``preprocessing``
    arch : ArchSpec
    model : torch.nn.Module (evaluation mode)
    task : {"regression", "classification"}
    in_shape : (channels, points) of the raw spectra
    y_mean, y_std : target standardisation (regression), else None
    classes : class labels in code order (classification), else None
    history : the training history
    best_epoch : best epoch of early stopping, if any
    config : the TrainConfig used
    linear : LinearModel or None
        PLS-residual networks: the PLS whose prediction the network's output is added to (the
        network's output then has no mean term: ``y_mean`` is None).
    """

    preprocessing: PreprocessingSpec
    transformer: BaseEstimator
    arch: ArchSpec
    model: nn.Module
    task: str
    in_shape: tuple[int, int]
    y_mean: np.ndarray | None
    y_std: np.ndarray | None
    classes: np.ndarray | None
    history: History
    best_epoch: int | None
    config: TrainConfig
    linear: LinearModel | None = None

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Preprocessed spectra as ``[n, channels, points]`` float32, the network's input."""
        return as_3d(self.transformer.transform(_as_input(X, self.in_shape)))

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Regression: ``[n, n_targets]`` in original units. Classification: class labels."""
        out = predict(
            self.model, self.transform(X), task=self.task, y_mean=self.y_mean, y_std=self.y_std
        )
        if self.task == "classification":
            return self.classes[out.argmax(axis=1)]
        return out if self.linear is None else out + self.linear.predict(X)

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Class probabilities ``[n, n_classes]`` (classification only)."""
        if self.task != "classification":
            raise ValueError("predict_proba is for classification networks only.")
        return predict(self.model, self.transform(X), task=self.task, proba=True)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def fit_network(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    preprocessing: PreprocessingSpec,
    arch: str | ArchPreset | ArchSpec | Mapping[str, Any],
    config: TrainConfig,
    task: str = "regression",
    X_val: npt.ArrayLike | None = None,
    y_val: npt.ArrayLike | None = None,
    classes: Sequence[Any] | None = None,
    callbacks: Sequence[Callback] = (),
    augment: Augment | None = None,
    init_state: Mapping[str, Any] | None = None,
    pls_residual: bool | PLSBaseline = False,
) -> SpectralNetwork:
    """Fit preprocessing on ``X`` (calibration only), size and build the network, train it.

    ``X_val``/``y_val`` drive early stopping, the plateau schedule and pruning reports; they are
    transformed with the calibration-fitted preprocessing, never fitted on. ``init_state`` is a
    state dict to start from (warm refit). Classification labels are encoded by ``classes``
    (default: the sorted labels of ``y``).

    ``pls_residual`` (regression, one-channel spectra): True chooses PLS by 5-fold CV on ``X``
    (:func:`fit_pls_baseline` with ``random_state=config.seed``); a :class:`PLSBaseline` fitted
    on the same ``X, y`` is reused (fit it once for all the trials of a study). The network then
    learns ``y`` minus PLS's out-of-fold prediction (validation: ``y_val`` minus the refitted
    PLS's prediction) and predicts PLS + network; its output layer starts at zero, so training
    starts from PLS and leaves it only as far as the loss rewards.
    """
    inputs = prepare_inputs(X, y, preprocessing=preprocessing, task=task, X_val=X_val,
                            y_val=y_val, classes=classes, pls_residual=pls_residual,
                            seed=config.seed)
    spec, model, augment = build_member(inputs, arch, config, augment=augment,
                                        init_state=init_state)
    result = train(model, inputs.X, inputs.y, inputs.X_val, inputs.y_val, config=config,
                   callbacks=callbacks, task=task, augment=augment)
    return finish_network(inputs, spec, result, config)


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
    linear : LinearModel or None (PLS-residual networks)
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
    linear: LinearModel | None


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


def as_3d(X: npt.ArrayLike) -> np.ndarray:
    """``[n, points]`` -> ``[n, 1, points]``; ``[n, channels, points]`` unchanged; float32."""
    X = np.asarray(X, dtype=np.float32)
    return X[:, None, :] if X.ndim == 2 else X


def _as_input(X: npt.ArrayLike, in_shape: tuple[int, int]) -> np.ndarray:
    """Spectra in the layout the preprocessing was fitted on (2-D for one channel)."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3 and in_shape[0] == 1:
        X = X[:, 0, :]
    return X


def _baseline(
    pls_residual: bool | PLSBaseline, X: npt.ArrayLike, y: npt.ArrayLike, task: str, seed: int
) -> PLSBaseline | None:
    """The PLS baseline of a residual network (None without ``pls_residual``)."""
    if not isinstance(pls_residual, (bool, np.bool_, PLSBaseline)):
        raise TypeError(
            f"pls_residual must be True, False or a PLSBaseline; got {pls_residual!r}."
        )
    if pls_residual is False or pls_residual is np.False_:
        return None
    if task != "regression":
        raise ValueError(
            f"pls_residual is for regression; got task={task!r}. Use pls_residual=False."
        )
    if isinstance(pls_residual, PLSBaseline):
        pls_residual.check(X, y)
        return pls_residual
    return fit_pls_baseline(X, y, random_state=seed)


def _as_2d(y: npt.ArrayLike) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y.reshape(len(y), -1)


def _encode(y: npt.ArrayLike, classes: np.ndarray) -> np.ndarray:
    codes = {label: code for code, label in enumerate(classes.tolist())}
    labels = np.asarray(y).tolist()
    unknown = sorted({str(label) for label in labels if label not in codes})
    if unknown:
        raise ValueError(
            f"labels {unknown} are not among the classes seen in fit: {classes.tolist()}."
        )
    return np.array([codes[label] for label in labels], dtype=np.int64)
