"""TrialRunner: one trial's value by hand, failures and pruning recorded, never a halted study."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import FixedTrial, TrialState
from sklearn.metrics import mean_squared_error

from spectune.data import Spectra
from spectune.models import ArchSpec, DenseBlock
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._network import fit_network
from spectune.tuning import SearchSpace
from spectune.tuning._objectives import Objective
from spectune.tuning._trial import Evaluation, TrialRunner

DEFAULTS = {"max_epochs": 4, "early_stopping_patience": 20}


def _runner(space: dict[str, Any], pool: Spectra, evaluations: list[Evaluation],
            objective: Objective | None = None, **kwargs: Any) -> TrialRunner:
    return TrialRunner(SearchSpace.from_dict(space), pool, evaluations, objective or Objective(),
                       train_defaults=DEFAULTS, **kwargs)


def test_overfit_value_over_two_seeds_equals_hand_computation(
    tiny: Spectra, hold_out: list[Evaluation], mlp_space: dict[str, Any]
) -> None:
    params = {"units": 7, "lr": 0.01}
    objective = Objective("overfit", weights=(0.4, 0.6))
    trial = FixedTrial(params)
    value = _runner(mlp_space, tiny, hold_out, objective, seeds=(3, 4))(trial)

    cal, tune = tiny[hold_out[0].train], tiny[hold_out[0].val]
    by_hand, cal_rmse, tune_rmse = [], [], []
    for seed in (3, 4):
        net = fit_network(
            cal.flat_X(), cal.y, preprocessing=PreprocessingSpec(("raw",), "concat", False),
            arch=ArchSpec(fc=(DenseBlock(7),), n_outputs=1),
            config=TrainConfig(lr=0.01, batch_size=16, seed=seed, **DEFAULTS),
            X_val=tune.flat_X(), y_val=tune.y,
        )
        mse_cal = mean_squared_error(cal.y, net.predict(cal.flat_X()))
        mse_tune = mean_squared_error(tune.y, net.predict(tune.flat_X()))
        by_hand.append(0.4 * np.sqrt(mse_tune) + 0.6 * abs(mse_tune - mse_cal))
        cal_rmse.append(np.sqrt(mse_cal))
        tune_rmse.append(np.sqrt(mse_tune))
    assert by_hand[0] != by_hand[1]  # the seeds matter, so the mean is a real mean
    assert value == pytest.approx(np.mean(by_hand), rel=1e-9)
    assert trial.user_attrs["cal_rmse"] == pytest.approx(np.mean(cal_rmse), rel=1e-9)
    assert trial.user_attrs["tune_rmse"] == pytest.approx(np.mean(tune_rmse), rel=1e-9)
    assert trial.user_attrs["n_params"] == 42 * 7 + 1  # 40*7 + 7 weights/biases, 7 + 1 output
    assert trial.user_attrs["preprocessing"] == "raw"


def test_pareto_trial_returns_error_and_parameter_count(
    tiny: Spectra, hold_out: list[Evaluation], mlp_space: dict[str, Any]
) -> None:
    runner = _runner(mlp_space, tiny, hold_out, Objective("rmse", pareto=True))
    assert runner.prune is False  # Optuna cannot prune multi-objective studies
    trial = FixedTrial({"units": 5, "lr": 0.01})
    error, n_params = runner(trial)
    assert n_params == 42 * 5 + 1
    assert error == pytest.approx(trial.user_attrs["tune_rmse"], rel=1e-12)


def test_lr_range_replaces_the_space_learning_rate(
    tiny: Spectra, hold_out: list[Evaluation], mlp_space: dict[str, Any]
) -> None:
    runner = _runner(mlp_space, tiny, hold_out, lr_range=(2e-4, 5e-3))
    plan = runner.plan({"units": 5, "lr": 0.02})
    assert (plan.train.lr, plan.train.lr_min) == (5e-3, 2e-4)
    assert plan.train.max_epochs == DEFAULTS["max_epochs"]


def test_diverged_and_crashing_trials_fail_with_their_reason_and_the_study_goes_on(
    tiny: Spectra, hold_out: list[Evaluation], monkeypatch: pytest.MonkeyPatch
) -> None:
    space = {"parameters": {"units": 4, "optimizer": "sgd", "batch_size": 16,
                            "lr": {"type": "categorical", "choices": [1.0e-3, 1.0e10]}}}
    runner = _runner(space, tiny, hold_out)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(runner, n_trials=6, catch=(Exception,))
    assert len(study.trials) == 6
    for trial in study.trials:
        if trial.params["lr"] > 1:
            assert trial.state == TrialState.FAIL
            assert trial.user_attrs["fail_reason"].startswith("DivergedError: ")
            assert "non-finite" in trial.user_attrs["fail_reason"]
        else:
            assert trial.state == TrialState.COMPLETE and np.isfinite(trial.value)
    assert {t.state for t in study.trials} == {TrialState.FAIL, TrialState.COMPLETE}

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("x" * 1000)

    monkeypatch.setattr("spectune.tuning._trial.fit_network", boom)
    study.optimize(runner, n_trials=1, catch=(Exception,))
    reason = study.trials[-1].user_attrs["fail_reason"]
    assert reason.startswith("RuntimeError: xxx") and len(reason) == 500


def test_pruned_trial_becomes_optuna_pruned(
    tiny: Spectra, hold_out: list[Evaluation], mlp_space: dict[str, Any]
) -> None:
    # Any RMSE is above 0: the pruner stops every trial after its first epoch.
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    study.optimize(_runner(mlp_space, tiny, hold_out), n_trials=2)
    for trial in study.trials:
        assert trial.state == TrialState.PRUNED
        assert list(trial.intermediate_values) == [1]  # the resource: epochs trained
        assert "fail_reason" not in trial.user_attrs and trial.user_attrs["wall_s"] >= 0
        assert trial.user_attrs["epochs_trained"] == 1


def test_k_fold_trial_reports_the_first_fold_only(
    tiny: Spectra, mlp_space: dict[str, Any]
) -> None:
    folds = [Evaluation(np.arange(20, 60), np.arange(0, 20)),
             Evaluation(np.arange(0, 40), np.arange(40, 60))]
    reported: list[int] = []
    study = optuna.create_study()
    trial = study.ask()
    trial.report = lambda value, step: reported.append(step)  # type: ignore[method-assign]
    value = _runner(mlp_space, tiny, folds)(trial)
    assert reported == list(range(1, DEFAULTS["max_epochs"] + 1))  # one fold's, not two
    assert np.isfinite(value)
