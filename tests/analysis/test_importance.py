"""Hyperparameter importance: Optuna's evaluators, conditional parameters, groups, the bar chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.importance import (
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from optuna.trial import TrialState, create_trial

from spectune.analysis._importance import (
    GROUPS,
    ImportanceInfo,
    get_importance_info,
    group_of,
    importance_figure,
    plot_importance,
)
from spectune.tuning import BUILTIN_SPACES, SearchSpace, load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

_CATEGORY = {"a": 0.0, "b": 0.5, "c": 1.0}


def _dominated(trial: optuna.Trial) -> float:
    """x explains ~100 times more than y or c."""
    x, y = trial.suggest_float("x", -1, 1), trial.suggest_float("y", -1, 1)
    return 100 * x**2 + y**2 + _CATEGORY[trial.suggest_categorical("c", list(_CATEGORY))]


def _random_study(objective, n_trials: int, direction: str = "minimize", directions=None
                  ) -> optuna.Study:
    study = optuna.create_study(direction=None if directions else direction,
                                directions=directions,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n_trials)
    return study


@pytest.fixture(scope="module")
def dominated() -> optuna.Study:
    return _random_study(_dominated, 60)


SPACE = SearchSpace.from_dict({"parameters": {
    "n_fc": {"type": "int", "low": 1, "high": 3},
    "units_{i}": {"type": "int", "low": 8, "high": 64, "log": True, "repeat": {"i": [1, 3]},
                  "when": "n_fc >= {i}"},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
}})


@pytest.fixture(scope="module")
def conditional() -> optuna.Study:
    def objective(trial: optuna.Trial) -> float:
        p = SPACE.sample(trial)  # units_2 drives the value where it exists
        return 10 * (p.get("units_2", 0) / 64) ** 2 + 10 * p["lr"]

    return _random_study(objective, 40)


def _as_dict(info: ImportanceInfo) -> dict[str, float]:
    return dict(zip(info.names, info.values, strict=True))


def test_fanova_ranks_the_dominant_parameter_first_as_optuna_does(dominated) -> None:
    info = get_importance_info(dominated, evaluator="fanova", seed=0)
    assert info.names[0] == "x" and set(info.names) == {"x", "y", "c"}
    assert info.values[0] > 0.9
    reference = get_param_importances(dominated, evaluator=FanovaImportanceEvaluator(seed=0))
    assert _as_dict(info) == pytest.approx(reference)
    assert sum(info.values) == pytest.approx(1.0)
    assert list(info.values) == sorted(info.values, reverse=True)
    assert info.n_trials == 60 and info.n_used == (60, 60, 60)
    assert info.groups == ("other",) * 3 and info.evaluator == "fanova"
    assert "3 parameters present in every trial" in info.note


def test_ped_anova_ranks_the_dominant_parameter_first_as_optuna_does(dominated) -> None:
    # Stable here: 60 trials put 6 in PED-ANOVA's top 10 %, and x decides which ones they are.
    info = get_importance_info(dominated, evaluator="ped_anova")
    assert info.names[0] == "x" and set(info.names) == {"x", "y", "c"}
    reference = get_param_importances(dominated, evaluator=PedAnovaImportanceEvaluator())
    assert _as_dict(info) == pytest.approx(reference)
    assert "unstable" not in info.note


def test_ped_anova_follows_the_direction() -> None:
    # The same draws (RandomSampler ignores values); maximising -f must rank the same trials best.
    low = get_importance_info(_random_study(_dominated, 30), evaluator="ped_anova")
    high = get_importance_info(_random_study(lambda t: -_dominated(t), 30, "maximize"),
                               evaluator="ped_anova")
    assert _as_dict(high) == pytest.approx(_as_dict(low))
    assert "Only 30 trials" in low.note  # below ~50 trials PED-ANOVA is flagged as unstable


def test_multi_objective_study_is_scored_on_its_first_objective() -> None:
    study = _random_study(lambda t: (_dominated(t), t.params["y"]), 30,
                          directions=["minimize", "minimize"])
    info = get_importance_info(study)
    assert info.names[0] == "x"
    assert "first objective" in info.note


def test_fanova_scores_conditional_parameters_over_the_trials_where_they_exist(conditional) -> None:
    info = get_importance_info(conditional, evaluator="fanova", space=SPACE)
    found = _as_dict(info)
    used = dict(zip(info.names, info.n_used, strict=True))
    trials = conditional.get_trials(states=(TrialState.COMPLETE,))
    with_2 = [t for t in trials if "units_2" in t.params]
    assert used["units_2"] == len(with_2) == sum(t.params["n_fc"] >= 2 for t in trials)
    assert 5 <= len(with_2) < len(trials)
    assert f"units_2 (when n_fc >= 2, {len(with_2)} trials)" in info.note
    # its value is Optuna's fANOVA over those trials, on the parameters they all have
    subset = get_param_importances(conditional, evaluator=FanovaImportanceEvaluator(seed=0),
                                   params=["lr", "n_fc", "units_1", "units_2"])
    assert found["units_2"] == pytest.approx(subset["units_2"])
    assert found["units_2"] > 0.5  # it drives the value in its subset
    # the parameters of every trial are scored together, as Optuna does without params=
    everywhere = {n for n in info.names if used[n] == len(trials)}
    assert everywhere == {"n_fc", "units_1", "lr"}
    reference = get_param_importances(conditional, evaluator=FanovaImportanceEvaluator(seed=0))
    assert {n: found[n] for n in everywhere} == pytest.approx(reference)


def test_conditions_are_named_only_when_the_space_is_given(conditional) -> None:
    info = get_importance_info(conditional)
    n = sum("units_2" in t.params for t in conditional.trials)
    assert f"units_2 ({n} trials)" in info.note and "when" not in info.note


def test_conditional_parameters_with_too_few_trials_are_skipped_and_said(conditional) -> None:
    info = get_importance_info(conditional, space=SPACE, min_conditional_trials=1000)
    assert set(info.names) == {"n_fc", "units_1", "lr"}
    assert "Not scored: units_2 (when n_fc >= 2," in info.note
    assert "fewer than 1000" in info.note


def test_ped_anova_scores_conditional_parameters_itself(conditional) -> None:
    info = get_importance_info(conditional, evaluator="ped_anova", space=SPACE)
    assert set(info.names) == {"n_fc", "units_1", "units_2", "units_3", "lr"}
    n = sum("units_3" in t.params for t in conditional.trials)
    assert f"units_3 (when n_fc >= 3, {n} of 40 trials)" in info.note
    assert dict(zip(info.names, info.n_used, strict=True))["units_3"] == n
    assert "Only 40 trials" in info.note


def _hand_study(values: list[float], choices: list[str]) -> optuna.Study:
    study = optuna.create_study()
    dists = {"x": CategoricalDistribution(["p", "q"])}
    for value, choice in zip(values, choices, strict=True):
        study.add_trial(create_trial(params={"x": choice}, distributions=dists, value=value))
    study.add_trial(create_trial(params={"x": "q"}, distributions=dists, value=None,
                                 state=TrialState.PRUNED))
    return study


@pytest.mark.parametrize("evaluator", ["fanova", "ped_anova"])
@pytest.mark.parametrize(("values", "choices", "reason"), [
    ([], [], "0 trials"),
    ([1.0], ["p"], "1 trial "),
    ([2.0, 2.0, 2.0], ["p", "q", "p"], "have the same value, 2"),
    ([1.0, 2.0, 3.0], ["p", "p", "p"], "no parameter takes more than one value"),
])
def test_degenerate_studies_give_an_empty_info_with_the_reason(values, choices, reason,
                                                              evaluator) -> None:
    info = get_importance_info(_hand_study(values, choices), evaluator=evaluator)
    assert info.names == info.values == info.groups == ()
    assert info.n_trials == len(values)
    assert info.note.startswith("No importance:") and reason in info.note


def test_bad_arguments_are_refused(dominated) -> None:
    with pytest.raises(ValueError, match="evaluator must be 'fanova' or 'ped_anova'.*'shap'"):
        get_importance_info(dominated, evaluator="shap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_conditional_trials must be at least 2, got"):
        get_importance_info(dominated, min_conditional_trials=1)


@pytest.mark.parametrize(("names", "group"), [
    (["lr", "l2", "l2_beta", "batch_size", "optimizer", "max_epochs", "epochs", "init",
      "plateau_patience", "early_stopping_patience"], "training"),
    (["route", "standardise", "ch_refl", "ch_abs_d1", "ch_abs_snv", "aug", "aug_shift"], "input"),
    (["n_conv", "filters", "filters_2", "kernel_size", "kernel_size_3", "pool", "pool_1",
      "pool_size_2", "conv_bn_1", "conv_dropout_3", "stride"], "conv"),
    (["n_fc", "units_1", "units_12", "dropout", "dropout_2", "fc_bn_3", "activation",
      "n_dense"], "fc"),
    (["colour", "units2", "x"], "other"),
])
def test_group_of(names, group) -> None:
    assert [group_of(n) for n in names] == [group] * len(names)


@pytest.mark.parametrize("name", [*BUILTIN_SPACES, "passos_classification"])
def test_every_builtin_space_parameter_has_a_group(name) -> None:
    space = load_space(name)
    assert {p.name: group_of(p.name) for p in space.parameters if p.type != "fixed"
            and group_of(p.name) == "other"} == {}


def _check_files(files) -> None:
    png, svg = files
    assert png.suffix == ".png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert svg.suffix == ".svg" and ET.parse(svg).getroot().tag.endswith("svg")


def test_plot_importance_draws_one_bar_per_parameter(conditional, tmp_path) -> None:
    info = get_importance_info(conditional, space=SPACE)
    (ax,) = importance_figure(info).axes
    bars = ax.containers[0]
    assert len(bars) == len(info.names)
    labels = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    assert sorted(labels, key=lambda n: -labels[n]) == list(info.names)  # most important on top
    hatched = [bar.get_hatch() == "//" for bar in bars]
    assert hatched == [n < info.n_trials for n in info.n_used]  # conditional ones hatched
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"fc", "training"}
    assert set(info.groups) <= set(GROUPS)
    _check_files(plot_importance(info, tmp_path / "importance"))


def test_plot_importance_of_an_empty_info_shows_the_note(tmp_path) -> None:
    info = get_importance_info(_hand_study([], []))
    (ax,) = importance_figure(info).axes
    assert "No importance" in ax.texts[0].get_text()
    _check_files(plot_importance(info, tmp_path / "empty.png"))
