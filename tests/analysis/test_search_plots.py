"""Figures of a search (history, slices, parallel coordinates): their data, checked against
hand computations, and the drawing."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from spectune.analysis._importance import ImportanceInfo
from spectune.analysis._parallel import get_parallel_info, plot_parallel
from spectune.analysis._search_plots import (
    get_history_info,
    get_slice_info,
    plot_history,
    plot_slices,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTS = {"x": FloatDistribution(-1.0, 1.0), "lr": FloatDistribution(1e-4, 1e-2, log=True),
         "c": CategoricalDistribution(["a", "b", "c"]), "n_fc": IntDistribution(1, 3)}
# (state, value, params): x exists only in some trials, as a conditional parameter would
ROWS = [
    (TrialState.COMPLETE, 5.0, {"x": -1.0, "lr": 1e-4, "c": "a", "n_fc": 1}),
    (TrialState.COMPLETE, 3.0, {"lr": 1e-3, "c": "b", "n_fc": 2}),
    (TrialState.PRUNED, None, {"x": 0.0, "lr": 1e-3, "c": "a", "n_fc": 1}),
    (TrialState.COMPLETE, 4.0, {"x": 1.0, "lr": 1e-2, "c": "c", "n_fc": 3}),
    (TrialState.FAIL, None, {"x": 0.5, "lr": 1e-3, "c": "a", "n_fc": 1}),
    (TrialState.COMPLETE, 1.0, {"x": 0.5, "lr": 2e-3, "c": "c", "n_fc": 2}),
    (TrialState.COMPLETE, math.inf, {"x": 0.2, "lr": 5e-3, "c": "b", "n_fc": 1}),
    (TrialState.COMPLETE, 2.0, {"lr": 5e-4, "c": "a", "n_fc": 3}),
]


def _study(direction: str = "minimize", sign: float = 1.0) -> optuna.Study:
    study = optuna.create_study(direction=direction)
    for state, value, params in ROWS:
        study.add_trial(create_trial(
            state=state, value=None if value is None else sign * value, params=params,
            distributions={n: DISTS[n] for n in params}))
    return study


def test_history_best_so_far_is_the_running_minimum() -> None:
    study = _study()
    info = get_history_info(study)
    assert info.numbers == (0, 1, 3, 5, 7)  # pruned, failed and the infinite value left out
    assert info.values == (5.0, 3.0, 4.0, 1.0, 2.0)
    assert info.best_so_far == (5.0, 3.0, 3.0, 1.0, 1.0)  # by hand
    assert info.best_number == study.best_trial.number == 5 and info.best_value == 1.0
    assert info.pruned == (2,) and info.failed == (4, 6)
    assert info.direction == "minimize"


def test_history_of_a_maximised_study_keeps_the_running_maximum() -> None:
    study = _study("maximize", -1.0)
    info = get_history_info(study)
    assert info.best_so_far == (-5.0, -3.0, -3.0, -1.0, -1.0)
    assert info.best_number == study.best_trial.number == 5
    assert info.direction == "maximize"


def test_history_of_a_real_run_marks_optunas_best_trial() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", -2, 2) - 0.3) ** 2, n_trials=25)
    info = get_history_info(study)
    assert info.best_number == study.best_trial.number
    assert info.best_so_far == tuple(np.minimum.accumulate([t.value for t in study.trials]))


def test_slice_values_are_the_trial_params() -> None:
    study = _study()
    info = get_slice_info(study, ["lr", "c", "x"])
    lr, c, x = info.panels
    kept = [study.trials[n] for n in (0, 1, 3, 5, 7)]
    assert lr.name == "lr" and lr.scale == "log"
    assert lr.x == tuple(t.params["lr"] for t in kept) and lr.numbers == (0, 1, 3, 5, 7)
    assert lr.y == tuple(t.value for t in kept)
    assert c.scale == "categorical" and c.categories == ("a", "b", "c")
    assert c.x == tuple(float("abc".index(t.params["c"])) for t in kept)
    assert x.scale == "linear" and x.numbers == (0, 3, 5)  # x is absent from trials 1 and 7
    assert x.x == (-1.0, 1.0, 0.5) and x.y == (5.0, 4.0, 1.0)
    assert info.n_trials == 5 and info.direction == "minimize"


def test_slice_default_takes_the_k_most_important() -> None:
    importance = ImportanceInfo(("c", "n_fc", "lr"), (0.5, 0.3, 0.2), ("other",) * 3, "fanova",
                                5, "", (5, 5, 5))
    info = get_slice_info(_study(), k=2, importance=importance)
    assert [p.name for p in info.panels] == ["c", "n_fc"]
    # without an importance, fANOVA ranks them: the dominant parameter comes first
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: 100 * t.suggest_float("a", 0, 1) + t.suggest_float("b", 0, 1),
                   n_trials=30)
    assert [p.name for p in get_slice_info(study).panels] == ["a", "b"]


def test_unknown_params_and_bad_k_are_refused() -> None:
    with pytest.raises(ValueError, match=r"params \['nope'\] are in no complete trial.*'lr'"):
        get_slice_info(_study(), ["lr", "nope"])
    with pytest.raises(ValueError, match="k must be at least 1, got k=0"):
        get_parallel_info(_study(), k=0)


def test_parallel_coordinates_are_scaled_to_the_unit_interval() -> None:
    study = _study()
    info = get_parallel_info(study, ["x", "lr", "c", "n_fc"])
    assert info.names == ("x", "lr", "c", "n_fc", "objective")
    assert info.numbers == (0, 1, 3, 5, 7) and info.coords.shape == (5, 5)
    finite = info.coords[np.isfinite(info.coords)]
    assert finite.min() >= 0.0 and finite.max() <= 1.0
    # x: linear over its range [-1, 1]; absent (NaN) where the trial has no x
    np.testing.assert_allclose(info.coords[:, 0], [0.0, np.nan, 1.0, 0.75, np.nan])
    # lr: log over [1e-4, 1e-2], so 1e-3 is halfway
    expected = (np.log10([1e-4, 1e-3, 1e-2, 2e-3, 5e-4]) + 4) / 2
    np.testing.assert_allclose(info.coords[:, 1], expected)
    np.testing.assert_allclose(info.coords[:, 2], [0.0, 0.5, 1.0, 1.0, 0.0])  # a, b, c, c, a
    np.testing.assert_allclose(info.coords[:, 3], [0.0, 0.5, 1.0, 0.5, 1.0])  # n_fc 1..3
    np.testing.assert_allclose(info.coords[:, 4], [1.0, 0.5, 0.75, 0.0, 0.25])  # objective 1..5
    assert info.ticks[2] == ((0.0, 0.5, 1.0), ("a", "b", "c"))
    assert info.ticks[1] == ((0.0, 0.5, 1.0), ("0.0001", "0.001", "0.01"))
    assert info.numbers[info.best_row] == study.best_trial.number


def test_parallel_best_row_follows_the_direction() -> None:
    study = _study("maximize", -1.0)
    info = get_parallel_info(study, ["lr"])
    assert info.numbers[info.best_row] == study.best_trial.number == 5
    np.testing.assert_allclose(info.coords[:, 1], [0.0, 0.5, 0.25, 1.0, 0.75])


def _check_files(files) -> None:
    png, svg = files
    assert png.suffix == ".png" and png.stat().st_size > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert svg.suffix == ".svg" and ET.parse(svg).getroot().tag.endswith("svg")


@pytest.mark.parametrize("empty", [False, True])
def test_every_drawer_writes_png_and_svg(empty, tmp_path) -> None:
    study = optuna.create_study() if empty else _study()
    params = [] if empty else ["x", "lr", "c"]
    _check_files(plot_history(get_history_info(study), tmp_path / "history", ylabel="RMSE"))
    _check_files(plot_slices(get_slice_info(study, params), tmp_path / "slices"))
    _check_files(plot_parallel(get_parallel_info(study, params), tmp_path / "parallel.png"))
