"""The final stack: which trials are candidates, and the weights that combine the candidates.

Averaging a few good, different models lowers the variance one network trained on a small
spectral data set carries, and a linear model beside them keeps the stack from losing to it.
The weights are fitted on out-of-fold predictions of calibration+tuning
(:mod:`spectune.tuning._crossfit`), where no model predicts a spectrum it was trained on, and
never on the test set: non-negative and summing to one, per target for regression (least
squares), on the probabilities for classes (log loss). The networks' configurations and epoch
counts were chosen in the search on the tuning spectra, which are among those rows, so their
out-of-fold figures lean optimistic (their training is cross-fitted, their selection is not).
A weight of zero drops a candidate, so the stack may be purely PLS or purely Ridge (purely
logistic regression for classes); a candidate whose weight stays below :data:`MIN_WEIGHT` is
dropped too and the weights fitted again without it (on a few tens of out-of-fold rows such a
share is noise, and a network member costs its weights on disk and its time in every
prediction).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
from optuna.trial import FrozenTrial, TrialState
from scipy.optimize import minimize, nnls

__all__ = ["combine", "select_top_trials", "stack_weights"]

#: Weight of the "weights sum to 1" row appended to the least-squares system (Lawson & Hanson
#: 1974, ch. 22: equality constraints by weighting), relative to the scale of the predictions.
_SUM_ROW_WEIGHT = 1e3
#: Probabilities are clipped here before the log (a member certain and wrong is not -inf).
_EPS = 1e-12
#: A candidate must carry at least this share of the stack to stay in it.
MIN_WEIGHT = 0.05

DistinctOn = Sequence[str] | Callable[[Mapping[str, Any]], Hashable] | None

def select_top_trials(
    study: optuna.Study, k: int, *, distinct_on: DistinctOn = None
) -> list[FrozenTrial]:
    """The best ``k`` COMPLETE trials whose parameter sets differ, best first.

    A trial whose parameters repeat a better one's (a sampler re-proposing a point, enqueued
    trials, a small grid) adds a second copy of the same model, not diversity: it is skipped.
    ``distinct_on`` names the parameters that define "the same" (default: all of them), or is
    a function of the params dict returning a hashable key. Ranking follows the study's
    (first) direction; ties keep the earlier trial. Fewer than ``k`` trials come back when
    fewer distinct ones finished.
    """
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k (the number of trials to ensemble) must be an integer >= 1, "
                         f"got {k!r}.")
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.values is not None and np.isfinite(t.values[0])]
    known = {name for t in complete for name in t.params}
    if complete and distinct_on is not None and not callable(distinct_on):
        unknown = sorted(set(distinct_on) - known)
        if unknown:
            raise ValueError(f"distinct_on names parameters no trial has: {unknown}; the "
                             f"study's parameters are {sorted(known)}.")
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    ranked = sorted(complete, key=lambda t: (sign * t.values[0], t.number))
    chosen: list[FrozenTrial] = []
    seen: set[Hashable] = set()
    for trial in ranked:
        key = _identity(trial.params, distinct_on)
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
        if len(chosen) == k:
            break
    return chosen


def _identity(params: Mapping[str, Any], distinct_on: DistinctOn) -> Hashable:
    if callable(distinct_on):
        return distinct_on(params)
    names = sorted(params) if distinct_on is None else list(distinct_on)
    return tuple((name, params.get(name)) for name in names)


def stack_weights(oof: Sequence[npt.ArrayLike], y: npt.ArrayLike, *, task: str,
                  classes: npt.ArrayLike | None = None) -> np.ndarray:
    """Non-negative weights summing to one, fitted on the candidates' out-of-fold outputs.

    Regression: ``oof`` holds ``[n, n_targets]`` predictions per candidate; each target gets
    the least-squares weights under ``sum(w) == 1`` (SciPy's NNLS, the constraint imposed as a
    heavily weighted extra row, Lawson & Hanson 1974, ch. 22): ``[n_candidates, n_targets]``.
    Classification: ``[n, n_classes]`` probabilities (columns in ``classes`` order) per
    candidate; one weight each, minimising the log loss of the weighted probabilities (SciPy's
    SLSQP on the simplex): ``[n_candidates]``.
    """
    predictions = _as_members(oof)
    _check_rows(predictions, y)
    if task == "classification":
        if classes is None:
            raise ValueError("classification needs classes= (the probability columns' labels).")
        return _pruned(lambda rows: _log_loss_weights(predictions[rows], _one_hot(y, classes)),
                       len(predictions))
    target = np.asarray(y, dtype=float).reshape(predictions.shape[1], -1)
    if target.shape != predictions.shape[1:]:
        raise ValueError(f"y has shape {target.shape}; the predictions have "
                         f"{predictions.shape[1:]}.")
    return np.column_stack([
        _pruned(lambda rows, t=t: _least_squares_weights(predictions[rows, :, t], target[:, t]),
                len(predictions))
        for t in range(target.shape[1])])


def combine(outputs: Sequence[npt.ArrayLike], weights: npt.ArrayLike) -> np.ndarray:
    """The stack's output ``[n, k]``: each candidate's output times its weight (per column
    when ``weights`` is ``[n_candidates, k]``), summed."""
    stacked = _as_members(outputs)
    w = np.asarray(weights, dtype=float).reshape(len(stacked), -1)
    return np.sum(w[:, None, :] * stacked, axis=0)


def _pruned(fit: Callable[[np.ndarray], np.ndarray], n: int) -> np.ndarray:
    """``fit(rows)`` on fewer and fewer candidates until every kept weight is >= MIN_WEIGHT."""
    rows = np.arange(n)
    while True:
        weights = fit(rows)
        small = np.flatnonzero((weights > 0) & (weights < MIN_WEIGHT))
        if not len(small) or len(rows) == 1:
            out = np.zeros(n)
            out[rows] = weights
            return out
        rows = np.delete(rows, small[np.argmin(weights[small])])


def _least_squares_weights(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    design = predictions.T  # [n, m]
    scale = _SUM_ROW_WEIGHT * max(float(np.abs(design).max()), 1.0) * np.sqrt(len(design))
    A = np.vstack([design, np.full((1, design.shape[1]), scale)])
    b = np.concatenate([target, [scale]])
    weights = nnls(A, b)[0]
    return weights / weights.sum()


def _log_loss_weights(probabilities: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    m = len(probabilities)

    def loss(w: np.ndarray) -> float:
        mixed = np.tensordot(w, probabilities, axes=1)
        return float(-np.mean(np.sum(onehot * np.log(np.clip(mixed, _EPS, 1.0)), axis=1)))

    start = np.full(m, 1.0 / m)
    found = minimize(loss, start, method="SLSQP", bounds=[(0.0, 1.0)] * m,
                     constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},))
    weights = np.clip(found.x if found.success else start, 0.0, None)
    weights[weights < 1e-6] = 0.0
    return weights / weights.sum()


def _as_members(predictions: Sequence[npt.ArrayLike]) -> np.ndarray:
    """``[members, n, outputs]`` float array; every member must have the first one's shape."""
    if len(predictions) == 0:
        raise ValueError("no candidate outputs were given; a stack needs at least one.")
    arrays = [np.asarray(p, dtype=float) for p in predictions]
    arrays = [a.reshape(len(a), -1) for a in arrays]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise ValueError(f"member {i} predictions have shape {a.shape}; member 0 has "
                             f"{arrays[0].shape}.")
    return np.stack(arrays)


def _check_rows(predictions: np.ndarray, y: npt.ArrayLike) -> None:
    if len(np.asarray(y)) != predictions.shape[1]:
        raise ValueError(f"y has {len(np.asarray(y))} rows; the predictions have "
                         f"{predictions.shape[1]}: give the targets of the same spectra.")


def _one_hot(y: npt.ArrayLike, classes: npt.ArrayLike) -> np.ndarray:
    classes = np.asarray(classes)
    labels = np.asarray(y).ravel()
    unknown = sorted({str(v) for v in labels} - {str(c) for c in classes})
    if unknown:
        raise ValueError(f"y has labels {unknown} that are not in classes "
                         f"{classes.tolist()}.")
    return (labels[:, None] == classes[None, :]).astype(float)
