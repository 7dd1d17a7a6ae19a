"""What a study prints: one line per failed trial, the traceback only at DEBUG."""

from __future__ import annotations

import io
import logging
import time

import optuna
import pytest

from spectune.tuning._objectives import Objective
from spectune.tuning._progress import OneLineTrialFailures, StudyProgress, one_line_trial_failures
from spectune.tuning._space import SearchSpace
from spectune.tuning._trial import TrialRunner


def _failing(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0, 1)
    if trial.number == 1:
        raise ValueError("the network diverged")
    return x


@pytest.fixture
def optuna_output():
    """Optuna's warnings, as its own handler would print them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger("optuna")
    root.addHandler(handler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield stream
    root.removeHandler(handler)


def _run_study() -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(_failing, n_trials=3, catch=(ValueError,))
    return study


def test_a_failed_trial_is_one_line_without_traceback(optuna_output) -> None:
    one_line_trial_failures()
    one_line_trial_failures()  # installing twice keeps one filter
    logger = logging.getLogger("optuna.study._optimize")
    assert sum(isinstance(f, OneLineTrialFailures) for f in logger.filters) == 1
    study = _run_study()
    text = optuna_output.getvalue()
    assert "Trial 1 failed" in text and "the network diverged" in text
    assert "Traceback" not in text
    assert "failed with value None" not in text  # Optuna's second line says nothing new
    assert len([line for line in text.splitlines() if "Trial 1" in line]) == 1
    assert study.trials[1].state == optuna.trial.TrialState.FAIL
    assert StudyProgress(3, None, live=False).describe(study).startswith("3/3 trials")


def test_debug_keeps_the_traceback(optuna_output) -> None:
    one_line_trial_failures()
    spectune_logger = logging.getLogger("spectune")
    level = spectune_logger.level
    spectune_logger.setLevel(logging.DEBUG)
    try:
        _run_study()
    finally:
        spectune_logger.setLevel(level)
    text = optuna_output.getvalue()
    assert "Traceback" in text and 'raise ValueError("the network diverged")' in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _progress_run(stream: io.StringIO, tiny, hold_out, mlp_space) -> StudyProgress:
    progress = StudyProgress(3, None, metric="tune RMSE", stream=stream)
    runner = TrialRunner(SearchSpace.from_dict(mlp_space), tiny, hold_out, Objective(),
                         train_defaults={"max_epochs": 4})
    runner.progress = progress
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(runner, n_trials=2, callbacks=[progress])
    progress.close()
    return progress


def test_a_terminal_shows_each_trials_epochs_under_the_study_line(
    tiny, hold_out, mlp_space
) -> None:
    stream = _Terminal()
    progress = _progress_run(stream, tiny, hold_out, mlp_space)
    text = stream.getvalue()
    assert "trial 0" in text and "trial 1" in text and "/4 epochs" in text  # each trial's bar
    assert "trial 2/3" in text and "best" in text  # the study's line above it
    stream.truncate(0)
    progress.start_trial(7, 3)
    for epoch in range(3):  # slower than tqdm's refresh interval, so each epoch is drawn
        time.sleep(0.12)
        progress.epoch(0.5 - 0.1 * epoch, epoch)
    progress.end_trial()
    text = stream.getvalue()
    assert "trial 7" in text and "2/3 epochs, tune RMSE 0.4" in text and "<" in text  # ETA


def test_a_log_gets_one_line_per_finished_trial(tiny, hold_out, mlp_space) -> None:
    stream = io.StringIO()  # not a terminal: no bars, no carriage returns
    _progress_run(stream, tiny, hold_out, mlp_space)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue()
    assert lines[0].startswith("trial 0 complete: tune RMSE ") and " in 4 epochs, " in lines[0]
    assert "2/3 trials" in lines[1]
