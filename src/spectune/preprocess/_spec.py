"""A preprocessing described in JSON: which routes, how combined, standardised or not.

Model files and search spaces need preprocessing as data, not as pickled objects. One
``PreprocessingSpec`` covers a single route ("snv+sg1"), Passos & Mishra's concatenation and
Shen & Viscarra Rossel's channel stack; its fitted numbers travel as plain arrays
(:func:`fitted_arrays` / :func:`restore_fitted_arrays`), so loading a model never runs code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from spectune.exceptions import ModelFileError
from spectune.preprocess._concatenate import ConcatenateRoutes
from spectune.preprocess._routes import PASSOS_ROUTES, SHEN_CHANNELS, make_route
from spectune.preprocess._stack import StackRoutes
from spectune.preprocess._standardize import ColumnStandardizer

__all__ = ["PreprocessingSpec", "fitted_arrays", "restore_fitted_arrays"]


@dataclass(frozen=True)
class PreprocessingSpec:
    """Routes applied to the spectra, then optionally a column-wise standardisation.

    Parameters
    ----------
    routes : tuple of str
        Route names for ``make_route`` ("raw", "snv+sg1", ...). One route is used as is.
    combine : {"concat", "stack"}
        Several routes are concatenated along the points or stacked as channels.
    standardise : bool
        Column-wise standardisation with calibration statistics (Passos & Mishra).
    window_length, polyorder : int
        Savitzky-Golay settings of every "sg" token.

    Examples
    --------
    >>> PreprocessingSpec.passos().output_shape(1, 100)
    (1, 600)
    """

    routes: tuple[str, ...] = ("raw",)
    combine: Literal["concat", "stack"] = "concat"
    standardise: bool = True
    window_length: int = 11
    polyorder: int = 2

    def __post_init__(self) -> None:
        routes = (self.routes,) if isinstance(self.routes, str) else tuple(self.routes)
        object.__setattr__(self, "routes", routes)
        if not routes:
            raise ValueError("PreprocessingSpec needs at least one route, got routes=().")
        if self.combine not in ("concat", "stack"):
            raise ValueError(f"combine must be 'concat' or 'stack', got combine={self.combine!r}.")
        self.build()  # unknown route tokens and bad Savitzky-Golay settings fail here, early

    @classmethod
    def passos(cls) -> PreprocessingSpec:
        """Raw, SNV, D1, D2, SNV+D1, SNV+D2 concatenated and standardised (Passos & Mishra)."""
        return cls(PASSOS_ROUTES, "concat", True)

    @classmethod
    def shen(cls, routes: tuple[str, ...] = SHEN_CHANNELS) -> PreprocessingSpec:
        """Reflectance, absorbance, ABS+D1, ABS+D2, ABS+SNV as channels (Shen & Viscarra Rossel)."""
        return cls(routes, "stack", True)

    @property
    def name(self) -> str:
        """A short label for tables and reports, e.g. "snv+sg1" or "concat(raw,snv)"."""
        label = self.routes[0] if len(self.routes) == 1 else f"{self.combine}({','.join(self.routes)})"
        return f"{label}+std" if self.standardise else label

    def build(self) -> BaseEstimator:
        """An unfitted scikit-learn transformer doing this preprocessing."""
        sg = dict(window_length=self.window_length, polyorder=self.polyorder)
        if len(self.routes) == 1:
            routes: BaseEstimator = make_route(self.routes[0], **sg)
        else:
            combiner = ConcatenateRoutes if self.combine == "concat" else StackRoutes
            routes = combiner([(name, make_route(name, **sg)) for name in self.routes])
        steps = [("routes", routes)]
        if self.standardise:
            steps.append(("standardise", ColumnStandardizer()))
        return Pipeline(steps)

    def output_shape(self, n_channels: int, n_points: int) -> tuple[int, int]:
        """(channels, points) of the transformed spectra, to size a network before fitting."""
        k = len(self.routes)
        if k == 1:
            return n_channels, n_points
        if self.combine == "concat":
            return n_channels, n_points * k
        return n_channels * k, n_points

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["routes"] = list(self.routes)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessingSpec:
        return cls(**{**data, "routes": tuple(data["routes"])})


def fitted_arrays(estimator: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Every fitted numeric attribute (name ending in ``_``) of a transformer tree, by path."""
    out: dict[str, np.ndarray] = {}
    for name, value in sorted(vars(estimator).items()):
        if not name.endswith("_") or name.startswith("_"):
            continue
        path = f"{prefix}{name}"
        if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
            out[path] = value
        elif isinstance(value, list) and value and all(_is_named_estimator(v) for v in value):
            for key, child in value:
                out.update(fitted_arrays(child, f"{path}.{key}."))
    for key, child in getattr(estimator, "steps", []):
        if child is not None and child != "passthrough":
            out.update(fitted_arrays(child, f"{prefix}{key}."))
    return out


def restore_fitted_arrays(
    spec: PreprocessingSpec, arrays: dict[str, np.ndarray], n_channels: int, n_points: int
) -> BaseEstimator:
    """Rebuild the fitted transformer of ``spec`` from saved arrays, without unpickling.

    The structure (which sub-transformers exist) comes from fitting on placeholder spectra of
    the saved shape; every fitted number is then replaced by the saved one. A saved set whose
    names or shapes differ from the structure is refused.
    """
    estimator = spec.build()
    shape = (3, n_points) if n_channels == 1 else (3, n_channels, n_points)
    ramp = np.linspace(1.0, 2.0, n_points)
    placeholder = np.broadcast_to(ramp, shape) * np.array([1.0, 1.1, 1.3]).reshape(-1, *[1] * (len(shape) - 1))
    estimator.fit(np.ascontiguousarray(placeholder))
    expected = fitted_arrays(estimator)
    if set(expected) != set(arrays):
        missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        raise ModelFileError(
            f"preprocessing {spec.name}: saved arrays do not match (missing {missing}, "
            f"unexpected {extra}); the model folder is damaged or from another version."
        )
    for path, value in arrays.items():
        if expected[path].shape != value.shape:
            raise ModelFileError(
                f"preprocessing {spec.name}: {path} has shape {value.shape}, expected "
                f"{expected[path].shape}; the model folder is damaged."
            )
        owner, attribute = _resolve(estimator, path)
        setattr(owner, attribute, value)
    return estimator


def _is_named_estimator(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and hasattr(value[1], "transform")


def _resolve(estimator: Any, path: str) -> tuple[Any, str]:
    """The object owning the attribute at ``path`` (the inverse of ``fitted_arrays``' naming)."""
    *parts, attribute = path.split(".")
    owner = estimator
    i = 0
    while i < len(parts):
        key = parts[i]
        steps = dict(getattr(owner, "steps", []))
        if key in steps:
            owner = steps[key]
            i += 1
        else:  # a list of (name, transformer) pairs such as routes_
            owner = dict(getattr(owner, key))[parts[i + 1]]
            i += 2
    return owner, attribute
