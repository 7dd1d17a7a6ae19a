"""ConcatenateRoutes: shapes, segments, names, fitting on calibration data only, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import FunctionTransformer

from spectune.exceptions import DataError
from spectune.preprocess import (
    ColumnStandardizer,
    ConcatenateRoutes,
    Identity,
    MultiplicativeScatterCorrection,
    SavitzkyGolay,
    StandardNormalVariate,
)


def _routes() -> list[tuple[str, object]]:
    return [
        ("raw", Identity()),
        ("snv", StandardNormalVariate()),
        ("sg1", SavitzkyGolay(deriv=1)),
        ("msc", MultiplicativeScatterCorrection()),
    ]


def test_outputs_side_by_side_with_segments(calibration, test_spectra) -> None:
    union = ConcatenateRoutes(_routes()).fit(calibration)
    out = union.transform(test_spectra)
    assert out.shape == (10, 4 * 64)
    assert union.route_names_ == ["raw", "snv", "sg1", "msc"]
    assert union.segments_ == [
        ("raw", 0, 64),
        ("snv", 64, 128),
        ("sg1", 128, 192),
        ("msc", 192, 256),
    ]
    for (name, route), (_, start, stop) in zip(_routes(), union.segments_, strict=True):
        np.testing.assert_allclose(
            out[:, start:stop], route.fit(calibration).transform(test_spectra), err_msg=name
        )


def test_routes_are_cloned_and_fitted_on_calibration_only(calibration, test_spectra) -> None:
    routes = _routes()
    union = ConcatenateRoutes(routes).fit(calibration)
    assert not hasattr(routes[3][1], "reference_")  # the given routes stay unfitted
    msc = union.routes_[3][1]
    np.testing.assert_allclose(msc.reference_, calibration.mean(axis=0))
    union.transform(test_spectra)
    np.testing.assert_allclose(msc.reference_, calibration.mean(axis=0))
    np.testing.assert_allclose(
        union.fit_transform(calibration), union.fit(calibration).transform(calibration)
    )


def test_3d_concatenates_along_points(spectra3d) -> None:
    union = ConcatenateRoutes(_routes()[:2]).fit(spectra3d)
    out = union.transform(spectra3d)
    assert out.shape == (20, 3, 96)
    np.testing.assert_array_equal(out[:, :, :48], spectra3d)
    assert union.segments_ == [("raw", 0, 48), ("snv", 48, 96)]
    with pytest.raises(ValueError, match=r"fitted on 3-D spectra.*use segments_"):
        union.get_feature_names_out()


def test_feature_names_follow_the_routes(calibration) -> None:
    columns = [f"{w:.0f}" for w in np.linspace(1100, 2500, 64)]
    union = ConcatenateRoutes(_routes()[:2]).fit(pd.DataFrame(calibration, columns=columns))
    names = union.get_feature_names_out()
    assert list(names[:2]) == ["raw__1100", "raw__1122"]
    assert names[64] == "snv__1100" and len(names) == 128


def test_then_standardised_with_calibration_statistics(calibration, test_spectra) -> None:
    # Passos & Mishra: concatenate, then standardise column-wise on the calibration set.
    union = ConcatenateRoutes(_routes()[:2]).fit(calibration)
    scaler = ColumnStandardizer().fit(union.transform(calibration))
    cal_out = union.transform(calibration)
    expected = (union.transform(test_spectra) - cal_out.mean(axis=0)) / cal_out.std(axis=0)
    np.testing.assert_allclose(scaler.transform(union.transform(test_spectra)), expected)


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([], r"'routes' parameter of ConcatenateRoutes must be a non-empty list"),
        ("snv", r"must be a non-empty list of \(name, transformer\) pairs"),
        ([("snv", StandardNormalVariate(), 1)], r"pairs.*got \('snv'"),
        ([(1, StandardNormalVariate())], r"pairs.*got \(1,"),
        ([("snv", "snv")], r"pairs.*got \('snv', 'snv'\)\. Use make_route\(name\)"),
        ([("a", Identity()), ("a", Identity())], r"unique str names; got \['a', 'a'\]\. Rename"),
    ],
)
def test_bad_routes(routes, message, calibration) -> None:
    with pytest.raises(ValueError, match=message):
        ConcatenateRoutes(routes).fit(calibration)


def test_misaligned_route_is_refused(calibration) -> None:
    drop_rows = FunctionTransformer(lambda X: X[1:])
    with pytest.raises(
        DataError, match=r"route 'bad' returns shape \(29, 64\) but route 'raw' returns \(30, 64\)"
    ):
        ConcatenateRoutes([("raw", Identity()), ("bad", drop_rows)]).fit(calibration)
