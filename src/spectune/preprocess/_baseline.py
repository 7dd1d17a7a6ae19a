"""Baseline correction by pybaselines (AsLS, arPLS, airPLS, modified polynomial)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pybaselines import Baseline

from spectune.preprocess._base import SpectralTransformer, check_option, parameter_error

__all__ = ["BaselineCorrection"]

_METHODS = ("asls", "arpls", "airpls", "modpoly")
# Parameter that sets the fewest points a method can fit: polynomial degree or Whittaker
# difference order (pybaselines' own defaults are read from the method signature).
_ORDER_PARAMETER = {"asls": "diff_order", "arpls": "diff_order", "airpls": "diff_order"}


def _signature(method: str) -> inspect.Signature:
    return inspect.signature(getattr(Baseline(), method))


class BaselineCorrection(SpectralTransformer):
    """Estimate a smooth baseline under each spectrum with pybaselines and subtract it.

    Each spectrum is fitted on its own (the method is per spectrum), so nothing is learned from
    the calibration set. The points are taken as evenly spaced, as pybaselines assumes when no
    ``x_data`` is given.

    Parameters
    ----------
    method : {"asls", "arpls", "airpls", "modpoly"}, default="asls"
        Name of the :class:`pybaselines.Baseline` method: asymmetric least squares (Eilers &
        Boelens 2005), asymmetrically reweighted PLS (Baek et al. 2015), adaptive iteratively
        reweighted PLS (Zhang et al. 2010), or modified polynomial fitting (Lieber &
        Mahadevan-Jansen 2003).
    params : dict, optional
        Keyword arguments of that method, e.g. ``{"lam": 1e5, "p": 0.01}`` or
        ``{"poly_order": 3}``; pybaselines' defaults otherwise. A dict rather than ``**kwargs``
        so that ``clone`` and ``set_params`` keep them.

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.preprocess import BaselineCorrection
    >>> x = np.linspace(0.0, 1.0, 50)
    >>> X = np.vstack([2.0 + 3.0 * x, 1.0 - x])
    >>> corrected = BaselineCorrection("modpoly", params={"poly_order": 1}).fit_transform(X)
    >>> bool(np.abs(corrected).max() < 1e-6)
    True
    """

    def __init__(
        self,
        method: Literal["asls", "arpls", "airpls", "modpoly"] = "asls",
        *,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.params = params

    def _check_params(self) -> None:
        check_option(self, "method", self.method, _METHODS)
        if self.params is not None and not isinstance(self.params, Mapping):
            raise parameter_error(self, "params", "a dict or None", self.params)
        accepted = [name for name in _signature(self.method).parameters if name != "data"]
        unknown = sorted(set(self.params or {}) - set(accepted))
        if unknown:
            raise parameter_error(
                self,
                "params",
                f"keywords of pybaselines' {self.method} ({', '.join(accepted)})",
                unknown,
            )

    def _min_points(self) -> tuple[int, str]:
        name = _ORDER_PARAMETER.get(self.method, "poly_order")
        order = (self.params or {}).get(name, _signature(self.method).parameters[name].default)
        return order + 1, f"lower {name}={order}"

    def _transform_channels(self, X: np.ndarray) -> np.ndarray:
        fitter = getattr(Baseline(), self.method)  # one fitter per call: it caches the length
        rows = X.reshape(-1, X.shape[-1])
        baselines = np.stack([fitter(row, **(self.params or {}))[0] for row in rows])
        return X - baselines.reshape(X.shape)
