"""The LR range test (Smith 2017, "Cyclical learning rates for training neural networks", 3.3).

Train a fresh model for a few hundred steps while the learning rate grows exponentially from
``lr_start`` to ``lr_end``, and record the validation loss after every step. The loss stays flat
while the LR is too small, falls once it is large enough, and shoots up when training becomes
unstable. Passos & Mishra (2022) take LR_max as Adam's initial rate and LR_min as the floor of
ReduceLROnPlateau.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter1d
from torch import nn

from spectune.training._config import TrainConfig
from spectune.training._trainer import Trainer

_EMA = 0.2  # weight of the newest loss in the moving average that the stop test watches


@dataclass(frozen=True)
class LRRangeResult:
    """What the LR range test saw and the two rates it picked.

    Attributes
    ----------
    lrs, losses : ndarray of shape (n_recorded,)
        Learning rate of each step and the loss after it (validation loss, or the training
        batch's objective without validation data); the last may be the diverged one.
    smoothed : ndarray of shape (n_used,)
        Losses of the steps before divergence, smoothed without lag (a centred Gaussian filter
        of the log-loss, so the curve's minimum is not shifted to larger LRs).
    lr_min : float
        First LR at which the smoothed loss has covered ``drop`` of its fall from the first
        step to its minimum: where the loss starts to fall (Smith's base_lr); at most ``lr_max``.
    lr_max : float
        LR at the minimum of the smoothed loss (Smith's max_lr: where the loss stops falling)
        divided by ``backoff``. The minimum lags the stability limit: an unstable direction
        needs a few steps to grow before it shows in the loss, so on least squares with
        mini-batch SGD the minimum falls at about 0.7-2 times the limit 2/lambda_max.
    diverged_at : float or None
        LR at which the averaged loss exceeded ``diverge_factor`` times its best value (or the
        loss became NaN); None if it never did.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    lr_min: float
    lr_max: float
    diverged_at: float | None

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable form (non-finite losses as None), for saving with a run."""
        losses = [float(v) if math.isfinite(v) else None for v in self.losses]
        return {
            "lrs": self.lrs.tolist(),
            "losses": losses,
            "smoothed": self.smoothed.tolist(),
            "lr_min": self.lr_min,
            "lr_max": self.lr_max,
            "diverged_at": self.diverged_at,
        }


def lr_range_test(
    model_factory: Callable[[], nn.Module],
    X_train: npt.ArrayLike,
    y_train: npt.ArrayLike,
    X_val: npt.ArrayLike | None = None,
    y_val: npt.ArrayLike | None = None,
    *,
    task: str = "regression",
    config: TrainConfig,
    lr_start: float = 1e-6,
    lr_end: float = 1.0,
    n_steps: int = 100,
    smooth: float = 0.05,
    drop: float = 0.1,
    diverge_factor: float = 4.0,
    backoff: float = 3.0,
) -> LRRangeResult:
    """Run the LR range test on a fresh model from ``model_factory``.

    The optimizer, loss, L2, batch size, seed and device come from ``config`` (its ``lr`` and
    schedules are ignored); no augmentation is applied. The run stops early once the loss is
    non-finite or its moving average (weight 0.2 on the newest step, bias-corrected) exceeds
    ``diverge_factor`` times its best value so far.

    Parameters
    ----------
    model_factory : callable () -> torch.nn.Module
        Builds a fresh, untrained model.
    X_train, y_train, X_val, y_val : array-like
        As for :func:`train`; without validation data the training batch objective is used.
    lr_start, lr_end : float
        The LR grows geometrically between them, one value per step.
    n_steps : int
        Number of optimizer steps (batches, cycling over epochs).
    smooth : float
        Width of the Gaussian smoothing of the log-loss curve, as a fraction of the steps used.
    drop : float
        LR_min is where the smoothed loss has covered this fraction of its fall to the minimum.
    diverge_factor : float
        Stop when the averaged loss exceeds this multiple of its best value.
    backoff : float
        LR_max is the LR at the smoothed loss's minimum divided by this (>= 1).

    Returns
    -------
    LRRangeResult

    Examples
    --------
    >>> import numpy as np, torch
    >>> X = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    >>> config = TrainConfig(optimizer="sgd", momentum=0.0, batch_size=16)
    >>> found = lr_range_test(lambda: torch.nn.Linear(3, 1), X, X.sum(axis=1), config=config)
    >>> bool(found.lr_min < found.lr_max)
    True
    """
    ok = 0 < lr_start < lr_end and n_steps >= 3 and 0 < drop < 1 and smooth >= 0
    if not (ok and diverge_factor > 1 and backoff >= 1):
        raise ValueError(
            "lr_range_test needs 0 < lr_start < lr_end, n_steps >= 3, 0 < drop < 1, "
            f"diverge_factor > 1, smooth >= 0 and backoff >= 1; got lr_start={lr_start}, "
            f"lr_end={lr_end}, n_steps={n_steps}, drop={drop}, diverge_factor={diverge_factor}, "
            f"smooth={smooth}, backoff={backoff}."
        )
    trainer = Trainer(model_factory(), config, task=task)
    data = trainer.prepare(X_train, y_train, X_val, y_val)
    lrs = np.geomspace(lr_start, lr_end, n_steps)
    losses: list[float] = []
    average, best, diverged_at = 0.0, math.inf, None
    with trainer.seeded():
        trainer.model.train()
        steps = itertools.chain.from_iterable(trainer.batches() for _ in itertools.count())
        for step, (lr, idx) in enumerate(zip(lrs, steps, strict=False), start=1):
            for group in trainer.optimizer.param_groups:
                group["lr"] = float(lr)
            loss = trainer.train_step(data.X_train[idx], data.y_train[idx])
            val_loss = trainer.evaluate()[0]  # None without validation data
            if val_loss is not None:
                loss = val_loss
                trainer.model.train()
            losses.append(loss.item())
            # bias-corrected moving average, so one lucky batch does not set the bar (fastai)
            average = (1 - _EMA) * average + _EMA * losses[-1]
            smoothed = average / (1 - (1 - _EMA) ** step)
            if not math.isfinite(losses[-1]) or smoothed > diverge_factor * best:
                diverged_at = float(lr)
                break
            best = min(best, smoothed)
    return _pick_rates(lrs[: len(losses)], np.array(losses), diverged_at, smooth, drop, backoff)


def _pick_rates(
    lrs: np.ndarray,
    losses: np.ndarray,
    diverged_at: float | None,
    smooth: float,
    drop: float,
    backoff: float,
) -> LRRangeResult:
    used = len(losses) - (diverged_at is not None)
    if used < 2:
        raise ValueError(
            f"The loss diverged after {used} step(s) of the LR range test at lr={diverged_at}; "
            "lower lr_start."
        )
    log_loss = np.log(np.maximum(losses[:used], np.finfo(float).tiny))
    smoothed = (
        gaussian_filter1d(log_loss, sigma=smooth * used, mode="nearest") if smooth else log_loss
    )
    i_max = int(np.argmin(smoothed))
    threshold = smoothed[0] - drop * (smoothed[0] - smoothed[i_max])
    i_min = int(np.argmax(smoothed[: i_max + 1] <= threshold))
    lr_max = float(lrs[i_max]) / backoff
    lr_min = min(float(lrs[i_min]), lr_max)
    return LRRangeResult(lrs, losses, np.exp(smoothed), lr_min, lr_max, diverged_at)
