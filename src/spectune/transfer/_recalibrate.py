"""Recalibration: the model's PLS refitted on its calibration data plus the new standards.

A model folder does not hold its calibration spectra, so this method needs them given back
(``--calibration``, measured on the model's instrument, with references). Each member's PLS
part keeps its preprocessing route and is refitted, with the standards measured on the new
instrument added, so the new PLS learns to ignore the directions in which the instruments
differ. The settings are how much the standards weigh (each added ``weight`` times, since a few
standards among hundreds of calibration spectra barely move a least-squares fit) and how many
latent variables beyond the model's own the refit may use (the instrument difference can take
one). A PLS-residual network keeps its network part as it was.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from spectune.models import pls_pipeline
from spectune.training._files import SavedModel
from spectune.training._residual import LinearPLS
from spectune.transfer._methods import Context, Method, Setting
from spectune.transfer._standards import Standards

__all__ = ["Recalibration"]

#: Copies of each standard added to the calibration data, and latent variables added.
WEIGHTS = (1, 3, 10)
EXTRA_COMPONENTS = (0, 1, 2)


class Recalibration(Method):
    """Refit each member's PLS on calibration spectra (A) plus the standards (B).

    Settings: ``weight`` (copies of each standard) and ``extra_components``.
    """

    name = "recalibration"
    needs_references = True

    def unavailable(self, context: Context) -> str | None:
        if context.calibration is None:
            return "needs the model's calibration data (--calibration)"
        if any(member.linear is None for member in context.model.members):
            return "the model has members without a PLS part to refit"
        return None

    def grid(self, context: Context, n_train: int) -> list[Setting]:
        return [{"weight": w, "extra_components": e} for w in WEIGHTS for e in EXTRA_COMPONENTS]

    def fit(self, context: Context, standards: Standards, setting: Setting) -> SavedModel:
        calibration = context.calibration
        assert calibration is not None and calibration.y is not None  # unavailable() said so
        copies = setting["weight"]
        X = np.vstack([calibration.flat_X().astype(np.float64), *[standards.slave] * copies])
        Y = np.vstack([calibration.y, *[standards.y] * copies])
        members = [replace(m, linear=_refit(m.linear, X, Y, setting["extra_components"]))
                   for m in context.model.members]
        return replace(context.model, members=members)


def _refit(linear: LinearPLS | None, X: np.ndarray, Y: np.ndarray, extra: int) -> LinearPLS:
    """``linear``'s route and latent variables (plus ``extra``) refitted on ``X, Y``."""
    assert linear is not None
    route = linear.preprocessing.routes[0]
    components = min(linear.n_components + extra, len(X) - 1, X.shape[1])
    pipeline = pls_pipeline(route, components).fit(X, Y)
    return LinearPLS.from_pipeline(pipeline, route, X)
