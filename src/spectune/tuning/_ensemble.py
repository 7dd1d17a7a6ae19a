"""Ensembles of the final model: the top-k distinct trials and/or N seeds of the best one.

Averaging a few good, different networks lowers the variance that one network trained on a
small spectral data set carries. Every choice here (which trials, how many, how many seeds,
blend weights with PLS) is made on the tuning set, from models trained on calibration data
only, or on out-of-fold calibration predictions: no function of this module takes a test set.
The members are then refitted on calibration+tuning (by the caller's ``refit``) and saved in
one model folder whose ``weights`` average them: the mean of the predictions for regression,
the mean of the class probabilities for classification.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import optuna
from optuna.trial import FrozenTrial, TrialState
from scipy.optimize import nnls
from sklearn.metrics import log_loss

from spectune.training._files import load_model
from spectune.tuning._objectives import _rmse

if TYPE_CHECKING:
    from spectune.data import Spectra
    from spectune.training._network import SpectralNetwork
    from spectune.tuning._materialise import TrialPlan

__all__ = [
    "EnsembleChoice",
    "choose_ensemble_size",
    "choose_seed_count",
    "kept_networks",
    "member_predictions",
    "member_weights",
    "mean_prediction",
    "refit_members",
    "select_top_trials",
    "stacking_weights",
]

#: Relative tolerance of the size choice: a larger ensemble must beat the smallest one within
#: this fraction of the best tuning error to be kept (fewer members when errors are equal).
RTOL = 1e-3
#: Weight of the "weights sum to 1" row appended to the stacking system (Lawson & Hanson 1974,
#: ch. 22: equality constraints by weighting), relative to the scale of the predictions.
_SUM_ROW_WEIGHT = 1e3

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


@dataclass(frozen=True)
class EnsembleChoice:
    """How many members to average, and the tuning error of each prefix of the ranking.

    Attributes
    ----------
    k : int
        Members chosen (the first ``k`` of the ranking).
    errors_by_k : tuple of float
        ``errors_by_k[i]``: tuning error of the mean of the first ``i + 1`` members (RMSE for
        regression, log loss of the mean probabilities for classification). ``errors_by_k[0]``
        is the single best model, the "single vs ensemble" line of the report.
    """

    k: int
    errors_by_k: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` fragment: string keys, ``None`` for a diverged size's error."""
        errors = [e if np.isfinite(e) else None for e in self.errors_by_k]
        return {"k": self.k, "single": errors[0], "ensemble": errors[self.k - 1],
                "errors_by_k": {str(i + 1): e for i, e in enumerate(errors)}}


def choose_ensemble_size(
    tune_predictions: Sequence[npt.ArrayLike],
    y_tune: npt.ArrayLike,
    *,
    task: str,
    max_members: int | None = None,
    classes: npt.ArrayLike | None = None,
    rtol: float = RTOL,
) -> EnsembleChoice:
    """Choose ``k``: the tuning error of the mean of the first ``k`` ranked members, k = 1..K.

    ``tune_predictions`` are the tuning-set outputs of the ranked members (best first), each
    trained on calibration data only: ``[n, n_targets]`` predictions for regression, ``[n,
    n_classes]`` probabilities (columns in ``classes`` order) for classification. The smallest
    ``k`` whose error is within ``rtol`` (relative) of the lowest is chosen, so a larger
    ensemble must earn its place. Classification is judged by the log loss of the mean
    probability: accuracy moves in steps of 1/n and ties on small tuning sets, while averaging
    probabilities improves their log loss smoothly.
    """
    predictions = _as_members(tune_predictions)
    if max_members is not None:
        if max_members < 1:
            raise ValueError(f"max_members must be >= 1, got {max_members}.")
        predictions = predictions[:max_members]
    _check_rows(predictions, y_tune)
    error = _error_function(task, y_tune, classes)
    means = np.cumsum(predictions, axis=0) / np.arange(1, len(predictions) + 1)[:, None, None]
    # A diverged member (NaN or inf outputs) spoils every size that includes it.
    errors = tuple(float(error(m)) if np.isfinite(m).all() else np.inf for m in means)
    best = min(errors)
    if not np.isfinite(best):
        raise ValueError("every ensemble size has a non-finite tuning error; the members' "
                         "predictions contain NaN or inf.")
    k = next(i + 1 for i, e in enumerate(errors) if e <= best + rtol * abs(best))
    return EnsembleChoice(k, errors)


def choose_seed_count(
    tune_predictions: Sequence[npt.ArrayLike],
    y_tune: npt.ArrayLike,
    *,
    task: str,
    classes: npt.ArrayLike | None = None,
    max_seeds: int | None = None,
    rtol: float = RTOL,
) -> EnsembleChoice:
    """Choose N, the number of seeds of the best configuration to average.

    As :func:`choose_ensemble_size`, with members that are one configuration trained on
    calibration data from seeds ``seed, seed + 1, ...`` (in that order); ``EnsembleChoice.k``
    is N.
    """
    return choose_ensemble_size(tune_predictions, y_tune, task=task, max_members=max_seeds,
                                classes=classes, rtol=rtol)


def stacking_weights(
    tune_predictions: Sequence[npt.ArrayLike],
    y_tune: npt.ArrayLike,
    *,
    nonnegative: bool = True,
    classes: npt.ArrayLike | None = None,
) -> np.ndarray:
    """Blend weights (one per member, summing to 1) minimising the squared tuning error.

    For a CNN+PLS blend (or any members): least squares of ``y_tune`` on the members'
    predictions under ``sum(w) == 1``, by SciPy's NNLS (``nonnegative``) or least squares, the
    constraint imposed as a heavily weighted extra row (Lawson & Hanson 1974, ch. 22), then
    normalised. Give tuning-set predictions of members trained on calibration data, or
    out-of-fold predictions on calibration data; never the test set. With ``classes``,
    ``y_tune`` holds labels and the members' probabilities are fitted to its one-hot coding
    (the Brier score).
    """
    predictions = _as_members(tune_predictions)
    _check_rows(predictions, y_tune)
    target = _one_hot(y_tune, classes) if classes is not None else np.asarray(y_tune, float)
    target = target.reshape(predictions.shape[1], -1)
    if target.shape != predictions.shape[1:]:
        raise ValueError(f"y_tune has shape {target.shape}; the predictions have "
                         f"{predictions.shape[1:]}.")
    design = predictions.reshape(len(predictions), -1).T
    scale = _SUM_ROW_WEIGHT * max(float(np.abs(design).max()), 1.0) * np.sqrt(len(design))
    A = np.vstack([design, np.full((1, len(predictions)), scale)])
    b = np.concatenate([target.ravel(), [scale]])
    weights = nnls(A, b)[0] if nonnegative else np.linalg.lstsq(A, b, rcond=None)[0]
    return weights / weights.sum()


def mean_prediction(
    predictions: Sequence[npt.ArrayLike], weights: npt.ArrayLike | None = None
) -> np.ndarray:
    """Weighted mean of the members' predictions or probabilities (default: equal weights).

    The average ``SavedModel.predict`` takes, for the tuning-set "single vs ensemble" lines.
    """
    stacked = _as_members(predictions)
    w = np.full(len(stacked), 1.0 / len(stacked)) if weights is None else np.asarray(weights)
    if w.shape != (len(stacked),):
        raise ValueError(f"weights has shape {w.shape}; expected ({len(stacked)},), one per "
                         f"member.")
    return np.tensordot(w, stacked, axes=1)


def member_weights(n_trials: int, n_seeds: int) -> np.ndarray:
    """Weights of the members that :func:`refit_members` returns, in its order.

    The best trial's ``n_seeds`` networks share one configuration's weight, so each of the
    ``n_trials`` configurations counts ``1 / n_trials`` as in :func:`choose_ensemble_size`,
    and the seeds average within the best one.
    """
    if n_trials < 1 or n_seeds < 1:
        raise ValueError(f"n_trials and n_seeds must be >= 1, got {n_trials} and {n_seeds}.")
    return np.array([1.0 / (n_trials * n_seeds)] * n_seeds + [1.0 / n_trials] * (n_trials - 1))


def member_predictions(
    networks: Sequence[SpectralNetwork], X: npt.ArrayLike
) -> list[np.ndarray]:
    """What each member contributes to the mean: predictions (regression) or probabilities."""
    if networks and networks[0].task == "classification":
        first = np.asarray(networks[0].classes)
        for i, net in enumerate(networks):
            if not np.array_equal(np.asarray(net.classes), first):
                raise ValueError(f"member {i} has classes {list(net.classes)}; member 0 has "
                                 f"{first.tolist()}: probabilities cannot be averaged.")
        return [net.predict_proba(X) for net in networks]
    return [net.predict(X) for net in networks]


def kept_networks(
    folder: Path, trials: Sequence[FrozenTrial]
) -> tuple[list[FrozenTrial], list[SpectralNetwork]]:
    """The calibration-trained networks that ``KeepTopModels`` kept in ``folder/<number>``.

    Only the trials that have a folder come back, in the given order, with their networks.
    """
    found = [t for t in trials if (Path(folder) / str(t.number) / "model.json").is_file()]
    return found, [load_model(Path(folder) / str(t.number)).members[0] for t in found]


def refit_members(
    plans: Sequence[TrialPlan],
    trials: Sequence[FrozenTrial],
    pool: Spectra,
    *,
    seeds: Sequence[int],
    refit_fn: Callable[..., SpectralNetwork],
    mode: str = "scratch",
    warm_states: Sequence[Mapping[str, Any] | None] | None = None,
) -> list[SpectralNetwork]:
    """Refit every member on ``pool`` (calibration+tuning) with ``refit_fn`` (``_refit.refit``).

    The first (best) trial is refitted once per seed in ``seeds``, the others with
    ``seeds[0]``: ``len(trials) + len(seeds) - 1`` networks, weighted by
    :func:`member_weights`.
    """
    if len(plans) != len(trials) or not trials or not seeds:
        raise ValueError(f"give one plan per trial and at least one trial and seed; got "
                         f"{len(plans)} plans, {len(trials)} trials, {len(seeds)} seeds.")
    warm = list(warm_states) if warm_states is not None else [None] * len(trials)
    jobs = [(0, s) for s in seeds] + [(i, seeds[0]) for i in range(1, len(trials))]
    return [refit_fn(plans[i], trials[i], pool, mode=mode, seed=seed, warm_state=warm[i])
            for i, seed in jobs]


def _as_members(predictions: Sequence[npt.ArrayLike]) -> np.ndarray:
    """``[members, n, outputs]`` float array; every member must have the first one's shape."""
    if len(predictions) == 0:
        raise ValueError("no member predictions were given; an ensemble needs at least one.")
    arrays = [np.asarray(p, dtype=float) for p in predictions]
    arrays = [a.reshape(len(a), -1) for a in arrays]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise ValueError(f"member {i} predictions have shape {a.shape}; member 0 has "
                             f"{arrays[0].shape}.")
    return np.stack(arrays)


def _check_rows(predictions: np.ndarray, y: npt.ArrayLike) -> None:
    if len(np.asarray(y)) != predictions.shape[1]:
        raise ValueError(f"y_tune has {len(np.asarray(y))} rows; the predictions have "
                         f"{predictions.shape[1]}: give the tuning-set targets.")


def _one_hot(y: npt.ArrayLike, classes: npt.ArrayLike) -> np.ndarray:
    classes = np.asarray(classes)
    labels = np.asarray(y).ravel()
    unknown = sorted({str(v) for v in labels} - {str(c) for c in classes})
    if unknown:
        raise ValueError(f"y_tune has labels {unknown} that are not in classes "
                         f"{classes.tolist()}.")
    return (labels[:, None] == classes[None, :]).astype(float)


def _error_function(task: str, y: npt.ArrayLike, classes: npt.ArrayLike | None
                    ) -> Callable[[np.ndarray], float]:
    """Tuning error of one mean prediction: RMSE, or log loss of the mean probabilities."""
    if task == "regression":
        return lambda pred: _rmse(np.asarray(y, dtype=float).reshape(len(pred), -1), pred)
    if task != "classification":
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}.")
    if classes is None:
        raise ValueError("classification needs classes= (the probability columns' labels, "
                         "e.g. pool.classes) to score the mean probabilities.")
    codes = _one_hot(y, classes).argmax(axis=1)
    labels = np.arange(len(np.asarray(classes)))

    def error(proba: np.ndarray) -> float:
        proba = np.asarray(proba, dtype=np.float64)  # float32 softmax sums to 1 within 1e-7 only
        return float(log_loss(codes, proba / proba.sum(axis=1, keepdims=True), labels=labels))

    return error
