"""StackRoutes: routes as channels, names, calibration-only fitting, shape errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import FunctionTransformer

from spectune.exceptions import DataError
from spectune.preprocess import (
    Absorbance,
    ColumnStandardizer,
    Identity,
    SavitzkyGolay,
    StackRoutes,
    make_route,
)


def _routes() -> list[tuple[str, object]]:
    return [("refl", Identity()), ("abs", Absorbance()), ("abs+sg1", make_route("abs+sg1"))]


def test_2d_input_gives_one_channel_per_route(calibration, test_spectra) -> None:
    stack = StackRoutes(_routes()).fit(calibration)
    out = stack.transform(test_spectra)
    assert out.shape == (10, 3, 64)
    assert stack.route_names_ == stack.channel_names_ == ["refl", "abs", "abs+sg1"]
    np.testing.assert_array_equal(out[:, 0], test_spectra)
    np.testing.assert_allclose(out[:, 1], -np.log10(test_spectra))
    np.testing.assert_allclose(
        out[:, 2], SavitzkyGolay(deriv=1).fit_transform(-np.log10(test_spectra))
    )


def test_3d_input_stacks_route_by_route(spectra3d) -> None:
    stack = StackRoutes(_routes()[:2]).fit(spectra3d)
    out = stack.transform(spectra3d)
    assert out.shape == (20, 6, 48)
    assert stack.channel_names_ == ["refl/0", "refl/1", "refl/2", "abs/0", "abs/1", "abs/2"]
    np.testing.assert_allclose(out[:, 3:], -np.log10(spectra3d))


def test_fitted_on_calibration_only(calibration, test_spectra) -> None:
    stack = StackRoutes([("std", ColumnStandardizer())]).fit(calibration)
    mean = stack.routes_[0][1].mean_.copy()
    out = stack.transform(test_spectra)
    np.testing.assert_array_equal(stack.routes_[0][1].mean_, mean)
    expected = (test_spectra - calibration.mean(axis=0)) / calibration.std(axis=0)
    np.testing.assert_allclose(out[:, 0], expected)


def test_routes_must_keep_the_points(calibration) -> None:
    crop = FunctionTransformer(lambda X: X[:, 2:])
    with pytest.raises(
        DataError,
        match=r"route 'crop' returns shape \(30, 62\) but route 'refl' returns \(30, 64\)",
    ):
        StackRoutes([("refl", Identity()), ("crop", crop)]).fit(calibration)


def test_no_flat_feature_names() -> None:
    assert not hasattr(StackRoutes(_routes()), "get_feature_names_out")
