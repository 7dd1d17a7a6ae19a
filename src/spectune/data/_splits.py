"""Calibration / tuning / test splits and CV splitters of a :class:`Spectra`, seeded and checked.

Every split is made once, on indices, before any preprocessing is fitted, so the test set is
touched once and the tuning set never leaks into calibration statistics.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.utils import check_random_state

from spectune.data._spectra import Spectra
from spectune.exceptions import DataError

SplitMethod = Literal["auto", "random", "kennard-stone", "group", "stratified"]
CVMethod = Literal["auto", "random", "group", "stratified"]
Size = float | int
RandomState = int | np.random.RandomState | None

#: Fewest calibration samples a split may leave (a mean and a slope need two).
MIN_CAL = 2
_METHODS = ("auto", "random", "kennard-stone", "group", "stratified")


@dataclass(frozen=True)
class SplitIndices:
    """Sorted, disjoint row indices of the calibration, tuning and test sets (their union is all).

    ``tune`` (and ``test`` after :func:`split_cal_tune`) may be empty.
    """

    cal: np.ndarray
    tune: np.ndarray
    test: np.ndarray


def split_indices(
    spectra: Spectra,
    *,
    method: SplitMethod = "auto",
    test_size: Size = 0.2,
    tune_size: Size = 0.2,
    random_state: RandomState = None,
) -> SplitIndices:
    """Split the rows of ``spectra`` into calibration, tuning and test sets.

    Parameters
    ----------
    spectra : Spectra
        The samples to split.
    method : {"auto", "random", "kennard-stone", "group", "stratified"}
        ``"auto"`` keeps groups together when ``spectra.groups`` exists, else stratifies
        classes, else draws at random. ``"kennard-stone"`` gives the calibration set the
        Kennard & Stone (1969) max-min selection (it covers the spectral space, as is usual in
        chemometrics) and draws the tuning and test sets at random from the samples left, so that
        the tuning set looks like the test set.
    test_size, tune_size : float or int
        A fraction of all samples in ``[0, 1)`` (rounded up) or a count; 0 means no such set.
        With ``"group"`` they count groups, as :class:`~sklearn.model_selection.GroupShuffleSplit`
        does, so the sample sizes are approximate.
    random_state : int, RandomState or None
        Seed of the draws; the Kennard-Stone calibration set does not depend on it.

    Returns
    -------
    SplitIndices
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    chosen = _resolve(spectra, method)
    rng = check_random_state(random_state)
    units = _n_units(spectra, chosen)
    n_test, n_tune = _count(test_size, units, "test_size"), _count(tune_size, units, "tune_size")
    least, kind = (1, "group") if chosen == "group" else (MIN_CAL, "sample")
    if units - n_test - n_tune < least:
        raise DataError(
            f"{spectra.source}: {units} {kind}s cannot give a test set of {test_size}, a tuning "
            f"set of {tune_size} and at least {least} calibration {kind}(s); lower test_size "
            f"(--test-size) or tune_size, or add {kind}s."
        )
    if chosen == "stratified":
        _check_stratifiable(spectra, n_test, n_tune, test_size, tune_size)
    everything = np.arange(spectra.n_samples)
    if chosen == "kennard-stone":
        cal = kennard_stone(spectra.X.reshape(spectra.n_samples, -1), units - n_test - n_tune)
        rest = np.setdiff1d(everything, cal)  # n_test + n_tune samples
        tune, test = (rest[:0], rest) if n_tune == 0 else _carve(spectra, rest, n_test,
                                                                  "random", rng)
    else:
        rest, test = _carve(spectra, everything, n_test, chosen, rng)
        cal, tune = _carve(spectra, rest, n_tune, chosen, rng)
    return _checked(spectra, SplitIndices(np.sort(cal), np.sort(tune), np.sort(test)))


def split_cal_tune(
    spectra: Spectra,
    *,
    method: SplitMethod = "auto",
    tune_size: Size = 0.2,
    random_state: RandomState = None,
) -> SplitIndices:
    """Split training data whose test set is a separate file into calibration and tuning only.

    Same rules as :func:`split_indices` with ``test_size=0``; ``test`` is empty.
    """
    return split_indices(
        spectra, method=method, test_size=0, tune_size=tune_size, random_state=random_state
    )


def cv_splitter(
    spectra: Spectra,
    *,
    n_splits: int = 5,
    n_repeats: int = 1,
    method: CVMethod = "auto",
    random_state: RandomState = None,
) -> BaseCrossValidator | RepeatedKFold | RepeatedStratifiedKFold:
    """A scikit-learn (repeated) k-fold splitter fitting the task and the groups of ``spectra``.

    ``"auto"`` gives :class:`~sklearn.model_selection.GroupKFold` when groups exist (pass
    ``groups=spectra.groups`` to ``split``), stratified folds for classes and shuffled
    :class:`~sklearn.model_selection.KFold` otherwise; ``n_repeats > 1`` gives the repeated
    variants (not available with groups).
    """
    _check_int("n_splits", n_splits, 2)
    _check_int("n_repeats", n_repeats, 1)
    if method not in ("auto", "random", "group", "stratified"):
        raise ValueError(
            f"method must be 'auto', 'random', 'group' or 'stratified'; got {method!r}."
        )
    chosen = _resolve(spectra, method)
    units = _n_units(spectra, chosen)
    if units < n_splits:
        kind = "groups" if chosen == "group" else "samples"
        raise DataError(
            f"{spectra.source}: {n_splits}-fold CV needs at least {n_splits} {kind}; got {units}. "
            f"Lower --cv."
        )
    if chosen == "group":
        if n_repeats > 1:
            raise ValueError("n_repeats > 1 is not available with groups; set n_repeats=1.")
        return GroupKFold(n_splits=n_splits)
    if chosen == "stratified":
        label, count = _smallest_class(spectra)
        if count < n_splits:
            raise DataError(
                f"{spectra.source}: class {label!r} has {count} samples; {n_splits}-fold "
                f"stratified CV needs at least {n_splits} per class. Lower --cv."
            )
        if n_repeats > 1:
            return RepeatedStratifiedKFold(
                n_splits=n_splits, n_repeats=n_repeats, random_state=random_state
            )
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    if n_repeats > 1:
        return RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
    return KFold(n_splits=n_splits, shuffle=True, random_state=random_state)


def kennard_stone(X: np.ndarray, n_select: int) -> np.ndarray:
    """Indices of ``n_select`` rows of ``X`` chosen by Kennard & Stone (1969), in selection order.

    Starts with the two rows farthest apart (Euclidean), then adds, one at a time, the row whose
    distance to its nearest selected row is largest. Ties go to the lowest index.
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    n = len(X)
    if not 2 <= n_select <= n:
        raise ValueError(f"n_select must lie in [2, {n}]; got {n_select}.")
    first, second = _farthest_pair(X)
    selected = [first, second]
    nearest = np.minimum(cdist(X, X[[first]])[:, 0], cdist(X, X[[second]])[:, 0])
    nearest[selected] = -np.inf
    while len(selected) < n_select:
        new = int(np.argmax(nearest))
        selected.append(new)
        nearest = np.minimum(nearest, cdist(X, X[[new]])[:, 0])
        nearest[new] = -np.inf
    return np.asarray(selected)


def _farthest_pair(X: np.ndarray, chunk: int = 1024) -> tuple[int, int]:
    """The two rows with the largest distance, in chunks so memory stays O(chunk * n)."""
    best, pair = -1.0, (0, 1)
    for start in range(0, len(X), chunk):
        block = cdist(X[start : start + chunk], X, "sqeuclidean")
        i, j = np.unravel_index(int(np.argmax(block)), block.shape)
        if block[i, j] > best:
            best, pair = float(block[i, j]), (start + int(i), int(j))
    return min(pair), max(pair)


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")


def _resolve(spectra: Spectra, method: str) -> str:
    if method == "auto":
        if spectra.groups is not None:
            return "group"
        return "stratified" if spectra.task == "classification" else "random"
    if method == "group" and spectra.groups is None:
        raise DataError(
            f"{spectra.source}: method='group' needs sample groups and none were given; "
            f"pass a group column (--group-column) or use method='random'."
        )
    if method == "stratified" and spectra.task != "classification":
        raise DataError(
            f"{spectra.source}: method='stratified' needs class labels; the target is "
            f"{spectra.task or 'missing'}. Use method='random'."
        )
    if method == "group" and len(np.unique(_groups(spectra))) < 2:
        raise DataError(
            f"{spectra.source}: method='group' needs at least 2 groups; got "
            f"{len(np.unique(_groups(spectra)))}. Use method='random'."
        )
    return method


def _groups(spectra: Spectra) -> np.ndarray:
    return cast(np.ndarray, spectra.groups)  # callers checked that groups exist


def _labels(spectra: Spectra) -> np.ndarray:
    return cast(np.ndarray, spectra.y)  # callers checked the task


def _n_units(spectra: Spectra, method: str) -> int:
    """What the sizes count: groups for group splits, samples otherwise."""
    return len(np.unique(_groups(spectra))) if method == "group" else spectra.n_samples


def _count(size: Size, units: int, name: str) -> int:
    if isinstance(size, bool) or not isinstance(size, numbers.Real):
        raise ValueError(f"{name} must be a fraction in [0, 1) or a count; got {size!r}.")
    if isinstance(size, numbers.Integral):
        if size < 0:
            raise ValueError(f"{name} must be a fraction in [0, 1) or a count >= 0; got {size}.")
        return int(size)
    if not 0 <= size < 1:
        raise ValueError(f"{name} must be a fraction in [0, 1) or an integer count; got {size}.")
    return math.ceil(round(size * units, 9))


def _carve(
    spectra: Spectra, pool: np.ndarray, n_out: int, method: str, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``pool`` into (kept, ``n_out`` units taken out) with ``method``."""
    if n_out == 0:
        return pool, pool[:0]
    if method == "group":
        splitter = GroupShuffleSplit(n_splits=1, test_size=n_out, random_state=rng)
        kept, out = next(splitter.split(pool, groups=_groups(spectra)[pool]))
        return pool[kept], pool[out]
    stratify = _labels(spectra)[pool] if method == "stratified" else None
    try:
        kept, out = train_test_split(pool, test_size=n_out, random_state=rng, stratify=stratify)
    except ValueError as error:  # sklearn's reason, e.g. a class left with one sample
        what = "stratify" if stratify is not None else "make"
        raise DataError(f"{spectra.source}: cannot {what} the split: {error}") from error
    return kept, out


def _smallest_class(spectra: Spectra) -> tuple[object, int]:
    labels, counts = np.unique(_labels(spectra), return_counts=True)
    i = int(np.argmin(counts))
    return _plain(labels[i]), int(counts[i])


def _plain(label: object) -> object:
    """A numpy scalar as the Python value, so messages read 'c', not np.str_('c')."""
    return label.item() if isinstance(label, np.generic) else label


def _check_stratifiable(
    spectra: Spectra, n_test: int, n_tune: int, test_size: Size, tune_size: Size
) -> None:
    label, count = _smallest_class(spectra)
    if count < 2:
        raise DataError(
            f"{spectra.source}: class {label!r} has 1 sample and cannot be stratified; add "
            f"samples of it, drop it, or use method='random'."
        )
    n_classes = len(spectra.classes)
    for name, n_out, size in (("test", n_test, test_size), ("tuning", n_tune, tune_size)):
        if 0 < n_out < n_classes:
            raise DataError(
                f"{spectra.source}: a stratified {name} set of {size} ({n_out} samples) cannot "
                f"hold the {n_classes} classes; make it at least {n_classes} samples."
            )


def _checked(spectra: Spectra, split: SplitIndices) -> SplitIndices:
    if len(split.cal) < MIN_CAL:
        raise DataError(
            f"{spectra.source}: the split leaves {len(split.cal)} calibration samples; at least "
            f"{MIN_CAL} are needed. Lower test_size or tune_size, or use smaller groups."
        )
    if spectra.task == "classification":
        missing = np.setdiff1d(spectra.classes, _labels(spectra)[split.cal])
        if missing.size:
            raise DataError(
                f"{spectra.source}: the split leaves class {_plain(missing[0])!r} out of the "
                f"calibration set; lower test_size or tune_size, or use method='stratified'."
            )
    return split
