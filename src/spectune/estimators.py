"""scikit-learn estimators for spectra: a CNN (or MLP) with its preprocessing, in one object.

They follow scikit-learn's contract (parameters only stored in ``__init__``, validation in
``fit``, fitted attributes ending in ``_``), so they work in ``Pipeline``, ``GridSearchCV`` and
``clone``. The architecture is a preset object (``arch=PassosCNN(kernel_size=7)``) so nested
parameters are set the scikit-learn way: ``est.set_params(arch__kernel_size=11)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from spectune.data import Spectra
from spectune.exceptions import NotFittedError as SpectuneNotFittedError
from spectune.models._arch_params import PassosCNN
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import TrainConfig, fit_network, save_model

__all__ = [
    "AutoSpectralClassifier",
    "AutoSpectralRegressor",
    "SpectralCNNClassifier",
    "SpectralCNNRegressor",
]


class _SpectralCNN(BaseEstimator):
    """Shared fit/predict of the two estimators; the subclasses only name their task.

    Parameters
    ----------
    arch : ArchPreset, ArchSpec or {"passos", "shen", "mlp"}, default=PassosCNN()
        The network; presets are sized for the preprocessed input at fit time.
    preprocessing : str or PreprocessingSpec, default="raw"
        A route name ("snv+sg1") standardised column-wise, or a full spec.
    optimizer, lr, l2, batch_size, max_epochs, loss
        Training settings (see ``spectune.training.TrainConfig``); ``l2`` is Passos & Mishra's
        beta on hidden-layer weights.
    early_stopping_patience : int or None, default=30
        Patience on a validation split of ``validation_fraction`` of the fit data; None: train
        ``max_epochs`` on all of it.
    validation_fraction : float, default=0.15
        Share of the fit data held out for early stopping and the plateau schedule.
    plateau_patience : int or None, default=10
    lr_min : float, default=1e-5
    device : str, default="cpu"
    random_state : int or None, default=None
        Seeds the split, the weights, the batch order and dropout.

    Attributes
    ----------
    network_ : SpectralNetwork
    n_features_in_ : int
        Points per spectrum (times channels for 3-D input).
    history_ : History
    best_epoch_ : int or None
    """

    _task = "regression"

    def __init__(
        self,
        arch: Any = None,
        *,
        preprocessing: str | PreprocessingSpec = "raw",
        optimizer: str = "adam",
        lr: float = 1e-3,
        l2: float = 0.0,
        batch_size: int = 32,
        max_epochs: int = 200,
        loss: str | None = None,
        early_stopping_patience: int | None = 30,
        validation_fraction: float = 0.15,
        plateau_patience: int | None = 10,
        lr_min: float = 1e-5,
        device: str = "cpu",
        random_state: int | None = None,
    ) -> None:
        self.arch = arch
        self.preprocessing = preprocessing
        self.optimizer = optimizer
        self.lr = lr
        self.l2 = l2
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.loss = loss
        self.early_stopping_patience = early_stopping_patience
        self.validation_fraction = validation_fraction
        self.plateau_patience = plateau_patience
        self.lr_min = lr_min
        self.device = device
        self.random_state = random_state

    def fit(self, X: npt.ArrayLike | Spectra, y: npt.ArrayLike | None = None) -> _SpectralCNN:
        """Fit preprocessing and network on ``X`` (arrays [n, points], [n, channels, points] or
        a ``Spectra``, whose ``y`` is used when ``y`` is None)."""
        X, y = self._check_data(X, y, reset=True)
        seed = 0 if self.random_state is None else int(self.random_state)
        config = self._config(seed)
        X_val = y_val = None
        if self.early_stopping_patience is not None or self.plateau_patience is not None:
            if not 0 < self.validation_fraction < 1:
                raise ValueError(f"validation_fraction must lie in (0, 1), got "
                                 f"validation_fraction={self.validation_fraction!r}.")
            stratify = y if self._task == "classification" and _can_stratify(y) else None
            X, X_val, y, y_val = train_test_split(
                X, y, test_size=self.validation_fraction, random_state=seed, stratify=stratify
            )
        self.network_ = fit_network(
            X, y, preprocessing=_preprocessing(self.preprocessing),
            arch=PassosCNN() if self.arch is None else self.arch, config=config, task=self._task,
            X_val=X_val, y_val=y_val, classes=getattr(self, "classes_", None),
        )
        self.history_ = self.network_.history
        self.best_epoch_ = self.network_.best_epoch
        return self

    def _config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            optimizer=self.optimizer, lr=self.lr, l2=self.l2, batch_size=self.batch_size,
            max_epochs=self.max_epochs, loss=self.loss,
            early_stopping_patience=self.early_stopping_patience,
            plateau_patience=self.plateau_patience, lr_min=min(self.lr_min, self.lr), seed=seed,
            device=self.device,
        )

    def _check_data(
        self, X: npt.ArrayLike | Spectra, y: npt.ArrayLike | None, *, reset: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(X, Spectra):
            if y is None and X.y is not None:  # Spectra keep one target as [n, 1]; as (n,) here
                y = X.y[:, 0] if X.task == "regression" and X.y.shape[1] == 1 else X.y
            X = X.flat_X()
        if reset:
            X, y = validate_data(self, X, y, reset=True, allow_nd=True, dtype=np.float32,
                                 multi_output=True, y_numeric=self._task == "regression")
            self.in_shape_ = X.shape[1:]
            y = self._check_targets(y, len(X))
        else:
            check_is_fitted(self, "network_")
            X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
            if X.shape[1:] != self.in_shape_:
                raise ValueError(f"X has shape {X.shape[1:]} per sample, but "
                                 f"{type(self).__name__} was fitted on {self.in_shape_}.")
        if X.ndim not in (2, 3):
            raise ValueError(f"Expected 2D (n, points) or 3D (n, channels, points) spectra, "
                             f"got shape {X.shape}.")
        return X, y

    def _check_targets(self, y: npt.ArrayLike, n: int) -> np.ndarray:
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"y has {len(y)} rows but X has {n} samples.")
        return y

    def save(self, folder: str | Path, *, wavelengths: npt.ArrayLike | None = None,
             target_names: list[str] | None = None) -> None:
        """Write the fitted model as a folder (safetensors + JSON); ``spectune predict`` reads it."""
        self._check_fitted()
        points = self.network_.in_shape[1]
        save_model(Path(folder), [self.network_],
                   wavelengths=np.arange(points) if wavelengths is None else wavelengths,
                   target_names=target_names or ["y"])

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise SpectuneNotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit first."
            )

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.target_tags.multi_output = self._task == "regression"
        return tags


class SpectralCNNRegressor(RegressorMixin, _SpectralCNN):
    """A 1D-CNN (or MLP) regressor for spectra, one or several targets.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 50)); y = X[:, 10] - X[:, 30]
    >>> model = SpectralCNNRegressor(max_epochs=3, random_state=0).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2,)
    """

    _task = "regression"

    def _check_targets(self, y: npt.ArrayLike, n: int) -> np.ndarray:
        y = super()._check_targets(np.asarray(y, dtype=np.float64), n)
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or inf; drop or impute those samples before fit.")
        self.n_targets_ = 1 if y.ndim == 1 else y.shape[1]
        self._y_was_1d = y.ndim == 1
        return y

    def predict(self, X: npt.ArrayLike | Spectra) -> np.ndarray:
        """Predictions in the target's units: shape (n,) for one target, else (n, n_targets)."""
        self._check_fitted()
        X, _ = self._check_data(X, None, reset=False)
        pred = self.network_.predict(X)
        return pred[:, 0] if self._y_was_1d else pred


class SpectralCNNClassifier(ClassifierMixin, _SpectralCNN):
    """A 1D-CNN (or MLP) classifier for spectra (softmax over the classes)."""

    _task = "classification"

    def _check_targets(self, y: npt.ArrayLike, n: int) -> np.ndarray:
        y = column_or_1d(super()._check_targets(y, n), warn=True)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"y has {len(self.classes_)} class; classification needs at least 2.")
        return y

    def predict(self, X: npt.ArrayLike | Spectra) -> np.ndarray:
        self._check_fitted()
        X, _ = self._check_data(X, None, reset=False)
        return self.network_.predict(X)

    def predict_proba(self, X: npt.ArrayLike | Spectra) -> np.ndarray:
        self._check_fitted()
        X, _ = self._check_data(X, None, reset=False)
        return self.network_.predict_proba(X)


def _preprocessing(value: str | PreprocessingSpec) -> PreprocessingSpec:
    return PreprocessingSpec((value,)) if isinstance(value, str) else value


def _can_stratify(y: np.ndarray) -> bool:
    _, counts = np.unique(y, return_counts=True)
    return counts.min() >= 2



class _AutoSpectral(BaseEstimator):
    """Shared fit of the Auto estimators: a whole ``spectune.tune`` run inside ``fit``.

    Parameters
    ----------
    space : str, default="default"
        Search space: "default", "passos", "shen" or a YAML file.
    n_trials, timeout : budget of the study.
    sampler, pruner, objective, cv : see ``spectune.tuning.TuneSettings``.
    max_epochs : int or None
        Most epochs a trial trains (None: the space's, else 200).
    out : str or None
        Folder for the study, the model and report.html; None: a temporary folder removed
        after fit (no report).
    random_state : int
    verbose : bool
        Show the study's progress (each trial's epochs on a terminal; one line per trial in a
        notebook or log) and its trial counts.
    """

    _task = "regression"

    def __init__(
        self, space: str = "default", *, n_trials: int = 20, timeout: float | None = None,
        sampler: str = "tpe", pruner: str = "hyperband", objective: str | None = None,
        cv: int = 0, max_epochs: int | None = None, out: str | None = None,
        random_state: int = 0, verbose: bool = False,
    ) -> None:
        self.space = space
        self.n_trials = n_trials
        self.timeout = timeout
        self.sampler = sampler
        self.pruner = pruner
        self.objective = objective
        self.cv = cv
        self.max_epochs = max_epochs
        self.out = out
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: npt.ArrayLike | Spectra, y: npt.ArrayLike | None = None) -> _AutoSpectral:
        """Tune on ``X`` (calibration/tuning split inside); the final model as ``spectune tune``."""
        from spectune.training import load_model
        from spectune.tuning import TuneSettings
        from spectune.tuning._run import tune

        spectra = X if isinstance(X, Spectra) else Spectra(
            np.asarray(X, dtype=np.float32), np.arange(np.shape(X)[-1]), y=np.asarray(y),
            task=self._task,
        )
        settings = TuneSettings(
            space=self.space, n_trials=self.n_trials, timeout=self.timeout,
            sampler=self.sampler, pruner=self.pruner, objective=self.objective, cv=self.cv,
            max_epochs=self.max_epochs, seed=self.random_state, test_size=0,
            show_progress=self.verbose,
        )
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(self.out) if self.out is not None else Path(tmp) / "run"
            result = tune(spectra, out, settings)
            self.model_ = load_model(result.model_dir)
            if self.out is not None:
                from spectune.analysis import write_report

                write_report(out, seed=self.random_state)
        self.study_ = result.study
        self.best_params_ = result.best_params
        self.metrics_ = result.metrics
        self.n_features_in_ = spectra.n_channels * spectra.n_points
        return self

    def predict(self, X: npt.ArrayLike | Spectra) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = X.flat_X() if isinstance(X, Spectra) else np.asarray(X, dtype=np.float32)
        pred = self.model_.predict(X)
        return pred[:, 0] if self._task == "regression" and pred.shape[1] == 1 else pred


class AutoSpectralRegressor(RegressorMixin, _AutoSpectral):
    """Tunes a spectral network with Optuna inside ``fit`` (``spectune tune`` as an estimator)."""

    _task = "regression"


class AutoSpectralClassifier(ClassifierMixin, _AutoSpectral):
    """Tunes a spectral classifier with Optuna inside ``fit``."""

    _task = "classification"

    def predict_proba(self, X: npt.ArrayLike | Spectra) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = X.flat_X() if isinstance(X, Spectra) else np.asarray(X, dtype=np.float32)
        return self.model_.predict_proba(X)

    @property
    def classes_(self) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.classes
