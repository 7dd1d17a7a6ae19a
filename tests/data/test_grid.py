"""Grid alignment: same grid passes, another grid is refused or interpolated with np.interp."""

from __future__ import annotations

import numpy as np
import pytest

from spectune.data import Spectra, align_to_grid, parse_range
from spectune.exceptions import GridMismatchError

TRAIN = np.linspace(1000.0, 1100.0, 51)


def spectra_on(grid: np.ndarray, n: int = 4, channels: int = 1) -> Spectra:
    rng = np.random.default_rng(3)
    X = np.sin(grid / 7.0)[None, None, :] + rng.normal(0, 0.1, (n, channels, grid.size))
    return Spectra(X, grid, source="new.csv")


def test_identical_grid_is_unchanged() -> None:
    spectra = spectra_on(TRAIN)
    assert align_to_grid(spectra, TRAIN) is spectra


def test_grid_equal_up_to_float_noise_takes_training_values() -> None:
    spectra = spectra_on(TRAIN * (1 + 1e-12))
    aligned = align_to_grid(spectra, TRAIN)
    np.testing.assert_array_equal(aligned.wavelengths, TRAIN)
    np.testing.assert_array_equal(aligned.X, spectra.X)


def test_other_grid_is_refused_with_both_grids_described() -> None:
    other = np.linspace(990.0, 1105.0, 40)
    with pytest.raises(GridMismatchError, match=r"new\.csv: the model was trained on 51 points "
                                                r"1000-1100; this file has 40 points 990-1105; "
                                                r"pass --resample"):
        align_to_grid(spectra_on(other), TRAIN)


@pytest.mark.parametrize("descending", [False, True])
def test_resample_matches_np_interp(descending: bool) -> None:
    other = np.linspace(990.0, 1105.0, 40)
    other = other[::-1] if descending else other
    spectra = spectra_on(other, channels=2)
    aligned = align_to_grid(spectra, TRAIN, resample=True)
    order = np.argsort(other)
    for i in range(spectra.n_samples):
        for c in range(2):
            expected = np.interp(TRAIN, other[order], spectra.X[i, c, order].astype(np.float64))
            np.testing.assert_allclose(aligned.X[i, c], expected, rtol=1e-6)
    np.testing.assert_array_equal(aligned.wavelengths, TRAIN)
    assert aligned.X.shape == (4, 2, TRAIN.size)


def test_resample_never_extrapolates() -> None:
    narrow = np.linspace(1010.0, 1100.0, 30)
    with pytest.raises(GridMismatchError, match=r"cannot resample: the training grid spans "
                                                r"1000-1100 but this data only 1010-1100"):
        align_to_grid(spectra_on(narrow), TRAIN, resample=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("950:1550", (950.0, 1550.0)), (" 1550 : 950 ", (950.0, 1550.0)), ("950:", (950.0, np.inf)),
     (":1e3", (-np.inf, 1000.0)), (":", (-np.inf, np.inf)), ("-5.5:2", (-5.5, 2.0))],
)
def test_parse_range(text: str, expected: tuple[float, float]) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [("950-1550", r"LOW:HIGH .*got '950-1550'"), ("1:2:3", r"one ':'"),
     ("a:1550", r"'a' is not a number"), ("950:950", r"range '950:950' is empty"),
     ("nan:5", r"is empty")],
)
def test_parse_range_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_range(text)


@pytest.mark.parametrize("descending", [False, True])
def test_training_range_cut_from_this_grid_selects_points(descending: bool) -> None:
    full = np.linspace(900.0, 1200.0, 151)  # TRAIN is every point of full in 1000..1100
    full = full[::-1] if descending else full
    spectra = spectra_on(full)
    aligned = align_to_grid(spectra, TRAIN)
    keep = [int(np.argmin(np.abs(full - w))) for w in TRAIN]
    np.testing.assert_array_equal(aligned.X, spectra.X[:, :, keep])
    np.testing.assert_array_equal(aligned.wavelengths, TRAIN)
    cut = spectra.select_range(1000, 1100).X  # what --range did to the training data
    np.testing.assert_array_equal(cut[:, :, ::-1] if descending else cut, aligned.X)
