"""PLS-residual networks: the network learns what PLS leaves, the model predicts PLS + network.

Why: on small spectral data sets most of the signal is linear (Beer-Lambert), and a network
that must relearn it from a few hundred spectra often loses to PLS. With PLS's prediction as a
baseline the network only models the rest; where the data hold no non-linear signal a tuning
search can fall back to (almost) PLS, since a network that outputs zero adds nothing.

Honesty: PLS (route and latent variables) is chosen by :class:`~spectune.models.PLSRegressionCV`
on the training (calibration) data only. The training targets' baseline is the chosen setting's
*out-of-fold* prediction (each spectrum predicted by a PLS that did not see it), so the network
does not learn PLS's in-sample optimism (fitted residuals are smaller than a new sample's); the
validation targets' baseline is the PLS refitted on all the training data, as for new spectra.

Storage: PLS predicts linearly in its preprocessed spectra, so the refitted PLS is kept as plain
arrays, ``pred = pre(X).reshape(n, -1) @ coef + intercept`` (float64), ``pre`` being the route's
:class:`PreprocessingSpec` and its fitted arrays: a model file needs no pickle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from torch import nn

if TYPE_CHECKING:
    from spectune.training._network import SpectralNetwork

from spectune.models import PLSRegressionCV
from spectune.preprocess._spec import PreprocessingSpec

__all__ = [
    "LinearPLS",
    "PLSBaseline",
    "absorb_target_mean",
    "fit_pls_baseline",
    "pls_only_network",
    "start_as_pls",
]


@dataclass(frozen=True, eq=False)
class LinearPLS:
    """A fitted PLS as a linear map of its preprocessed spectra (regression only).

    Attributes
    ----------
    preprocessing : PreprocessingSpec
        The PLS route alone, without standardisation (PLS centres the spectra itself).
    transformer : fitted scikit-learn transformer of ``preprocessing``
    coef : ndarray of shape (n_features, n_targets)
    intercept : ndarray of shape (n_targets,)
    n_components : int
        Latent variables of the PLS.
    """

    preprocessing: PreprocessingSpec
    transformer: BaseEstimator
    coef: np.ndarray
    intercept: np.ndarray
    n_components: int

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """``[n, n_targets]`` predictions, float64, from raw one-channel spectra."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 3:
            X = X[:, 0, :]
        Z = np.asarray(self.transformer.transform(X), dtype=np.float64)
        return Z.reshape(len(Z), -1) @ self.coef + self.intercept

    @classmethod
    def from_pls(cls, model: PLSRegressionCV, X: np.ndarray) -> LinearPLS:
        """The refitted pipeline of a fitted ``model`` (fitted on float64 ``X``) as arrays."""
        return cls.from_pipeline(model.pipeline_, model.preprocessing_, X)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, route: str, X: np.ndarray) -> LinearPLS:
        """A fitted :func:`~spectune.models.pls_pipeline` of ``route`` (fitted on ``X``)."""
        spec = PreprocessingSpec((route,), standardise=False)
        transformer = spec.build().fit(X)  # deterministic: the same fit as the pipeline's route
        pls = pipeline.named_steps["pls"]
        # PLSRegression.predict: (Z - _x_mean) / _x_std @ coef_.T + intercept_, written as Z@W+b.
        coef = pls.coef_.T / pls._x_std[:, None]
        intercept = pls.intercept_ - (pls._x_mean / pls._x_std) @ pls.coef_.T
        return cls(spec, transformer, np.asarray(coef, dtype=np.float64),
                   np.asarray(intercept, dtype=np.float64), int(pls.n_components))

    def to_dict(self) -> dict[str, Any]:
        """What ``model.json`` says about it (the arrays go to the safetensors file)."""
        return {"preprocessing": self.preprocessing.to_dict(), "n_components": self.n_components,
                "n_features": int(self.coef.shape[0]), "n_targets": int(self.coef.shape[1])}


@dataclass(frozen=True, eq=False)
class PLSBaseline:
    """The PLS a residual network is trained against; reusable by every trial on the same data.

    Attributes
    ----------
    linear : LinearPLS
        The chosen PLS refitted on all the training data (validation targets, new spectra).
    oof : ndarray of shape (n_samples, n_targets)
        Out-of-fold predictions of the chosen setting (the training targets' baseline).
    cv : PLSRegressionCV
        The fitted grid search (``cv_results_``, ``cv_rmse_``, ...).
    fingerprint : str
        Digest of the ``(X, y)`` it was fitted on: reusing it on other data is refused.
    """

    linear: LinearPLS
    oof: np.ndarray
    cv: PLSRegressionCV
    fingerprint: str

    def check(self, X: npt.ArrayLike, y: npt.ArrayLike) -> None:
        """Refuse data other than those the baseline was fitted on."""
        if _fingerprint(*_as_xy(X, y)) != self.fingerprint:
            raise ValueError(
                "pls_residual: the PLSBaseline was fitted on other spectra or targets than "
                "those given to fit_network; fit it with fit_pls_baseline(X, y) on the same data."
            )


def fit_pls_baseline(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    max_components: int = 20,
    routes: Sequence[str] | None = None,
    cv: int | Any = 5,
    random_state: int | None = 0,
) -> PLSBaseline:
    """Choose PLS by CV on ``(X, y)`` (calibration only) and keep its out-of-fold predictions.

    Parameters
    ----------
    X : array-like of shape (n, points) or (n, 1, points)
        One-channel raw spectra (PLS routes work on single spectra).
    y : array-like of shape (n,) or (n, n_targets)
    max_components, routes, cv, random_state
        As in :class:`~spectune.models.PLSRegressionCV`; the out-of-fold predictions come from
        the same folds that chose the setting.
    """
    X64, Y = _as_xy(X, y)
    model = PLSRegressionCV(max_components, routes=routes, cv=cv, random_state=random_state)
    model.fit(X64, Y)
    oof = np.asarray(model.cv_predictions_, dtype=np.float64).reshape(len(Y), -1)
    return PLSBaseline(LinearPLS.from_pls(model, X64), oof, model, _fingerprint(X64, Y))


def start_as_pls(model: nn.Module) -> None:
    """Zero the output layer, in place: before training, the residual model *is* PLS.

    Early stopping then keeps the network only where it improves on PLS, which is what lets a
    search fall back to PLS (a random output layer would add noise to PLS from the first epoch).
    The hidden layers still learn: the output layer's gradient is not zero, and theirs follows.
    """
    output = _output(model)
    with torch.no_grad():
        output.weight.zero_()
        output.bias.zero_()


def absorb_target_mean(model: nn.Module, y_mean: np.ndarray, y_std: np.ndarray) -> None:
    """Fold the target standardisation's mean into the output bias, in place.

    ``out * y_std + y_mean`` becomes ``out' * y_std`` with ``out' = out + y_mean / y_std``, so a
    residual network whose output layer is zero adds exactly nothing to PLS.
    """
    bias = _output(model).bias
    shift = torch.as_tensor(np.asarray(y_mean) / np.asarray(y_std), dtype=bias.dtype)
    with torch.no_grad():
        bias.add_(shift.to(bias.device))


def _output(model: nn.Module) -> nn.Linear:
    """The output layer of a network built by ``spectune.models.build_model``."""
    output = model.output
    if not isinstance(output, nn.Linear) or output.bias is None:
        raise TypeError(f"a PLS-residual network needs a linear output layer with a bias; "
                        f"got {type(output).__name__}.")
    return output


def _as_xy(X: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 3:
        if X.shape[1] != 1:
            raise ValueError(
                f"pls_residual needs one-channel spectra; got {X.shape[1]} channels. Use "
                "pls_residual=False for multi-channel input."
            )
        X = X[:, 0, :]
    Y = np.asarray(y, dtype=np.float64)
    return X, Y.reshape(len(Y), -1)


def _fingerprint(X: np.ndarray, Y: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for array in (X, Y):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def pls_only_network(X: npt.ArrayLike, y: npt.ArrayLike, *, seed: int = 0,
                     routes: Sequence[str] | None = None) -> SpectralNetwork:
    """PLS (chosen by CV on ``X, y``) as a model member: a residual network that adds nothing.

    Lets an ensemble or a CNN+PLS blend hold PLS in the same model folder, saved the same way.
    ``routes``: the preprocessing routes the CV may choose from (default: all of PLS's).
    """
    from spectune.models import MLP
    from spectune.training._config import TrainConfig
    from spectune.training._network import fit_network

    baseline = fit_pls_baseline(X, y, routes=routes, random_state=seed)
    network = fit_network(
        X, y, preprocessing=PreprocessingSpec(("raw",), standardise=False),
        arch=MLP(units=(1,), dropout=0.0), config=TrainConfig(max_epochs=1, seed=seed),
        pls_residual=baseline,
    )
    start_as_pls(network.model)  # the network part predicts exactly zero: the member is PLS
    return network
