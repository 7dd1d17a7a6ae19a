"""A new study starts with cheap, known-good configurations, sized to the data, queued once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import TrialState

from spectune.data import Spectra, load_dataset
from spectune.tuning import TuneSettings
from spectune.tuning._first_trials import first_trials
from spectune.tuning._run import prepare, tune
from spectune.tuning._space import SearchSpace, load_space


def test_the_default_space_starts_with_the_two_presets(tiny: Spectra, tmp_path: Path,
                                                      quick: Callable[..., TuneSettings]) -> None:
    found = prepare(tiny, quick(space="default"), out=tmp_path)
    queued = [t for t in found.study.trials if t.state == TrialState.WAITING]
    assert [t.user_attrs["first_trial"] for t in queued] == [
        "small PLS-residual MLP", "Passos & Mishra CNN"]
    mlp, cnn = (t.system_attrs["fixed_params"] for t in queued)
    assert mlp["pls_residual"] and mlp["n_conv"] == 0 and mlp["units_1"] == 32
    assert cnn["route"] == "passos_concat" and cnn["n_conv"] == 1 and cnn["activation"] == "elu"
    # a funnel sized from the conv output: the first layer a quarter of it, then halving
    plan = found.runner.plan(found.runner.space.resolve(cnn))
    flat = next(layer for layer in plan.summary.layers if layer.module == "flatten")
    assert cnn["units_1"] == max(16, round(flat.out_shape[0] / 4))
    assert cnn["units_2"] == max(16, round(cnn["units_1"] / 2))
    for params in (mlp, cnn):  # values the space draws itself: TPE learns from them
        assert found.runner.space.draws(params) == params
    resumed = prepare(tiny, quick(space="default", resume=True), out=tmp_path)
    assert sum("first_trial" in t.user_attrs for t in resumed.study.trials) == 2  # not again


def test_a_space_that_cannot_draw_them_starts_without(tiny: Spectra, tmp_path: Path,
                                                     quick: Callable[..., TuneSettings]) -> None:
    found = prepare(tiny, quick(), out=tmp_path)  # a one-dense-layer space of its own
    assert first_trials(found.runner.space, found.runner) == []
    assert not found.study.trials
    narrow = SearchSpace.from_dict({**load_space("default").spec, "parameters": {
        **load_space("default").spec["parameters"],
        "route": {"type": "categorical", "choices": ["raw", "sg1"]}}})
    assert first_trials(narrow, found.runner) == []  # neither route is in it


@pytest.mark.slow
def test_a_study_cut_short_after_one_trial_has_a_reasonable_model(tmp_path: Path) -> None:
    train, test = (s.select_range(950, 1550) for s in load_dataset("fermentation"))
    settings = TuneSettings(n_trials=1, max_epochs=60, show_progress=False)
    result = tune(train, tmp_path / "run", settings, test=test)
    assert result.metrics["study"]["trials"]["complete"] == 1
    assert result.study.trials[0].user_attrs["first_trial"] == "small PLS-residual MLP"
    assert result.metrics["final"]["test"]["rmse"] <= 1.1 * result.metrics["pls"]["test"]["rmse"]
