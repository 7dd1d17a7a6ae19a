"""Absorbance: log10(1/R) against NumPy, and the refusal of R <= 0 with its position."""

from __future__ import annotations

import numpy as np
import pytest

from spectune.exceptions import DataError
from spectune.preprocess import Absorbance


def test_equals_minus_log10(calibration) -> None:
    np.testing.assert_allclose(Absorbance().fit_transform(calibration), -np.log10(calibration))


def test_round_trip_to_reflectance(calibration) -> None:
    np.testing.assert_allclose(10 ** -Absorbance().fit_transform(calibration), calibration)


@pytest.mark.parametrize(
    ("value", "kind"), [(0.0, "Zero"), (-0.02, "Negative")], ids=["zero", "negative"]
)
def test_non_positive_named_by_row_and_column(calibration, value, kind) -> None:
    bad = calibration.copy()
    bad[4, 17] = value
    bad[9, 2] = value  # a later offender: the first one is named
    message = rf"{kind} values in data.*row 4, column 17 holds {value:g}.*already be absorbance"
    with pytest.raises(DataError, match=message):
        Absorbance().fit(calibration).transform(bad)
    with pytest.raises(DataError, match=message):
        Absorbance().fit(bad)


def test_3d_names_the_channel(spectra3d) -> None:
    bad = spectra3d.copy()
    bad[1, 2, 30] = 0.0
    with pytest.raises(DataError, match=r"row 1, channel 2, column 30 holds 0"):
        Absorbance().fit_transform(bad)
