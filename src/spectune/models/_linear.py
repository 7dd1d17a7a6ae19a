"""A fitted linear model of preprocessed spectra, kept as plain arrays (PLS, Ridge, logistic).

Why: the final model may hold PLS or Ridge beside the networks (a stack), and a PLS-residual
network carries its PLS. All three predict linearly in their preprocessed spectra, so each is
kept as ``scores = pre(X).reshape(n, -1) @ coef + intercept`` (float64): ``pre`` is the
route's :class:`PreprocessingSpec` and its fitted arrays. A model folder then needs no pickle.
For classes the scores are logits and the probabilities their softmax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import softmax
from sklearn.base import BaseEstimator

from spectune.preprocess._spec import PreprocessingSpec

__all__ = ["LinearModel"]


@dataclass(frozen=True, eq=False)
class LinearModel:
    """A linear map of preprocessed one-channel spectra.

    Attributes
    ----------
    name : str
        What it is: "pls", "ridge" or "logistic".
    preprocessing : PreprocessingSpec
        The route alone, without column standardisation (the linear model centres or scales
        the spectra itself; that is folded into ``coef`` and ``intercept``).
    transformer : fitted scikit-learn transformer of ``preprocessing``
    coef : ndarray of shape (n_features, n_outputs)
    intercept : ndarray of shape (n_outputs,)
    task : {"regression", "classification"}
    classes : ndarray or None
        Class labels in column order (classification).
    settings : dict
        The choice made by CV, for ``model.json`` and the report (``n_components``, ``alpha``,
        ``C``).
    in_shape : (channels, points) of the raw spectra (channels are read side by side)
    """

    name: str
    preprocessing: PreprocessingSpec
    transformer: BaseEstimator
    coef: np.ndarray
    intercept: np.ndarray
    task: str = "regression"
    classes: np.ndarray | None = None
    settings: dict[str, Any] | None = None
    in_shape: tuple[int, int] = (1, 0)

    def scores(self, X: npt.ArrayLike) -> np.ndarray:
        """``[n, n_outputs]`` linear scores (regression predictions, or logits), float64."""
        X = np.asarray(X, dtype=np.float64)
        Z = np.asarray(self.transformer.transform(X.reshape(len(X), -1)), dtype=np.float64)
        return Z.reshape(len(Z), -1) @ self.coef + self.intercept

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Regression: ``[n, n_targets]``. Classification: class labels."""
        if self.task == "classification":
            return np.asarray(self.classes)[self.scores(X).argmax(axis=1)]
        return self.scores(X)

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Class probabilities ``[n, n_classes]`` (the softmax of the logits)."""
        if self.task != "classification":
            raise ValueError(f"predict_proba is for classification; {self.name} regresses.")
        return softmax(self.scores(X), axis=1)

    @property
    def n_params(self) -> int:
        return int(self.coef.size + self.intercept.size)

    @classmethod
    def from_fitted(cls, name: str, route: str, estimator: Any, X: npt.ArrayLike, *,
                    settings: dict[str, Any] | None = None) -> LinearModel:
        """A fitted scikit-learn linear ``estimator`` of ``make_route(route)``'s output.

        ``estimator`` is a ``PLSRegression`` (scaled or not), a ridge, a
        ``LogisticRegression``, or a ``Pipeline`` of a ``StandardScaler`` and one of them, fitted
        on ``make_route(route).fit_transform(X)``; ``X`` is the raw spectra (several channels
        side by side; the route is refitted on them, deterministically, to keep its fitted
        arrays instead of pickling it).
        """
        X = np.asarray(X, dtype=np.float64)
        in_shape = (X.shape[1], X.shape[2]) if X.ndim == 3 else (1, X.shape[1])
        flat = X.reshape(len(X), -1)
        spec = PreprocessingSpec((route,), standardise=False)
        transformer = spec.build().fit(flat)
        coef, intercept, classes = _linear_form(estimator)
        task = "classification" if classes is not None else "regression"
        return cls(name, spec, transformer, coef, intercept, task, classes, dict(settings or {}),
                   in_shape)

    def to_dict(self) -> dict[str, Any]:
        """What ``model.json`` says about it (the arrays go to the safetensors file)."""
        return {"name": self.name, "task": self.task,
                "preprocessing": self.preprocessing.to_dict(),
                "n_features": int(self.coef.shape[0]), "n_outputs": int(self.coef.shape[1]),
                "classes": None if self.classes is None else np.asarray(self.classes).tolist(),
                "settings": dict(self.settings or {}), "in_shape": list(self.in_shape)}


def _linear_form(model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``coef [n_features, n_outputs]``, ``intercept [n_outputs]`` and the classes, if any."""
    if hasattr(model, "steps"):  # StandardScaler then the model: fold the scaling in
        scaler, inner = model.steps[0][1], model.steps[-1][1]
        coef, intercept, classes = _linear_form(inner)
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)[:, None]
        return coef / scale, intercept - (scaler.mean_[:, None] / scale * coef).sum(0), classes
    if hasattr(model, "x_rotations_"):  # PLSRegression: (Z - x_mean) / x_std @ coef_.T + b
        coef = model.coef_.T / model._x_std[:, None]
        intercept = model.intercept_ - (model._x_mean / model._x_std) @ model.coef_.T
        return np.asarray(coef, float), np.asarray(intercept, float).ravel(), None
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=float))
    classes = getattr(model, "classes_", None)
    if classes is not None and len(classes) == 2 and coef.shape[0] == 1:
        # binary logistic regression: logit of class 1 -> the softmax of [0, logit]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    return coef.T.copy(), intercept, None if classes is None else np.asarray(classes)

