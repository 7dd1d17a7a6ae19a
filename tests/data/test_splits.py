"""Splits: partitions, sizes, seeds, Kennard-Stone against a hand computation, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
)

from spectune.data._spectra import Spectra
from spectune.data._splits import (
    SplitIndices,
    _farthest_pair,
    cv_splitter,
    kennard_stone,
    split_cal_tune,
    split_indices,
)
from spectune.exceptions import DataError


def _regression(n: int = 50, groups: np.ndarray | None = None) -> Spectra:
    rng = np.random.default_rng(1)
    return Spectra(rng.normal(size=(n, 30)), np.arange(30.0), rng.normal(size=n), groups=groups,
                   source="reg.csv")


def _classes(counts: tuple[int, ...] = (20, 15, 10)) -> Spectra:
    rng = np.random.default_rng(2)
    y = np.repeat(np.array(["a", "b", "c"][: len(counts)]), counts)
    return Spectra(rng.normal(size=(len(y), 12)), np.arange(12.0), y, source="cls.csv")


def _assert_partition(split: SplitIndices, n: int) -> None:
    parts = (split.cal, split.tune, split.test)
    for part in parts:
        assert np.issubdtype(part.dtype, np.integer)
        np.testing.assert_array_equal(part, np.sort(part))
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(n))


@pytest.mark.parametrize(
    ("data", "method"),
    [(_regression(), "random"), (_regression(), "kennard-stone"), (_classes(), "stratified"),
     (_regression(groups=np.repeat(np.arange(10), 5)), "group")],
)
def test_every_method_gives_a_seeded_partition(data: Spectra, method: str) -> None:
    split = split_indices(data, method=method, random_state=3)
    _assert_partition(split, data.n_samples)
    again = split_indices(data, method=method, random_state=3)
    for name in ("cal", "tune", "test"):
        np.testing.assert_array_equal(getattr(split, name), getattr(again, name))


def test_fraction_and_count_sizes() -> None:
    data = _regression(50)
    split = split_indices(data, method="random", test_size=0.2, tune_size=0.1, random_state=0)
    assert (len(split.cal), len(split.tune), len(split.test)) == (35, 5, 10)
    split = split_indices(data, method="random", test_size=7, tune_size=0, random_state=0)
    assert (len(split.cal), len(split.tune), len(split.test)) == (43, 0, 7)
    # 0.7 * 10 is 7.000000000000001 in floating point: still 7, not 8.
    split = split_indices(_regression(10), method="random", test_size=0.7, tune_size=0)
    assert len(split.test) == 7


def test_seeds_change_random_splits() -> None:
    data = _regression()
    a = split_indices(data, method="random", random_state=0)
    b = split_indices(data, method="random", random_state=1)
    assert not np.array_equal(a.test, b.test)


def test_split_cal_tune_leaves_test_empty() -> None:
    split = split_cal_tune(_regression(40), method="random", tune_size=0.25, random_state=0)
    assert (len(split.cal), len(split.tune), len(split.test)) == (30, 10, 0)


def _kennard_stone_by_hand(X: np.ndarray, k: int) -> list[int]:
    """Textbook loops on the full distance matrix."""
    n = len(X)
    d = np.array([[np.sqrt(((X[i] - X[j]) ** 2).sum()) for j in range(n)] for i in range(n)])
    i, j = np.unravel_index(np.argmax(d), d.shape)
    chosen = [min(i, j), max(i, j)]
    while len(chosen) < k:
        rest = [r for r in range(n) if r not in chosen]
        chosen.append(max(rest, key=lambda r: (min(d[r, c] for c in chosen), -r)))
    return [int(c) for c in chosen]


def test_kennard_stone_small_example() -> None:
    # Farthest pair (0, 10); then 3 (nearest selected at 3); then 1 and 2 tie at 1: lowest first.
    X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    np.testing.assert_array_equal(kennard_stone(X, 5), [0, 4, 3, 1, 2])


def test_kennard_stone_matches_hand_computation() -> None:
    X = np.random.default_rng(5).normal(size=(40, 6))
    np.testing.assert_array_equal(kennard_stone(X, 15), _kennard_stone_by_hand(X, 15))


def test_farthest_pair_in_chunks_equals_whole_matrix() -> None:
    X = np.random.default_rng(6).normal(size=(23, 4))
    d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=-1)
    i, j = np.unravel_index(np.argmax(d), d.shape)
    assert _farthest_pair(X, chunk=5) == (min(i, j), max(i, j))


def test_kennard_stone_split_takes_calibration_by_kennard_stone() -> None:
    data = _regression(50)
    flat = data.X.reshape(50, -1)
    for seed in (0, 1):
        split = split_indices(data, method="kennard-stone", test_size=0.2, tune_size=0.2,
                              random_state=seed)
        np.testing.assert_array_equal(split.cal, np.sort(kennard_stone(flat, 30)))
        assert (len(split.tune), len(split.test)) == (10, 10)


def test_kennard_stone_without_a_tuning_set_holds_out_what_it_leaves() -> None:
    """The command line's test split (no tuning set): the test set is every sample Kennard-Stone
    left out of calibration (it failed with a misleading "cannot stratify")."""
    data = _regression(50)
    split = split_indices(data, method="kennard-stone", test_size=0.2, tune_size=0,
                          random_state=0)
    cal = np.sort(kennard_stone(data.X.reshape(50, -1), 40))
    np.testing.assert_array_equal(split.cal, cal)
    np.testing.assert_array_equal(split.test, np.setdiff1d(np.arange(50), cal))
    assert split.tune.size == 0


def test_stratified_keeps_class_proportions() -> None:
    data = _classes((20, 15, 10))
    split = split_indices(data, method="stratified", test_size=0.2, tune_size=0.2, random_state=0)
    for label, count in zip("abc", (20, 15, 10), strict=True):
        for part in (split.test, split.tune):
            assert abs((data.y[part] == label).sum() - 0.2 * count) <= 1


def test_group_split_keeps_groups_together() -> None:
    groups = np.repeat(np.arange(10), 5)
    data = _regression(50, groups=groups)
    split = split_indices(data, method="group", test_size=0.2, tune_size=0.2, random_state=0)
    sides = [set(groups[p]) for p in (split.cal, split.tune, split.test)]
    assert [len(s) for s in sides] == [6, 2, 2]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


def test_auto_picks_group_then_stratified_then_random() -> None:
    grouped = _regression(50, groups=np.repeat(np.arange(10), 5))
    cases = ((grouped, "group"), (_classes(), "stratified"), (_regression(), "random"))
    for data, method in cases:
        auto = split_indices(data, random_state=4)
        explicit = split_indices(data, method=method, random_state=4)
        np.testing.assert_array_equal(auto.test, explicit.test)
        np.testing.assert_array_equal(auto.tune, explicit.tune)


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (_regression(21), dict(test_size=0.45, tune_size=0.45),
         r"reg\.csv: 21 samples cannot give a test set of 0\.45, a tuning set of 0\.45"),
        (_regression(), dict(method="group"), "needs sample groups"),
        (_regression(groups=np.zeros(50)), dict(method="group"), "at least 2 groups; got 1"),
        (_regression(), dict(method="stratified"), "needs class labels"),
        (_classes((20, 15, 1)), dict(method="stratified"), "class 'c' has 1 sample"),
        (_classes((20, 15, 10)), dict(method="stratified", test_size=2),
         "stratified test set of 2 .* cannot hold the 3 classes"),
    ],
)
def test_split_errors(data: Spectra, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        split_indices(data, random_state=0, **kwargs)


def test_split_leaving_a_class_out_of_calibration_is_refused() -> None:
    # Kennard-Stone takes the two extremes (classes a and b): class c would lack calibration.
    X = np.array([[0.0], [10.0], [5.0], [5.1], [4.9]])
    data = Spectra(X, [1.0], np.array(["a", "b", "c", "c", "c"]), source="ks.csv")
    with pytest.raises(DataError, match="leaves class 'c' out of the calibration set"):
        split_indices(data, method="kennard-stone", test_size=2, tune_size=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(method="nope"), "method must be one of"), (dict(test_size=1.5), "test_size"),
     (dict(tune_size=-1), "tune_size"), (dict(test_size="a"), "test_size")],
)
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_indices(_regression(), **kwargs)


def test_cv_splitter_types() -> None:
    grouped = _regression(50, groups=np.repeat(np.arange(10), 5))
    assert isinstance(cv_splitter(_regression()), KFold)
    assert isinstance(cv_splitter(_classes()), StratifiedKFold)
    assert isinstance(cv_splitter(grouped), GroupKFold)
    repeated = cv_splitter(_regression(), n_splits=4, n_repeats=3, random_state=0)
    assert isinstance(repeated, RepeatedKFold) and repeated.get_n_splits() == 12
    assert isinstance(cv_splitter(_classes(), n_repeats=2), RepeatedStratifiedKFold)
    assert isinstance(cv_splitter(_classes(), method="random"), KFold)


def test_cv_splitter_folds_are_seeded_and_grouped() -> None:
    data = _regression()
    a = [test for _, test in cv_splitter(data, random_state=0).split(data.X)]
    b = [test for _, test in cv_splitter(data, random_state=0).split(data.X)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    groups = np.repeat(np.arange(10), 5)
    grouped = _regression(50, groups=groups)
    for train, test in cv_splitter(grouped).split(grouped.X, groups=grouped.groups):
        assert not set(groups[train]) & set(groups[test])


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        (_regression(4), {}, DataError, r"reg\.csv: 5-fold CV needs at least 5 samples; got 4\. "
         r"Lower --cv"),
        (_classes((20, 15, 3)), {}, DataError, "class 'c' has 3 samples; 5-fold stratified"),
        (_regression(50, groups=np.repeat(np.arange(3), [20, 20, 10])), {}, DataError,
         "5-fold CV needs at least 5 groups; got 3"),
        (_regression(50, groups=np.repeat(np.arange(10), 5)), dict(n_repeats=2), ValueError,
         "n_repeats > 1 is not available with groups"),
        (_regression(), dict(n_splits=1), ValueError, "n_splits must be an integer >= 2"),
        (_regression(), dict(method="kennard-stone"), ValueError, "method must be"),
    ],
)
def test_cv_splitter_errors(data: Spectra, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        cv_splitter(data, **kwargs)
