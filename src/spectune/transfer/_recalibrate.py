"""Recalibration: the model's PLS refitted on its calibration data plus the new standards.

A model folder does not hold its calibration spectra, so this method needs them given back
(``--calibration``, measured on the model's instrument, with references). Each PLS of the model
(a PLS member, or the PLS part of a PLS-residual network) keeps its preprocessing route and is
refitted with the standards measured on the new instrument added, so the new PLS learns to
ignore the directions in which the instruments differ. The settings are how much the standards
weigh (each added ``weight`` times, since a few standards among hundreds of calibration spectra
barely move a least-squares fit) and how many latent variables beyond the model's own the refit
may use (the instrument difference can take one). A PLS-residual network keeps its network part
as it was. The method applies only when every member of the model has a PLS (a PLS member or a
PLS-residual network); a model with any other member (Ridge, a network without PLS) is not
recalibrated. The moved model's applicability domain is refitted on the spectra it now
calibrates on.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.base import clone

from spectune.models import LinearModel, pls_pipeline
from spectune.training import Member, SavedModel, SpectralNetwork
from spectune.transfer._methods import Context, Method, Setting
from spectune.transfer._standards import Standards

__all__ = ["Recalibration"]

#: Copies of each standard added to the calibration data, and latent variables added.
WEIGHTS = (1, 3, 10)
EXTRA_COMPONENTS = (0, 1, 2)


class Recalibration(Method):
    """Refit each PLS of the model on calibration spectra (A) plus the standards (B).

    Settings: ``weight`` (copies of each standard) and ``extra_components``.
    """

    name = "recalibration"
    needs_references = True

    def unavailable(self, context: Context) -> str | None:
        if context.calibration is None:
            return "needs the model's calibration data (--calibration)"
        if any(_pls_of(member) is None for member in context.model.members):
            return "the model has members without a PLS to refit (Ridge, plain networks)"
        return None

    def grid(self, context: Context, n_train: int) -> list[Setting]:
        return [{"weight": w, "extra_components": e} for w in WEIGHTS for e in EXTRA_COMPONENTS]

    def fit(self, context: Context, standards: Standards, setting: Setting) -> SavedModel:
        calibration = context.calibration
        if calibration is None or calibration.y is None or standards.y is None:
            raise ValueError("recalibration needs calibration data and standards with "
                             "reference values")
        copies = setting["weight"]
        X = np.vstack([calibration.flat_X().astype(np.float64), *[standards.slave] * copies])
        Y = np.vstack([calibration.y, *[standards.y] * copies])
        members = [_with_pls(m, _refit(_pls_of(m), X, Y, setting["extra_components"]))
                   for m in context.model.members]
        return replace(context.model, members=members)

    def finish(self, context: Context, standards: Standards, moved: SavedModel) -> SavedModel:
        """The domain refitted, with the source's settings, on what the PLS now calibrates on:
        the calibration spectra and the standards measured on the new instrument."""
        if moved.domain is None or context.calibration is None:
            return moved
        X = np.vstack([context.calibration.flat_X().astype(np.float64), standards.slave])
        return replace(moved, domain=clone(moved.domain).fit(X))


def _pls_of(member: Member) -> LinearModel | None:
    """The member's PLS: itself, or a residual network's PLS part (None: it has none)."""
    pls = member.linear if isinstance(member, SpectralNetwork) else member
    return pls if isinstance(pls, LinearModel) and pls.name == "pls" else None


def _with_pls(member: Member, pls: LinearModel) -> Member:
    return replace(member, linear=pls) if isinstance(member, SpectralNetwork) else pls


def _refit(pls: LinearModel | None, X: np.ndarray, Y: np.ndarray, extra: int) -> LinearModel:
    """``pls``'s route and latent variables (plus ``extra``) refitted on ``X, Y``."""
    if pls is None:
        raise ValueError("a member without PLS cannot be recalibrated")
    route = pls.preprocessing.routes[0]
    own = int((pls.settings or {}).get("n_components", 1))
    components = min(own + extra, len(X) - 1, X.shape[1])
    fitted = pls_pipeline(route, components).fit(X, Y).named_steps["pls"]
    return LinearModel.from_fitted("pls", route, fitted, X,
                                   settings={"n_components": components})
