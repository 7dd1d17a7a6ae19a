"""Every built-in space runs through ``tune`` end to end, and no trial trains more epochs than
the run allows, whatever the space says (passos: 450, shen: drawn up to 300)."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from spectune.data import Spectra, make_synthetic
from spectune.tuning import TuneSettings
from spectune.tuning._run import tune

EPOCHS = 3


def _positive(task: str) -> Spectra:
    """60 synthetic spectra of 40 points, offset to be positive (Shen's absorbance channels)."""
    spectra = make_synthetic(n_samples=60, n_points=40, task=task, random_state=0)[0]
    return Spectra(spectra.X + 0.5, spectra.wavelengths, y=spectra.y, task=task)


@pytest.mark.parametrize("space, task", [("default", "regression"), ("passos", "regression"),
                                         ("shen", "regression"), ("passos", "classification")])
def test_builtin_space_runs_within_the_runs_epochs(space: str, task: str, tmp_path: Path) -> None:
    settings = TuneSettings(space=space, n_trials=2, max_epochs=EPOCHS, patience=2,
                            min_resource=1, show_progress=False, seed=0)
    result = tune(_positive(task), tmp_path / "run", settings)
    study = result.study
    assert result.metrics["study"]["n_trials"] == 2
    trained = [t for t in study.trials if "epochs_trained" in t.user_attrs]
    assert trained, "no trial trained"
    for trial in trained:
        assert trial.user_attrs["epochs_trained"] <= EPOCHS, trial.number
        assert max(trial.intermediate_values, default=0) <= EPOCHS
    stored = study.user_attrs["settings"]
    assert stored["max_epochs"] == EPOCHS  # Hyperband's largest resource: the run's epochs
    if space == "passos":  # its LR range test runs, as its comment says, and sets every LR
        lr_min, lr_max = study.user_attrs["lr_range"]
        assert stored["lr_mode"] == "range-test"
        assert lr_min <= lr_max
        assert all(t.user_attrs["lr"] == pytest.approx(lr_max) for t in trained)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete

