"""A generic pruning hook: report each epoch's metric, stop when told (SkorchPruningCallback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spectune.training._callback import Callback, monitored
from spectune.training._errors import TrainingPruned


class ReportCallback(Callback):
    """Call ``report(value, epoch)`` after each epoch; raise TrainingPruned if ``should_stop()``.

    With Optuna: ``ReportCallback(trial.report, trial.should_prune)``, and translate
    :class:`TrainingPruned` to ``optuna.TrialPruned`` around :func:`train`; the training package
    itself never imports Optuna.

    Parameters
    ----------
    report : callable (value, epoch) -> None
        Receives the monitored value and the 0-based epoch.
    should_stop : callable () -> bool, optional
        Asked after each report; True prunes the run.
    monitor : str
        Key of the epoch logs, "val_metric" by default (RMSE or accuracy).

    Examples
    --------
    >>> seen = []
    >>> cb = ReportCallback(lambda value, epoch: seen.append((epoch, value)))
    >>> cb.on_epoch_end(0, {"val_metric": 0.5})
    >>> seen
    [(0, 0.5)]
    """

    def __init__(
        self,
        report: Callable[[float, int], None],
        should_stop: Callable[[], bool] | None = None,
        monitor: str = "val_metric",
    ) -> None:
        self.report = report
        self.should_stop = should_stop
        self.monitor = monitor

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.report(monitored(logs, self.monitor, "ReportCallback"), epoch)
        if self.should_stop is not None and self.should_stop():
            raise TrainingPruned(epoch)
