"""The applicability domain from the command line: fit stores it, predict flags spectra and
warns in one line, baseline --screen-outliers leaves flagged calibration spectra out.
Issue 16's Done-when on the fermentation data (off-line calibration, on-line test, full range)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune.cli import main
from spectune.data import export_dataset, make_synthetic
from spectune.training._files import load_model

FAST = ["--arch", "mlp", "--epochs", "3", "--patience", "2", "--batch-size", "16"]


def _run(*args: str | Path) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def fermentation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fermentation tables and a model fitted on the off-line spectra, full range."""
    folder = tmp_path_factory.mktemp("fermentation")
    train, test = export_dataset("fermentation", folder)
    assert _run("fit", train, "--test", test, "--target", "glucose", "--id-column", "sample",
                *FAST, "--out", folder / "model") == 0
    return {"train": train, "test": test, "model": folder / "model"}


def test_fit_counts_the_test_spectra_outside_the_domain(fermentation) -> None:
    metrics = json.loads((fermentation["model"] / "metrics.json").read_text())
    summary = metrics["domain"]["test"]
    assert summary["n"] == 34 and summary["n_outside"] >= 31  # on-line spectra: most outside
    model = load_model(fermentation["model"])
    X = pd.read_csv(fermentation["test"]).drop(columns=["sample", "glucose"]).to_numpy()
    assert summary["n_outside"] == int((~model.domain.score(X).in_domain).sum())


def _domain_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "calibration domain" in r.getMessage()]


def test_predict_flags_on_line_spectra_and_warns_once(fermentation, tmp_path: Path,
                                                      caplog) -> None:
    out = tmp_path / "preds.csv"
    assert _run("predict", fermentation["model"], fermentation["test"], "--id-column", "sample",
                "--out", out) == 0
    preds = pd.read_csv(out)
    assert list(preds.columns)[-3:] == ["t2", "q", "in_domain"]
    outside = int((~preds["in_domain"]).sum())
    assert outside >= 31
    (warning,) = _domain_warnings(caplog)
    assert "\n" not in warning
    assert warning.startswith(f"{outside} of 34 spectra ({outside / 34:.0%}) lie outside the "
                              "calibration domain")
    # the columns are the stored domain's scores
    X = pd.read_csv(fermentation["test"]).drop(columns=["sample", "glucose"]).to_numpy()
    scores = load_model(fermentation["model"]).domain.score(X)
    np.testing.assert_allclose(preds["t2"], scores.t2, rtol=1e-6)  # float32 spectra
    np.testing.assert_allclose(preds["q"], scores.q, rtol=1e-6)


def test_calibration_spectra_are_inside_and_raise_no_warning(fermentation, tmp_path: Path,
                                                             caplog) -> None:
    out = tmp_path / "preds.csv"
    assert _run("predict", fermentation["model"], fermentation["train"], "--out", out) == 0
    assert pd.read_csv(out)["in_domain"].all()
    assert _domain_warnings(caplog) == []


def test_domain_warning_threshold_is_an_option(fermentation, tmp_path: Path, caplog,
                                               capsys) -> None:
    out = tmp_path / "preds.csv"
    assert _run("predict", fermentation["model"], fermentation["test"], "--out", out,
                "--domain-warning", "1") == 0
    assert _domain_warnings(caplog) == []
    assert _run("predict", fermentation["model"], fermentation["test"], "--out", out,
                "--overwrite", "--domain-warning", "-0.5") == 2
    assert "--domain-warning: -0.5 is out of range; give a share from 0 to 1" in \
        capsys.readouterr().err


def test_baseline_screen_outliers_leaves_planted_outliers_out(tmp_path: Path, capsys) -> None:
    spectra, _ = make_synthetic(60, 50, random_state=0)
    X, y = spectra.flat_X().astype(float), spectra.y[:, 0].astype(float)
    X[4] += 0.3 * np.exp(-0.5 * ((np.arange(50) - 15) / 2.0) ** 2)  # a foreign band
    y[9] += 8 * y.std()  # a wrong reference value
    table = pd.DataFrame(X, columns=[f"{w:.3f}" for w in spectra.wavelengths])
    table.insert(0, "y", y)
    table.insert(0, "sample", [f"s{i}" for i in range(60)])
    test = table.iloc[48:]
    table.iloc[:48].to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    common = ["baseline", tmp_path / "train.csv", "--test", tmp_path / "test.csv", "--target",
              "y", "--id-column", "sample", "--max-components", "6"]
    assert _run(*common, "--out", tmp_path / "plain") == 0
    capsys.readouterr()
    assert _run(*common, "--screen-outliers", "--out", tmp_path / "screened") == 0
    out = capsys.readouterr().out
    screened = json.loads((tmp_path / "screened" / "metrics.json").read_text())
    report = screened["screening"]
    assert {"s4", "s9"} <= set(report["outlier_ids"]) and report["n"] == 48
    assert f"outlier screening left out {report['n_outliers']} of 48 calibration spectra: " in out
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert "screening" not in plain  # off by default
    assert screened["pls"]["test"]["rmse"] < plain["pls"]["test"]["rmse"]
