"""The final stage: PLS as a member, the CNN+PLS blend and the accuracy levers of a trial."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from spectune.data import make_synthetic
from spectune.exceptions import SpectuneError
from spectune.models import PLSRegressionCV
from spectune.training._files import load_model, save_model
from spectune.training._residual import pls_only_network
from spectune.tuning._final import _refit_mode
from spectune.tuning._run import TuneSettings, tune
from spectune.tuning._space import SearchSpace

SPACE = {"name": "levers", "parameters": {
    "pls_residual": {"type": "categorical", "choices": [False, True]},
    "route": "snv", "standardise": True, "n_fc": 1,
    "units_1": {"type": "int", "low": 4, "high": 16},
    "aug": {"type": "categorical", "choices": [False, True]},
    "aug_offset": {"type": "float", "low": 0.0, "high": 0.2, "when": "aug"},
    "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "batch_size": 16, "max_epochs": 8, "early_stopping_patience": 4,
}}


def test_pls_member_predicts_exactly_the_cv_chosen_pls(tmp_path: Path) -> None:
    spectra, _ = make_synthetic(60, 50, random_state=1)
    X, y = spectra.flat_X().astype(np.float64), spectra.y[:, 0]
    member = pls_only_network(X, y, seed=0)
    reference = PLSRegressionCV(20, cv=5, random_state=0).fit(X, y)
    np.testing.assert_allclose(member.predict(X)[:, 0], reference.predict(X).ravel(), atol=1e-6)
    save_model(tmp_path / "m", [member], wavelengths=spectra.wavelengths, target_names=["y"])
    np.testing.assert_allclose(load_model(tmp_path / "m").predict(X), member.predict(X))


@pytest.fixture(scope="module")
def levers_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    spectra, _ = make_synthetic(90, 40, target_kind="quadratic", random_state=3)
    out = tmp_path_factory.mktemp("levers") / "run"
    result = tune(spectra, out, TuneSettings(
        space=str(_space_file(out.parent)), n_trials=6, max_epochs=8, min_resource=2,
        sampler="random", seed=0, show_progress=False,
    ))
    return {"result": result, "out": out}


def _space_file(folder: Path) -> Path:
    import yaml

    path = folder / "space.yaml"
    path.write_text(yaml.safe_dump(SearchSpace.from_dict(SPACE).spec))
    return path


def test_trials_use_residual_and_augmentation_switches(levers_run: dict) -> None:
    study = levers_run["result"].study
    seen = {(t.params.get("pls_residual"), t.params.get("aug")) for t in study.trials}
    assert len(seen) > 1  # both switches were drawn both ways and the trials ran
    assert all(t.user_attrs.get("fail_reason") is None for t in study.trials)


def test_blend_weights_come_from_the_tuning_set_and_are_saved(levers_run: dict) -> None:
    metrics, out = levers_run["result"].metrics, levers_run["out"]
    blend = metrics["cnn"]["blend"]
    weights = blend["weights"]
    assert weights["cnn"] >= 0 and weights["pls"] >= 0
    assert weights["cnn"] + weights["pls"] == pytest.approx(1.0)
    assert blend["tune_rmse"]["blend"] <= min(blend["tune_rmse"]["cnn"],
                                               blend["tune_rmse"]["pls"]) + 1e-9
    saved = load_model(out / "model")
    assert saved.weights.sum() == pytest.approx(1.0)
    assert len(saved.members) == metrics["cnn"]["ensemble"]["n_members"] + (weights["pls"] > 0)


def test_ensemble_size_is_chosen_on_the_tuning_set(levers_run: dict) -> None:
    ensemble = levers_run["result"].metrics["cnn"]["ensemble"]
    errors = {int(k): v for k, v in ensemble["tune_top"]["errors_by_k"].items()}
    assert ensemble["tune_top"]["k"] == len(ensemble["trials"])
    assert errors[ensemble["tune_top"]["k"]] <= min(errors.values()) * (1 + 1e-3)


def test_bad_ensemble_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="--ensemble 5 is larger than the number of trials"):
        TuneSettings(n_trials=3, ensemble_top=5)
    with pytest.raises(ValueError, match="--ensemble"):
        TuneSettings(ensemble_top=0)


def test_refit_none_keeps_the_best_trials_calibration_network(tmp_path: Path) -> None:
    spectra, _ = make_synthetic(70, 40, random_state=4)
    out = tmp_path / "run"
    result = tune(spectra, out, TuneSettings(
        space=str(_space_file(tmp_path)), n_trials=3, max_epochs=6, min_resource=2,
        sampler="random", refit="none", ensemble_top=1, blend_pls=False, show_progress=False,
    ))
    best = result.study.best_trial.number
    final, kept = load_model(out / "model"), load_model(out / "trials" / str(best))
    X = spectra.flat_X()
    np.testing.assert_allclose(final.predict(X), kept.predict(X))
    with pytest.raises(ValueError, match="--refit none"):
        TuneSettings(refit="none", cv=3)


@pytest.mark.parametrize(("settings", "mode"), [
    ({}, "none"),  # hold-out tuning set: keep the networks the ensemble and blend were chosen for
    ({"cv": 3}, "scratch"), ({"pareto": True}, "scratch"), ({"ensemble_seeds": 2}, "scratch"),
    ({"refit": "warm"}, "warm"), ({"refit": "scratch"}, "scratch"),
])
def test_auto_refit_keeps_calibration_networks_only_where_a_study_has_them(settings, mode) -> None:
    assert TuneSettings(**settings).refit_mode == mode


def test_auto_refit_falls_back_to_scratch_when_no_network_was_kept_here(tmp_path: Path) -> None:
    study = optuna.create_study()
    for value in (1.0, 2.0):
        study.add_trial(optuna.trial.create_trial(value=value))
    chosen = study.trials
    assert _refit_mode(TuneSettings(), tmp_path, chosen) == "scratch"  # workers kept them elsewhere
    with pytest.raises(SpectuneError, match=r"--refit none needs the chosen trials' networks .*"
                                            r"trials \[0, 1\].*use --refit scratch"):
        _refit_mode(TuneSettings(refit="none"), tmp_path, chosen)
    for trial in chosen:
        (tmp_path / "trials" / str(trial.number)).mkdir(parents=True)
        (tmp_path / "trials" / str(trial.number) / "model.json").write_text("{}")
    assert _refit_mode(TuneSettings(), tmp_path, chosen) == "none"
    assert _refit_mode(TuneSettings(refit="warm"), tmp_path, chosen) == "warm"
