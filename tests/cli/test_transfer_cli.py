"""``spectune transfer``: a model moved to a second instrument that ``predict`` uses as it is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune.cli import main
from spectune.data import InstrumentResponse, Spectra, kennard_stone, make_instrument_pair
from spectune.models import MLP, ApplicabilityDomain
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._files import load_model, save_model
from spectune.training._network import fit_network
from spectune.training._residual import fit_pls_baseline
from spectune.transfer import METHODS, source_record

N_STANDARDS = 10


def _table(spectra: Spectra, rows: np.ndarray, path: Path, *, target: bool = True,
           wavelengths: np.ndarray | None = None) -> Path:
    frame = pd.DataFrame({"id": spectra.ids[rows]})
    if target:
        frame["c0"] = spectra.y[rows, 0]
    X = spectra.flat_X()[rows]
    if wavelengths is not None:  # the same spectra written on another grid
        X = np.stack([np.interp(wavelengths, spectra.wavelengths, x) for x in X])
    grid = spectra.wavelengths if wavelengths is None else wavelengths
    columns = pd.DataFrame(X, columns=[f"{w:.4f}" for w in grid])
    pd.concat([frame, columns], axis=1).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw PLS model of instrument A, standards on A and B (rows in another order), B test
    spectra, A's calibration table, and a classification model."""
    folder = tmp_path_factory.mktemp("transfer")
    a, b, _ = make_instrument_pair(100, 40, second=InstrumentResponse(shift=40.0, offset=0.02),
                                   random_state=0, scatter=0.0, baseline=0.0,
                                   signal_band=(1550.0, 1850.0))
    cal = np.arange(70)
    pls = fit_pls_baseline(a.flat_X()[cal], a.y[cal], routes=("raw",)).linear
    save_model(folder / "model", [pls], wavelengths=a.wavelengths, target_names=["c0"],
               domain=ApplicabilityDomain("raw").fit(a.flat_X()[cal]))
    chosen = cal[kennard_stone(a.flat_X()[cal], N_STANDARDS)]
    _table(a, chosen, folder / "A.csv", target=False)
    _table(b, chosen[::-1], folder / "B.csv")
    _table(b, np.arange(70, 100), folder / "B_test.csv")
    _table(a, cal, folder / "cal.csv")
    _table(b, chosen[::-1], folder / "B_fine.csv", wavelengths=np.linspace(1000, 2500, 61))
    _table(b, chosen[:-1], folder / "B_missing.csv")
    _table(b, chosen[:3], folder / "B_three.csv")
    _table(a, chosen[:3], folder / "A_three.csv", target=False)
    labels = (a.y[cal, 0] > np.median(a.y[cal, 0])).astype(int)
    classifier = fit_network(a.flat_X()[cal], labels, preprocessing=PreprocessingSpec(("raw",)),
                             arch=MLP(units=(4,)), config=TrainConfig(max_epochs=1),
                             task="classification")
    save_model(folder / "classifier", [classifier], wavelengths=a.wavelengths,
               target_names=["high"])
    return folder


def _rmse(predictions: Path, truth: Path) -> float:
    pred, true = pd.read_csv(predictions), pd.read_csv(truth)
    return float(np.sqrt(np.mean((pred["pred_c0"] - true["c0"]) ** 2)))


def test_transfer_then_predict_on_the_new_instrument(files: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(files)
    code = main(["transfer", "model", "--master", "A.csv", "--slave", "B.csv", "--id-column",
                 "id", "--target", "c0", "--calibration", "cal.csv", "--out", "moved"])
    assert code == 0
    out = capsys.readouterr().out
    assert "chosen:" in out and all(name in out for name in METHODS)
    assert sorted(p.name for p in Path("moved").iterdir()) == [
        ".spectune-output.json", "domain.json", "domain.safetensors", "metrics.json",
        "model.json", "model.safetensors", "report.html"]
    metrics = json.loads(Path("moved/metrics.json").read_text())["transfer"]
    assert [r["method"] for r in metrics["methods"]] == list(METHODS)
    record = load_model(Path("moved")).transfer.record
    assert record["method"] == metrics["method"]
    assert record["source_model"] == source_record(Path("model"))
    assert record["standards"]["n"] == N_STANDARDS
    for model, out_file in (("model", "before.csv"), ("moved", "after.csv")):
        assert main(["predict", model, "B_test.csv", "--id-column", "id", "--out",
                     out_file]) == 0
    assert _rmse(Path("after.csv"), Path("B_test.csv")) < 0.05 * _rmse(Path("before.csv"),
                                                                       Path("B_test.csv"))
    # the domain judges the spectra the model sees: B's as they are lie outside A's domain,
    # B's moved by the transfer lie inside (the domain is the source model's, kept)
    assert metrics["method"] in {"ds", "pds", "sst"}  # a wavelength shift: a spectral map
    assert pd.read_csv("before.csv")["in_domain"].mean() < 0.2
    assert pd.read_csv("after.csv")["in_domain"].mean() > 0.8
    report = Path("moved/report.html").read_text()
    for heading in ("Choice", "Every method&#x27;s CV error", "Every setting tried",
                    "Held-out standards"):
        assert heading in report
    assert "http" not in report.replace('xmlns="http', "")  # nothing to fetch


def test_another_grid_is_interpolated_when_asked(files: Path, monkeypatch) -> None:
    monkeypatch.chdir(files)
    assert main(["transfer", "model", "--master", "A.csv", "--slave", "B_fine.csv",
                 "--id-column", "id", "--methods", "ds", "--resample", "--out",
                 "resampled"]) == 0
    assert load_model(Path("resampled")).transfer is not None


BAD = [
    pytest.param(["--slave", "B_missing.csv"],
                 ["A.csv and B_missing.csv hold different standards", "1 ids only in the first",
                  "measure the same standards on both instruments"], id="different-ids"),
    pytest.param(["--slave", "B_fine.csv"],
                 ["B_fine.csv: the model was trained on 40 points 1000-2500",
                  "this file has 61 points", "pass --resample"], id="another-grid"),
    pytest.param(["--master", "A_three.csv", "--slave", "B_three.csv", "--methods", "pds"],
                 ["method 'pds' needs at least 4 standards; there are 3",
                  "measure more standards"], id="too-few-standards-for-pds"),
    pytest.param(["--methods", "slope-bias", "--target", None],
                 ["method 'slope-bias' needs reference values of the standards (--target)"],
                 id="slope-bias-without-references"),
    pytest.param(["--model", "classifier"],
                 ["classifier: a classification model; transfer corrects regression models"],
                 id="classification-model"),
    pytest.param(["--target", "c1"],
                 ["--target c1: model predicts c0; give the reference columns of the model's"],
                 id="model-of-another-target"),
]


@pytest.mark.parametrize("changes, parts", BAD)
def test_bad_input_is_one_line_and_writes_nothing(files: Path, monkeypatch, capsys,
                                                  changes: list, parts: list[str]) -> None:
    monkeypatch.chdir(files)
    options = {"--master": "A.csv", "--slave": "B.csv", "--id-column": "id", "--target": "c0",
               "--out": "bad", "--model": "model"}
    extra = []
    for flag, value in zip(changes[::2], changes[1::2], strict=True):
        if flag in options:
            options[flag] = value
        else:
            extra += [flag, value]
    model = options.pop("--model")
    argv = ["transfer", model, *extra]
    for flag, value in options.items():
        argv += [] if value is None else [flag, value]
    before = set(Path(".").iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spectune transfer: error: ")
    for part in parts:
        assert part in err
    assert set(Path(".").iterdir()) == before  # no output, no temporary folder
