"""Transfer methods that leave the model alone: correct its output, or map the spectra in.

Each method is a small strategy with one job, :meth:`Method.fit`: from standards, return the
model moved to the new instrument (a :class:`~spectune.training._files.SavedModel` with a
:class:`~spectune.training._transfer_map.TransferMap`). Its settings form a small grid that
cross-validation over the standards chooses from (:mod:`spectune.transfer._select`).

Direct standardisation (DS), piecewise DS (PDS) and spectral space transformation (SST) are
chemotools 0.5's transformers (``chemotools.adaptation``), fitted to map the new instrument's
standards onto the model's. All three are affine in the spectra, so each is stored as the
matrix and offset it applies, read off the fitted transformer (:func:`affine_map`).
"""

from __future__ import annotations

import abc
import warnings
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from chemotools.adaptation import (
    DirectStandardization,
    PiecewiseDirectStandardization,
    SpectralSpaceTransform,
)
from sklearn.base import TransformerMixin

from spectune.data import Spectra
from spectune.training import SavedModel, TransferMap
from spectune.transfer._standards import Standards

__all__ = ["Context", "DirectStandardisation", "Method", "NoCorrection",
           "PiecewiseDirectStandardisation", "Setting", "SlopeBias", "SpectralSpaceTransformation",
           "affine_map"]

Setting = dict[str, Any]

#: PDS half-widths (points each side of the corrected point) and local PLS components tried.
PDS_WINDOWS = (2, 4, 8, 16)
PDS_COMPONENTS = (1, 2, 3)
#: SST latent components tried.
SST_COMPONENTS = (1, 2, 3, 5, 8)


@dataclass(frozen=True, eq=False)
class Context:
    """What a method may use besides the standards.

    Attributes
    ----------
    model : SavedModel
        The model on its own instrument (A).
    calibration : Spectra or None
        The model's calibration spectra (measured on A) with references, for recalibration
        (which applies only when every member of the model has a PLS).
    seed : int
        Seeds CV folds and fine-tuning.
    max_epochs : int
        Most fine-tuning epochs the CV may choose.
    """

    model: SavedModel
    calibration: Spectra | None = None
    seed: int = 0
    max_epochs: int = 100


class Method(abc.ABC):
    """One way to move a model to a new instrument, with the settings CV chooses from."""

    name: ClassVar[str]
    #: Needs reference values of the standards (else it is skipped).
    needs_references: ClassVar[bool] = False
    #: Fewest standards the method's fits are stable with.
    min_standards: ClassVar[int] = 3

    def unavailable(self, context: Context) -> str | None:
        """Why this method cannot move ``context.model`` (None when it can)."""
        return None

    def grid(self, context: Context, n_train: int) -> list[Setting]:
        """Settings to try when each CV fit sees at least ``n_train`` standards."""
        return [{}]

    @abc.abstractmethod
    def fit(self, context: Context, standards: Standards, setting: Setting) -> SavedModel:
        """The model moved to the new instrument with ``setting``, learnt from ``standards``."""

    def cv_predict(self, context: Context, train: Standards, X_held: np.ndarray,
                   grid: list[Setting]) -> list[np.ndarray]:
        """Predictions of the new instrument's spectra ``X_held``, one array per setting."""
        return [self.fit(context, train, setting).predict(X_held) for setting in grid]

    def finish(self, context: Context, standards: Standards, moved: SavedModel) -> SavedModel:
        """The chosen fit completed with what predictions do not use. By default it keeps the
        source model's applicability domain, which scores the spectra the members see."""
        return moved


class NoCorrection(Method):
    """The model as it is: what not transferring costs."""

    name = "none"

    def fit(self, context: Context, standards: Standards, setting: Setting) -> SavedModel:
        return context.model


class SlopeBias(Method):
    """``y = bias + slope * prediction`` per target, fitted on the standards' references.

    Setting ``slope``: False fits the bias alone (slope 1), True both.
    """

    name = "slope-bias"
    needs_references = True

    def grid(self, context: Context, n_train: int) -> list[Setting]:
        return [{"slope": False}, {"slope": True}]

    def fit(self, context: Context, standards: Standards, setting: Setting) -> SavedModel:
        pred = np.asarray(context.model.predict(standards.slave), dtype=np.float64)
        pred = pred.reshape(len(pred), -1)
        y = standards.y
        if setting["slope"]:
            slope, bias = np.array([np.polyfit(pred[:, t], y[:, t], 1)
                                    for t in range(y.shape[1])]).T
        else:
            slope, bias = np.ones(y.shape[1]), (y - pred).mean(axis=0)
        return replace(context.model, transfer=TransferMap(slope=slope, bias=bias))


class _SpectralMap(Method):
    """A chemotools transformer that maps the new instrument's spectra onto the model's."""

    def transformer(self, setting: Setting) -> TransformerMixin:
        raise NotImplementedError

    def fit(self, context: Context, standards: Standards, setting: Setting) -> SavedModel:
        transformer = self.transformer(setting)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            transformer.fit(standards.slave, X_source=standards.master)
        return replace(context.model, transfer=affine_map(transformer, standards.slave.shape[1]))


class DirectStandardisation(_SpectralMap):
    """DS (Wang, Veltkamp & Kowalski 1991): one least-squares map of the whole spectrum."""

    name = "ds"

    def transformer(self, setting: Setting) -> TransformerMixin:
        return DirectStandardization()


class PiecewiseDirectStandardisation(_SpectralMap):
    """PDS: each point from a window of the new spectrum by a local PLS (Bouveresse 1996).

    Settings: ``window`` (half-width in points) and ``components`` (of each local PLS).
    """

    name = "pds"
    min_standards = 4

    def grid(self, context: Context, n_train: int) -> list[Setting]:
        return [{"window": w, "components": k} for w in PDS_WINDOWS for k in PDS_COMPONENTS
                if k <= min(w + 1, n_train - 1)]

    def transformer(self, setting: Setting) -> TransformerMixin:
        return PiecewiseDirectStandardization(window_length=setting["window"],
                                              n_components=setting["components"])


class SpectralSpaceTransformation(_SpectralMap):
    """SST (Du et al. 2011): corrects the few directions in which the instruments differ.

    Setting ``components``: latent components of the joint SVD of both instruments' spectra.
    """

    name = "sst"

    def grid(self, context: Context, n_train: int) -> list[Setting]:
        return [{"components": k} for k in SST_COMPONENTS if k <= n_train - 1]

    def transformer(self, setting: Setting) -> TransformerMixin:
        return SpectralSpaceTransform(n_components=setting["components"])


def affine_map(transformer: TransformerMixin, points: int) -> TransferMap:
    """The ``x @ matrix + offset`` a fitted affine transformer applies, read off two probes.

    ``offset`` is the image of the zero spectrum; row ``i`` of ``matrix`` is the image of the
    unit spectrum ``e_i`` minus the offset.
    """
    offset = np.asarray(transformer.transform(np.zeros((1, points))), dtype=np.float64)[0]
    matrix = np.asarray(transformer.transform(np.eye(points)), dtype=np.float64) - offset
    return TransferMap(matrix=matrix, offset=offset)
