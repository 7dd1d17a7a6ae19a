"""Contract of every preprocessing transformer: scikit-learn's checks, 2-D/3-D, dtype, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from spectune import preprocess
from spectune.exceptions import DataError, NotFittedError
from spectune.preprocess import (
    Absorbance,
    BaselineCorrection,
    ColumnStandardizer,
    ConcatenateRoutes,
    Detrend,
    Identity,
    MultiplicativeScatterCorrection,
    SavitzkyGolay,
    StackRoutes,
    StandardNormalVariate,
    make_route,
)

# Instances for scikit-learn's checks. Their data are as short as 2 points, so the baseline
# methods run at difference/polynomial order 1 (2 points suffice); the defaults are covered by
# the numeric tests in each module.
CHECKED = [
    Identity(),
    Absorbance(),
    StandardNormalVariate(),
    MultiplicativeScatterCorrection(),
    SavitzkyGolay(3, polyorder=1, deriv=1),
    SavitzkyGolay(3, polyorder=2, deriv=2, mode="nearest"),
    Detrend(),
    Detrend(order=0),
    BaselineCorrection("asls", params={"diff_order": 1}),
    BaselineCorrection("arpls", params={"diff_order": 1}),
    BaselineCorrection("airpls", params={"diff_order": 1}),
    BaselineCorrection("modpoly", params={"poly_order": 1}),
    ColumnStandardizer(),
    ConcatenateRoutes([("raw", Identity()), ("snv", StandardNormalVariate())]),
    StackRoutes([("raw", Identity()), ("snv", StandardNormalVariate())]),
]

# sklearn makes data "positive" as X - X.min(), which holds an exact 0; Absorbance refuses
# R <= 0 by design (log10(1/0) is infinite), so these checks cannot pass on that data. The same
# contract is tested below on strictly positive spectra.
_ZERO_IN_DATA = "sklearn's positive_only data (X - X.min()) contain 0, which Absorbance refuses"
_ABSORBANCE_XFAIL = {
    name: _ZERO_IN_DATA
    for name in (
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    )
}
# These checks use 2-point spectra, shorter than a 3-point window: refused by design.
_SHORT_FOR_WINDOW = "the check's data have 2 points, fewer than window_length=3"
_SAVGOL_XFAIL = {
    name: _SHORT_FOR_WINDOW
    for name in (
        "check_estimators_overwrite_params",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
    )
}


def _expected_failures(estimator: object) -> dict[str, str]:
    if isinstance(estimator, Absorbance):
        return _ABSORBANCE_XFAIL
    if isinstance(estimator, SavitzkyGolay):
        return _SAVGOL_XFAIL
    return {}


@pytest.mark.filterwarnings("ignore::pybaselines.utils.ParameterWarning")
@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures, xfail_strict=True)
def test_sklearn_compatible(estimator, check) -> None:
    check(estimator)


def test_all_names_resolve() -> None:
    for name in preprocess.__all__:
        assert getattr(preprocess, name) is not None, name
    assert sorted(preprocess.__all__) == preprocess.__all__


# Default instances (and one route) for the contract tests on real-looking positive spectra.
DEFAULTS = [
    Identity(),
    Absorbance(),
    StandardNormalVariate(),
    MultiplicativeScatterCorrection(),
    SavitzkyGolay(),
    SavitzkyGolay(deriv=1),
    Detrend(order=2),
    BaselineCorrection("arpls"),
    ColumnStandardizer(),
    make_route("abs+snv+sg1"),
]
IDS = [repr(est).replace("\n", "") for est in DEFAULTS]


@pytest.mark.parametrize("estimator", DEFAULTS, ids=IDS)
def test_3d_equals_each_channel_in_2d(estimator, spectra3d) -> None:
    out = clone(estimator).fit(spectra3d).transform(spectra3d[:5])
    assert out.shape == (5, *spectra3d.shape[1:])
    for channel in range(spectra3d.shape[1]):
        per_channel = clone(estimator).fit(spectra3d[:, channel]).transform(spectra3d[:5, channel])
        np.testing.assert_allclose(out[:, channel], per_channel, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("estimator", DEFAULTS, ids=IDS)
def test_float32_in_float32_out(estimator, calibration) -> None:
    X32 = calibration.astype(np.float32)
    out = clone(estimator).fit_transform(X32)
    assert out.dtype == np.float32
    reference = clone(estimator).fit_transform(calibration)
    np.testing.assert_allclose(out, reference, rtol=1e-3, atol=1e-3 * np.abs(reference).max())


@pytest.mark.parametrize("estimator", DEFAULTS[:-1], ids=IDS[:-1])
def test_contract_on_positive_spectra(estimator, calibration, test_spectra) -> None:
    # What sklearn's checks cannot show for Absorbance: shape kept, pickling, refit, errors.
    fresh = clone(estimator)
    with pytest.raises(NotFittedError, match="not fitted"):
        fresh.transform(test_spectra)
    fitted = fresh.fit(calibration)
    out = fitted.transform(test_spectra)
    assert out.shape == test_spectra.shape
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(test_spectra), out)
    np.testing.assert_array_equal(clone(estimator).fit(calibration).transform(test_spectra), out)
    with pytest.raises(ValueError, match="X has 63 features"):
        fitted.transform(test_spectra[:, :63])
    bad = test_spectra.copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.transform(bad)
    with pytest.raises(DataError, match=r"fitted on spectra \[n, 64\] but got \[n, 1, 64\]"):
        fitted.transform(test_spectra[:, None, :])


def test_2d_fit_refuses_3d_and_back(spectra3d) -> None:
    snv = StandardNormalVariate().fit(spectra3d)
    assert (snv.n_channels_in_, snv.n_points_in_, snv.n_features_in_) == (3, 48, 144)
    with pytest.raises(
        DataError, match=r"fitted on 3-D spectra \[n, 3, 48\] but got an array of 2"
    ):
        snv.transform(spectra3d[:, 0])
    with pytest.raises(DataError, match=r"fitted on spectra \[n, 3, 48\] but got \[n, 2, 48\]"):
        snv.transform(spectra3d[:, :2])
    refit = snv.fit(spectra3d[:, 0])
    assert (refit.n_channels_in_, refit.n_features_in_) == (None, 48)


def test_one_dimensional_input_is_refused() -> None:
    with pytest.raises(ValueError, match="Expected 2D array"):
        StandardNormalVariate().fit(np.ones(10))


def test_too_short_spectra_name_the_parameter() -> None:
    with pytest.raises(
        DataError, match=r"at least 11 points but got 5 feature\(s\).*window_length=11"
    ):
        SavitzkyGolay().fit(np.ones((3, 5)))
