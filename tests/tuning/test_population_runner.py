"""Batched ask/tell: trials trained K at a time score what the one-at-a-time runner scores."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import FixedTrial, TrialState

from spectune.data import Spectra
from spectune.models import ArchSpec, ConvBlock, DenseBlock, validate_arch
from spectune.tuning import SearchSpace
from spectune.tuning._execute import TrialSource
from spectune.tuning._objectives import Objective
from spectune.tuning._population_runner import population_size, run_population_study
from spectune.tuning._study import STOPPED
from spectune.tuning._time_budget import TimeBudget
from spectune.tuning._trial import Evaluation, TrialRunner

RTOL = 1e-5  # float32 population vs single loop (tests/training/test_population.py)
DEFAULTS = {"max_epochs": 8, "early_stopping_patience": 3, "plateau_patience": 1}


def _runner(space: dict[str, Any], pool: Spectra, evaluations: list[Evaluation],
            **kwargs: Any) -> TrialRunner:
    return TrialRunner(SearchSpace.from_dict(space), pool, evaluations, Objective(),
                       train_defaults=DEFAULTS, **kwargs)


def _study(pruner: optuna.pruners.BasePruner | None = None,
           sampler: optuna.samplers.BaseSampler | None = None) -> optuna.Study:
    sampler = sampler or optuna.samplers.TPESampler(seed=0, n_startup_trials=3,
                                                    constant_liar=True)
    # a fixed name: Hyperband assigns brackets by a hash of the study name and trial number
    return optuna.create_study(sampler=sampler, pruner=pruner or optuna.pruners.NopPruner(),
                               study_name="population")


def _source(study: optuna.Study, n_trials: int) -> TrialSource:
    return TrialSource(study, n_trials, clock=TimeBudget(None))


def test_values_equal_the_one_at_a_time_runner(tiny: Spectra, hold_out: list[Evaluation]) -> None:
    # every draw has the same shapes; lr and dropout vary; two seeds per trial
    space = {"parameters": {
        "units": 6, "batch_size": 16,
        "lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.3},
    }}
    study, told = _study(), []
    runner = _runner(space, tiny, hold_out, seeds=(0, 1))
    run_population_study(study, runner, population=4, source=_source(study, 5),
                         callbacks=[lambda s, t: told.append(t.number)])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    assert sorted(told) == list(range(5))
    alone = _runner(space, tiny, hold_out, seeds=(0, 1))
    for trial in study.trials:
        fixed = FixedTrial(trial.params)
        assert trial.value == pytest.approx(alone(fixed), rel=RTOL)
        for name in ("epochs", "best_epoch", "n_params", "preprocessing"):
            assert trial.user_attrs[name] == fixed.user_attrs[name], name
        assert trial.user_attrs["tune_rmse"] == pytest.approx(fixed.user_attrs["tune_rmse"],
                                                              rel=RTOL)


def test_pruned_failed_and_lone_trials_are_recorded(
    tiny: Spectra, hold_out: list[Evaluation]
) -> None:
    # kernel 60 > 40 points fails at materialise; SGD cannot join a population (trained alone)
    space = {"parameters": {
        "n_conv": 1, "filters": 2, "units": 4, "batch_size": 16,
        "kernel_size": {"type": "categorical", "choices": [3, 60]},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
    }}
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=8, reduction_factor=2)
    study = _study(pruner, optuna.samplers.RandomSampler(seed=0))
    # two seeds: a pruned first run must take the trial's second run out of its population
    run_population_study(study, _runner(space, tiny, hold_out, seeds=(0, 1)), population=4,
                         source=_source(study, 16))
    states = {t.number: t.state for t in study.trials}
    assert len(states) == 16 and TrialState.RUNNING not in states.values()
    for trial in study.trials:
        if trial.params["kernel_size"] == 60:
            assert trial.state == TrialState.FAIL
            assert "InvalidArchitectureError" in trial.user_attrs["fail_reason"]
        elif trial.state == TrialState.PRUNED:  # it reported every epoch it trained, 1-based
            trained = len(trial.intermediate_values)
            assert trained < DEFAULTS["max_epochs"]
            assert sorted(trial.intermediate_values) == list(range(1, trained + 1))
            assert trial.user_attrs["epochs_trained"] == trained
        else:
            assert trial.state == TrialState.COMPLETE
            # the first run reports each epoch; as in the single loop, not the one that stops
            # early (best epoch + patience), so it reported all epochs or best + patience
            stop = trial.user_attrs["best_epoch"] + DEFAULTS["early_stopping_patience"]
            assert len(trial.intermediate_values) in (DEFAULTS["max_epochs"], stop)
    lone = [t for t in study.trials
            if t.params["optimizer"] == "sgd" and t.state == TrialState.COMPLETE]
    assert lone, "no SGD trial completed: the test would not cover the lone path"
    alone = _runner(space, tiny, hold_out, seeds=(0, 1), prune=False)
    assert lone[0].value == pytest.approx(alone(FixedTrial(lone[0].params)), rel=1e-12)
    assert any(t.state == TrialState.PRUNED and t.params["optimizer"] == "adam"
               for t in study.trials), "no trial was pruned inside a population"
    assert TrialState.FAIL in states.values()


def test_an_interruption_leaves_no_trial_running(
    tiny: Spectra, hold_out: list[Evaluation], mlp_space: dict[str, Any]
) -> None:
    def stop(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        raise KeyboardInterrupt

    study = _study()
    with pytest.raises(KeyboardInterrupt):
        run_population_study(study, _runner(mlp_space, tiny, hold_out), population=3,
                             source=_source(study, 6), callbacks=[stop])
    states = [t.state for t in study.trials]
    assert len(states) == 3 and TrialState.RUNNING not in states
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and all(t.user_attrs["fail_reason"] == STOPPED for t in failed)


def test_population_size_by_hand() -> None:
    spec = ArchSpec(conv=(ConvBlock(1, 5),), fc=(DenseBlock(16), DenseBlock(4)), n_outputs=1)
    summary = validate_arch(spec, 1, 100)
    activations = 96 + 16 + 4 + 1  # conv output 1x96, the dense layers, the output (no flatten)
    assert [layer.name for layer in summary.layers][1] == "flatten"
    per_member = 4 * (5 * summary.n_params + 3 * 32 * activations + 50 * activations + 32 * 100)
    free = 1_000 * per_member
    assert population_size(summary, 32, 50, free) == 500  # half the free memory
    assert population_size(summary, 32, 50, 10 * free) == 512  # capped
    assert population_size(summary, 32, 50, 0) == 1


def test_bad_population_is_refused(
    tiny: Spectra, hold_out: list[Evaluation], mlp_space: dict[str, Any]
) -> None:
    runner, study = _runner(mlp_space, tiny, hold_out), _study()
    with pytest.raises(ValueError, match="population must be an integer >= 1, got population=0"):
        run_population_study(study, runner, population=0, source=_source(study, 3))
    with pytest.raises(ValueError, match="by free GPU memory; the device is cpu"):
        run_population_study(study, runner, population=None, source=_source(study, 3))
