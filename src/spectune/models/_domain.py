"""The applicability domain of a model: is a spectrum like the calibration spectra?

A PCA of the calibration spectra (after a preprocessing) with chemotools' Hotelling T2 (distance
within the PCA model) and Q residuals (SPE, distance to it). A spectrum is *in domain* when both
lie under their limits at ``confidence``; outside, a prediction is an extrapolation. The domain
uses spectra only, so it serves every model and task, and any spectra on the model's grid
(e.g. spectra moved from another instrument).

Choices, each tested in ``tests/models/test_domain.py``:

- Components: the fewest whose cumulative explained variance reaches ``explained_variance``
  (default 0.99), at most ``max_components`` (20), the number of points minus one, and the
  smallest cross-validation training fold minus one (so every fold's PCA leaves a residual).
- T2 limit: chemotools' ``HotellingT2``, ``k (n - 1) / (n - k) * F(confidence; k, n - k)``.
- Q limit: Box's (1954) approximation ``g * chi2(confidence; h)`` matched to the mean and variance
  of *out-of-fold* Q values (each calibration spectrum projected on a PCA fitted without it,
  ``cv``-fold; Nomikos & MacGregor 1995). Limits from the residuals of the spectra the PCA was
  fitted on (chemotools' default) shrink as components fit noise: on random splits of the
  fermentation calibration, most held-out spectra fell outside them. chemotools'
  Jackson-Mudholkar limit also fails when its ``h0 <= 0`` (it fell below the median calibration Q
  on spectrapepper), so Box's approximation is used.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from chemotools.outliers import HotellingT2, QResiduals
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import PCA
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from spectune.exceptions import DataError, ModelFileError
from spectune.preprocess import PreprocessingSpec, fitted_arrays, restore_fitted_arrays

__all__ = ["ApplicabilityDomain", "DomainScores", "outside_warning", "read_domain",
           "write_domain"]

DEFAULT_CONFIDENCE = 0.99
#: The console warns when more than this fraction of the spectra lie outside the domain.
DOMAIN_WARNING = 0.1
JSON_NAME = "domain.json"
TENSORS_NAME = "domain.safetensors"
FORMAT = "spectune-domain"
FORMAT_VERSION = 1
_PARAMS = ("confidence", "explained_variance", "max_components", "cv", "random_state")


class DomainScores(NamedTuple):
    """Per spectrum: Hotelling T2, Q residual (SPE) and whether both lie under their limits."""

    t2: np.ndarray
    q: np.ndarray
    in_domain: np.ndarray


class _CrossValidatedQResiduals(QResiduals):
    """chemotools' Q residuals whose limit comes from out-of-fold Q values (module docstring)."""

    def __init__(self, model: Any, confidence: float = DEFAULT_CONFIDENCE, *, cv: int = 10,
                 random_state: int | None = 0) -> None:
        super().__init__(model, confidence, method="chi-square")
        self.cv = cv
        self.random_state = random_state

    def _fit_residuals(self, X: np.ndarray, y: np.ndarray | None) -> None:
        folds = KFold(min(self.cv, len(X)), shuffle=True, random_state=self.random_state)
        q = np.empty(len(X))
        for train, held_out in folds.split(X):
            fold = clone(self.estimator_).fit(X[train])
            q[held_out] = QResiduals(fold, method="percentile").fit(X[train]) \
                .predict_residuals(X[held_out], validate=False)
        self.cv_q_ = q
        mean, variance = float(q.mean()), float(q.var(ddof=1))
        # Box: theta1 = E[Q], theta2 = Var[Q] / 2 (Q = sum of lambda_j * chi2_1).
        self.critical_value_ = float(self._chi_square_threshold(mean, variance / 2)) \
            if variance > 0 else mean


class ApplicabilityDomain(BaseEstimator):
    """PCA domain of calibration spectra with Hotelling T2 and Q residual limits.

    Parameters
    ----------
    preprocessing : PreprocessingSpec or str, default="raw"
        Applied before the PCA, fitted on the calibration spectra: a spec, or a route name of
        :func:`spectune.preprocess.make_route` (e.g. the linear baseline's chosen route).
    confidence : float, default=0.99
        Confidence level of both limits.
    explained_variance : float, default=0.99
        Cumulative explained variance that chooses the number of components.
    max_components : int, default=20
        Most components.
    cv : int, default=10
        Folds of the out-of-fold Q values (at most one per spectrum).
    random_state : int or None, default=0
        Seed of the folds.

    Attributes
    ----------
    preprocessing_ : PreprocessingSpec
    transformer_ : fitted preprocessing
    in_shape_ : (channels, points) of the spectra ``fit`` saw; ``score`` wants the same.
    n_samples_, n_components_ : int
    pca_ : sklearn.decomposition.PCA (mean-centred, not scaled)
    t2_, q_ : fitted chemotools detectors; ``t2_limit_``, ``q_limit_`` their limits.
    cv_q_ : ndarray
        Out-of-fold Q of the calibration spectra (not kept in a model folder).

    Examples
    --------
    >>> import numpy as np
    >>> from spectune.data import make_synthetic
    >>> X = make_synthetic(40, 100, random_state=0)[0].flat_X()
    >>> domain = ApplicabilityDomain("snv").fit(X[:30])
    >>> band = 0.3 * np.exp(-0.5 * ((np.arange(100) - 35) / 2) ** 2)  # new to the domain
    >>> domain.score(np.vstack([X[30:33], X[30:31] + band])).in_domain
    array([ True,  True,  True, False])
    """

    def __init__(
        self,
        preprocessing: PreprocessingSpec | str = "raw",
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        explained_variance: float = 0.99,
        max_components: int = 20,
        cv: int = 10,
        random_state: int | None = 0,
    ) -> None:
        self.preprocessing = preprocessing
        self.confidence = confidence
        self.explained_variance = explained_variance
        self.max_components = max_components
        self.cv = cv
        self.random_state = random_state

    @threadpool_limits.wrap(limits=1, user_api="blas")  # 12 PCA fits: 100x faster so
    def fit(self, X: npt.ArrayLike, y: Any = None) -> ApplicabilityDomain:
        """Fit the preprocessing, the PCA and both limits on calibration spectra ``X``."""
        self._check_params()
        spec = self.preprocessing
        if isinstance(spec, str):
            spec = PreprocessingSpec((spec,), standardise=False)
        X, self.in_shape_ = _layout(X)
        if len(X) < 3:
            raise DataError(f"the applicability domain needs at least 3 calibration spectra; "
                            f"got {len(X)}.")
        self.preprocessing_ = spec
        self.transformer_ = spec.build().fit(X)
        Z = self._features(X)
        self.n_samples_ = len(Z)
        self.n_components_ = self._n_components(Z)
        self.pca_ = PCA(self.n_components_, svd_solver="full").fit(Z)
        self.t2_ = HotellingT2(self.pca_, confidence=self.confidence).fit(Z)
        self.q_ = _CrossValidatedQResiduals(self.pca_, self.confidence, cv=self.cv,
                                            random_state=self.random_state).fit(Z)
        self.cv_q_ = self.q_.cv_q_
        return self

    @property
    def t2_limit_(self) -> float:
        return float(self.t2_.critical_value_)

    @property
    def q_limit_(self) -> float:
        return float(self.q_.critical_value_)

    def score(self, X: npt.ArrayLike, y: Any = None) -> DomainScores:  # type: ignore[override]
        """T2, Q and the in-domain flag of each spectrum of ``X`` (the calibration layout)."""
        check_is_fitted(self, "pca_")
        X, shape = _layout(X)
        if shape != self.in_shape_:
            raise DataError(
                f"spectra of {shape[0]} channel(s) x {shape[1]} points; the applicability "
                f"domain was fitted on {self.in_shape_[0]} x {self.in_shape_[1]}: align them "
                "to the model's grid first."
            )
        Z = self._features(X)
        t2 = self.t2_.predict_residuals(Z, validate=False)
        q = self.q_.predict_residuals(Z, validate=False)
        inside = (t2 <= self.t2_limit_) & (q <= self.q_limit_)
        return DomainScores(t2, q, inside)

    def summary(self, X: npt.ArrayLike) -> dict[str, Any]:
        """How many spectra of ``X`` lie outside, and the limits: a metrics.json entry."""
        scores = self.score(X)
        n, outside = len(scores.t2), int((~scores.in_domain).sum())
        return {
            "n": n,
            "n_outside": outside,
            "fraction_outside": outside / n if n else 0.0,
            "n_outside_t2": int((scores.t2 > self.t2_limit_).sum()),
            "n_outside_q": int((scores.q > self.q_limit_).sum()),
            "confidence": float(self.confidence),
            "t2_limit": self.t2_limit_,
            "q_limit": self.q_limit_,
            "n_components": int(self.n_components_),
            "preprocessing": self.preprocessing_.name,
        }

    def _features(self, X: np.ndarray) -> np.ndarray:
        """Preprocessed spectra, channels side by side: ``[n, features]`` float64."""
        Z = np.asarray(self.transformer_.transform(X), dtype=np.float64)
        return Z.reshape(len(Z), -1)

    def _n_components(self, Z: np.ndarray) -> int:
        """Fewest components reaching ``explained_variance``, within the caps (docstring)."""
        if not np.isfinite(Z).all() or not Z.var(axis=0).sum() > 0:
            raise DataError("the calibration spectra do not vary after preprocessing "
                            f"{self.preprocessing_.name}; a domain needs spectra that differ.")
        cumulative = np.cumsum(PCA(svd_solver="full").fit(Z).explained_variance_ratio_)
        wanted = int(np.searchsorted(cumulative, self.explained_variance)) + 1
        n, n_folds = len(Z), min(self.cv, len(Z))
        smallest_fold = n - int(np.ceil(n / n_folds))
        return max(1, min(wanted, self.max_components, Z.shape[1] - 1, smallest_fold - 1))

    def _check_params(self) -> None:
        for name, top in (("confidence", ")"), ("explained_variance", "]")):
            value = getattr(self, name)
            real = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not real or not (0 < value < 1 or (top == "]" and value == 1)):
                raise ValueError(f"{name} must lie in (0, 1{top}; got {name}={value!r}.")
        for name, low in (("max_components", 1), ("cv", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {name}={value!r}.")


def _layout(X: npt.ArrayLike) -> tuple[np.ndarray, tuple[int, int]]:
    """Spectra as the preprocessing takes them (2-D for one channel) and (channels, points)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        return X, (1, X.shape[1])
    if X.ndim == 3:
        return (X[:, 0, :] if X.shape[1] == 1 else X), (X.shape[1], X.shape[2])
    raise DataError(f"spectra must have shape (n, points) or (n, channels, points); got "
                    f"{X.ndim} dimensions.")


def outside_warning(summary: dict[str, Any], *, above: float = DOMAIN_WARNING,
                    what: str = "spectra") -> str | None:
    """One console line when more than ``above`` of the spectra in a :meth:`summary` lie
    outside the domain, else None."""
    n, outside = summary["n"], summary["n_outside"]
    if outside <= above * n:
        return None
    return (f"{outside} of {n} {what} ({outside / n:.0%}) lie outside the calibration domain "
            f"(Hotelling T2 or Q above their {summary['confidence']:.0%} limits): predictions "
            "for them extrapolate.")


def write_domain(folder: str | Path, domain: ApplicabilityDomain | None,
                 in_shape: tuple[int, int] | None = None) -> None:
    """Write ``domain.json`` and ``domain.safetensors`` into ``folder``; ``None`` removes them.

    ``in_shape``: the (channels, points) of the model the domain belongs to, checked.
    """
    folder = Path(folder)
    if domain is None:
        for name in (JSON_NAME, TENSORS_NAME):
            (folder / name).unlink(missing_ok=True)
        return
    check_is_fitted(domain, "pca_")
    if in_shape is not None and tuple(in_shape) != domain.in_shape_:
        raise ValueError(f"the domain was fitted on spectra of {domain.in_shape_} (channels, "
                         f"points) but the model takes {tuple(in_shape)}.")
    pca = domain.pca_
    tensors = {f"pre.{k}": np.ascontiguousarray(v)
               for k, v in fitted_arrays(domain.transformer_).items()}
    tensors.update({"pca.mean": pca.mean_, "pca.components": pca.components_,
                    "pca.explained_variance": pca.explained_variance_})
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "preprocessing": domain.preprocessing_.to_dict(),
        **{name: getattr(domain, name) for name in _PARAMS},
        "in_shape": list(domain.in_shape_), "n_samples": int(domain.n_samples_),
        "n_components": int(domain.n_components_),
        "t2_limit": domain.t2_limit_, "q_limit": domain.q_limit_,
        "tensors": {name: list(array.shape) for name, array in tensors.items()},
    }
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
              str(folder / TENSORS_NAME))
    (folder / JSON_NAME).write_text(json.dumps(meta, indent=1) + "\n")


def read_domain(folder: str | Path,
                in_shape: tuple[int, int] | None = None) -> ApplicabilityDomain | None:
    """The domain stored in ``folder`` (None when it has none); runs no code from the files.

    A damaged domain, or one fitted on spectra of another shape than ``in_shape``, is refused
    with a one-line :class:`~spectune.exceptions.ModelFileError`.
    """
    folder = Path(folder)
    present = [(folder / name).exists() for name in (JSON_NAME, TENSORS_NAME)]
    if not any(present):
        return None
    try:
        if not all(present):
            raise ValueError(f"{JSON_NAME} and {TENSORS_NAME} come together; one is missing")
        meta = json.loads((folder / JSON_NAME).read_text())
        tensors = load_file(str(folder / TENSORS_NAME))
        return _restore(meta, tensors, in_shape)
    except (ValueError, KeyError, TypeError, SafetensorError, ModelFileError) as error:
        reason = " ".join(str(error).split())
        raise ModelFileError(f"{folder}: the applicability domain ({JSON_NAME}) cannot be "
                             f"read: {reason}; the folder is damaged or was edited.") from None


def _restore(meta: dict[str, Any], tensors: dict[str, np.ndarray],
             in_shape: tuple[int, int] | None) -> ApplicabilityDomain:
    if (meta.get("format"), meta.get("format_version")) != (FORMAT, FORMAT_VERSION):
        raise ValueError(f"format {meta.get('format')!r} version {meta.get('format_version')!r}"
                         f", expected {FORMAT!r} version {FORMAT_VERSION}")
    shapes = {name: list(array.shape) for name, array in tensors.items()}
    if shapes != meta["tensors"]:
        raise ValueError(f"the tensors {shapes} differ from those described {meta['tensors']}")
    channels, points = (int(v) for v in meta["in_shape"])
    if in_shape is not None and (channels, points) != tuple(in_shape):
        raise ValueError(f"it was fitted on spectra of {channels} x {points} but the model "
                         f"takes {in_shape[0]} x {in_shape[1]}")
    spec = PreprocessingSpec.from_dict(meta["preprocessing"])
    limits = float(meta["t2_limit"]), float(meta["q_limit"])
    if not all(np.isfinite(limit) and limit >= 0 for limit in limits):
        raise ValueError(f"limits {limits} must be finite and >= 0")
    n, k = int(meta["n_samples"]), int(meta["n_components"])
    pca = PCA(k, svd_solver="full")
    pca.mean_, pca.components_ = tensors["pca.mean"], tensors["pca.components"]
    pca.explained_variance_ = tensors["pca.explained_variance"]
    p = int(np.prod(spec.output_shape(channels, points)))
    shapes = pca.mean_.shape, pca.components_.shape, pca.explained_variance_.shape
    if shapes != ((p,), (k, p), (k,)):
        raise ValueError(f"PCA arrays of shapes {shapes} for {k} components of {p} features")
    pca.n_components_, pca.n_features_in_, pca.n_samples_ = k, p, n
    domain = ApplicabilityDomain(spec, **{name: meta[name] for name in _PARAMS})
    domain._check_params()
    pre = {name[4:]: array for name, array in tensors.items() if name.startswith("pre.")}
    domain.preprocessing_ = spec
    domain.transformer_ = restore_fitted_arrays(spec, pre, channels, points)
    domain.in_shape_, domain.n_samples_, domain.n_components_ = (channels, points), n, k
    domain.pca_ = pca
    domain.t2_ = _restored(HotellingT2(pca, confidence=domain.confidence), limits[0])
    domain.q_ = _restored(_CrossValidatedQResiduals(pca, domain.confidence, cv=domain.cv,
                                                    random_state=domain.random_state), limits[1])
    return domain


def _restored(detector: Any, limit: float) -> Any:
    """A chemotools detector in the state ``fit`` leaves it in, from stored numbers."""
    pca = detector.model
    detector.estimator_, detector.transformer_ = pca, None
    detector.n_features_in_, detector.n_components_ = pca.n_features_in_, pca.n_components_
    detector.n_samples_, detector.confidence_ = pca.n_samples_, detector.confidence
    detector.critical_value_ = limit
    return detector
