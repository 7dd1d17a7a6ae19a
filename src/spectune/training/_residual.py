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

Storage: the refitted PLS is a :class:`~spectune.models.LinearModel` (plain arrays): a model
file needs no pickle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from spectune.models import LinearModel, PLSRegressionCV

__all__ = [
    "PLSBaseline",
    "absorb_target_mean",
    "fit_pls_baseline",
    "start_as_pls",
]


@dataclass(frozen=True, eq=False)
class PLSBaseline:
    """The PLS a residual network is trained against; reusable by every trial on the same data.

    Attributes
    ----------
    linear : LinearModel
        The chosen PLS refitted on all the training data (validation targets, new spectra).
    oof : ndarray of shape (n_samples, n_targets)
        Out-of-fold predictions of the chosen setting (the training targets' baseline).
    cv : PLSRegressionCV
        The fitted grid search (``cv_results_``, ``cv_rmse_``, ...).
    fingerprint : str
        Digest of the ``(X, y)`` it was fitted on: reusing it on other data is refused.
    """

    linear: LinearModel
    oof: np.ndarray
    cv: PLSRegressionCV
    fingerprint: str

    @property
    def setting(self) -> tuple[str, int]:
        """The chosen route and number of latent variables."""
        return self.linear.preprocessing.routes[0], int(self.linear.settings["n_components"])

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
    groups: npt.ArrayLike | None = None,
    random_state: int | None = 0,
    setting: tuple[str, int] | None = None,
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
    groups : array-like of shape (n,), optional
        With an int ``cv``, whole groups stay in one fold (``GroupKFold``), as in the baseline.
    setting : (route, n_components), optional
        Fit this setting instead of choosing one (``routes`` and ``max_components`` unused):
        what a residual network was tuned against stays its base when it is refitted.
    """
    X64, Y = _as_xy(X, y)
    if setting is not None:
        routes, max_components = (setting[0],), int(setting[1])
    model = PLSRegressionCV(max_components, routes=routes, cv=cv, random_state=random_state,
                            min_components=max_components if setting is not None else 1)
    model.fit(X64, Y, groups)
    oof = np.asarray(model.cv_predictions_, dtype=np.float64).reshape(len(Y), -1)
    linear = LinearModel.from_fitted("pls", model.preprocessing_,
                                     model.pipeline_.named_steps["pls"], X64,
                                     settings={"n_components": model.n_components_})
    return PLSBaseline(linear, oof, model, _fingerprint(X64, Y))


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

