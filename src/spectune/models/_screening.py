"""Optional screening of calibration outliers, decided on calibration data only.

Off by default: a flagged spectrum may be the most informative one, so spectune reports what it
would leave out and the user decides. Two rules, each at ``confidence`` (default 0.999):

- Spectra: an :class:`~spectune.models.ApplicabilityDomain` fitted on the calibration spectra
  flags a spectrum whose Hotelling T2 lies above its F limit, or whose out-of-fold Q (from a PCA
  fitted without it) lies above a *robust* limit: ``(median + z * MAD)**3`` of the cube roots of
  the out-of-fold Q values (Wilson-Hilferty; Hubert, Rousseeuw & Vanden Branden 2005), with
  ``z`` the one-sided normal quantile. The domain's own Q limit, matched to the mean and
  variance of the Q values, would let one gross outlier raise the limit above itself. One pass:
  a gross outlier can still turn a principal component towards itself and hide milder ones
  (screen again without it); refitting until nothing new is flagged peels heavy-tailed real data
  away (75 of spectrapepper's 196 spectra).
- Targets (regression, when ``y`` is given): PLS on the same route with its latent variables
  chosen by cross-validation (:class:`~spectune.models.PLSRegressionCV`); a sample is flagged when
  the robust z-score (median and MAD) of its out-of-fold residual exceeds the two-sided normal
  quantile (3.29 at 0.999) for any target: a reference value the spectra cannot explain.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats
from threadpoolctl import threadpool_limits

from spectune.models._domain import ApplicabilityDomain
from spectune.models._pls_cv import PLSRegressionCV

__all__ = ["screen_outliers"]

#: Screening confidence: only what the calibration spectra make very unlikely is flagged.
SCREEN_CONFIDENCE = 0.999
_MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation


@threadpool_limits.wrap(limits=1, user_api="blas")  # many small fits: see fit_baselines
def screen_outliers(
    X: npt.ArrayLike,
    y: npt.ArrayLike | None = None,
    *,
    preprocessing: str = "snv",
    confidence: float = SCREEN_CONFIDENCE,
    cv: int = 5,
    max_components: int = 20,
    random_state: int | None = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Flag calibration outliers of spectra ``X`` (and numeric targets ``y``).

    Parameters
    ----------
    X : array of shape (n, points) or (n, channels, points)
        Calibration spectra only.
    y : array of shape (n,) or (n, n_targets), optional
        Regression targets; without them only the spectral rule runs.
    preprocessing : str
        Route of the PCA and the PLS (``spectune.preprocess.make_route`` names); SNV by
        default, so that a mere change of scatter is not called an outlier.
    confidence, cv, max_components, random_state
        Level of every rule; folds of the PLS cross-validation, its largest number of latent
        variables, and the seed of all folds.

    Returns
    -------
    outliers : ndarray of bool, shape (n,)
        True for a flagged sample.
    report : dict
        ``{"n", "n_outliers", "outliers" (positions), "confidence", "preprocessing",
        "rules": {"t2": {"limit", "flagged"}, "q": {"limit", "flagged"},
        "y_residual": {"limit", "n_components", "flagged"} (with y)}}``; limits of the
        residual rule are robust z-scores, ``flagged`` lists positions.
    """
    X = np.asarray(X, dtype=np.float64)
    rules = _spectral_rules(X, preprocessing, confidence, random_state)
    if y is not None:
        Y = np.asarray(y)
        if Y.dtype.kind not in "fiu" or len(Y) != len(X):
            raise ValueError(f"y must hold one number per spectrum (regression targets; None for "
                             f"classes); got {Y.dtype} of length {len(Y)} for {len(X)} spectra.")
        Y = Y.astype(np.float64)
        pls = PLSRegressionCV(max_components, routes=[preprocessing], cv=cv,
                              random_state=random_state)
        pls.fit(X.reshape(len(Y), -1), Y)
        residuals = (Y - pls.cv_predictions_).reshape(len(Y), -1)
        z_limit = float(stats.norm.ppf(0.5 + confidence / 2))
        beyond = np.zeros(len(Y), dtype=bool)
        for r in residuals.T:
            centre, spread = _robust_centre_and_sd(r)
            beyond |= np.abs(r - centre) / spread > z_limit
        rules["y_residual"] = {**_rule(beyond, z_limit), "n_components": int(pls.n_components_)}
    outliers = np.zeros(len(X), dtype=bool)
    for rule in rules.values():
        outliers[rule["flagged"]] = True
    report = {
        "n": len(outliers), "n_outliers": int(outliers.sum()),
        "outliers": np.flatnonzero(outliers).tolist(), "confidence": float(confidence),
        "preprocessing": preprocessing, "rules": rules,
    }
    return outliers, report


def _spectral_rules(X: np.ndarray, preprocessing: str, confidence: float,
                    random_state: int | None) -> dict[str, dict[str, Any]]:
    """T2 above the F limit, out-of-fold Q above the robust limit."""
    domain = ApplicabilityDomain(preprocessing, confidence=confidence,
                                 random_state=random_state).fit(X)
    centre, spread = _robust_centre_and_sd(np.cbrt(domain.cv_q_))
    q_limit = float((centre + stats.norm.ppf(confidence) * spread) ** 3)
    return {"t2": _rule(domain.score(X).t2 > domain.t2_limit_, domain.t2_limit_),
            "q": _rule(domain.cv_q_ > q_limit, q_limit)}


def _rule(flagged: np.ndarray, limit: float) -> dict[str, Any]:
    return {"limit": float(limit), "flagged": np.flatnonzero(flagged).tolist()}


def _robust_centre_and_sd(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based standard deviation (the standard deviation if the MAD is 0)."""
    centre = float(np.median(values))
    spread = _MAD_TO_SD * float(np.median(np.abs(values - centre)))
    return centre, spread if spread > 0 else float(np.std(values)) or 1.0

