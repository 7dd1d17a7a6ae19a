"""The HTML report of a run: every section, self-contained, honest verdict, graceful notes.

Two tiny real runs (regression with failing draws, classification) are tuned once per module
and reported; the degraded cases work on copies of the regression folder with pieces removed,
with matplotlib's rendering replaced by a stub (what is drawn is not what they test).
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html import escape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.figure import Figure
from optuna.trial import TrialState
from PIL import Image
from safetensors.numpy import save_file

from spectune.analysis import _report_model, _report_sections
from spectune.analysis._report import load_run, write_report
from spectune.analysis._report_sections import verdict_sentence
from spectune.data import make_synthetic, split_indices
from spectune.exceptions import SpectuneError
from spectune.models import MLP
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import LRRangeResult, _residual
from spectune.training._config import TrainConfig
from spectune.training._files import save_model
from spectune.training._network import fit_network
from spectune.tuning import TuneSettings, _trial
from spectune.tuning._run import tune

#: Conv nets on 40-point spectra; a kernel of 41 cannot be built, so some draws fail.
SPACE = {"parameters": {
    "route": {"type": "categorical", "choices": ["raw", "snv"]},
    "n_conv": {"type": "int", "low": 1, "high": 2},
    "filters_{i}": {"type": "int", "low": 2, "high": 4, "repeat": {"i": [1, 2]},
                    "when": "n_conv >= {i}"},
    "kernel_size": {"type": "categorical", "choices": [3, 41]},
    "pool": "max", "pool_size": 2, "n_fc": 1,
    "units_1": {"type": "int", "low": 4, "high": 8},
    "lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
    "batch_size": 16,
}}
HEADINGS = ("1. Verdict: the final model against the best model of the table", "2. Data",
            "3. Search",
            "4. Hyperparameter importance", "5. Model",
            "6. Explanations: which wavelengths the models use", "7. Reproducing this run")
ERROR_NOTE = 'class="note error"'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _quick_pls(X: Any, y: Any, **kwargs: Any) -> Any:
    """PLS chosen among 4 components of the raw route by 3-fold CV (it has tests of its own)."""
    return _original_pls(X, y, max_components=4, routes=("raw",), cv=3,
                         random_state=kwargs.get("random_state", 0))


_original_pls = _residual.fit_pls_baseline


@pytest.fixture(scope="module")
def quick_tuning() -> Iterator[SimpleNamespace]:
    """Tuning settings for a few-second run, with PLS searched over the raw route only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_residual, "fit_pls_baseline", _quick_pls)
        patch.setattr(_trial, "fit_pls_baseline", _quick_pls)
        patch.setattr("optuna.study._optimize.gc", SimpleNamespace(collect=lambda: 0))
        yield SimpleNamespace(settings=TuneSettings(
            space=SPACE, n_trials=5, max_epochs=4, pruner="none", sampler="random",
            show_progress=False, candidates=2, linear_routes=("raw",), max_components=4, jobs=1))


def _reported_run(folder: Path, task: str, settings: TuneSettings) -> Path:
    """A quadratic target for regression: a network adds to PLS and stays in the stack."""
    kind = {"target_kind": "quadratic"} if task == "regression" else {}
    tune(make_synthetic(n_samples=60, n_points=40, task=task, random_state=0, **kind)[0],
         folder, settings)
    return write_report(folder)


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory, quick_tuning: SimpleNamespace) -> Path:
    """report.html of a regression run (shared by the tests: don't rewrite it)."""
    return _reported_run(tmp_path_factory.mktemp("report") / "reg", "regression",
                         quick_tuning.settings)


@pytest.fixture(scope="module")
def cls(tmp_path_factory: pytest.TempPathFactory, quick_tuning: SimpleNamespace) -> Path:
    """report.html of a classification run (shared by the tests: don't rewrite it)."""
    return _reported_run(tmp_path_factory.mktemp("report") / "cls", "classification",
                         quick_tuning.settings)


@pytest.fixture
def no_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures are built but not rendered: savefig writes a 2x2 PNG or an empty SVG."""
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, "PNG")

    def savefig(self: Figure, path: Any, **kwargs: Any) -> None:
        data = buffer.getvalue() if str(path).endswith(".png") else \
            b'<svg xmlns="http://www.w3.org/2000/svg"/>'
        Path(path).write_bytes(data)

    monkeypatch.setattr(Figure, "savefig", savefig)


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out, ignore=shutil.ignore_patterns("report.html", "figures"))
    return out


def _edit_metrics(run: Path, edit: Any) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    edit(metrics)
    (run / "metrics.json").write_text(json.dumps(metrics))


def _sections(html: str) -> list[str]:
    return re.findall(r"<section id=\"\w+\"><h2>([^<]*)</h2>", html)


def _text(html: str) -> str:
    return html.replace("&#x27;", "'").replace("&quot;", '"').replace("&amp;", "&")


@pytest.mark.parametrize("kind", ["reg", "cls"])
def test_every_section_in_order_without_failures(request: pytest.FixtureRequest,
                                                 kind: str) -> None:
    html = request.getfixturevalue(kind).read_text()
    assert _sections(html) == list(HEADINGS)
    assert ERROR_NOTE not in html
    assert "could not be drawn" not in html and "could not be made" not in html


@pytest.mark.parametrize("kind", ["reg", "cls"])
def test_self_contained_with_valid_inline_pngs(request: pytest.FixtureRequest, kind: str) -> None:
    report = request.getfixturevalue(kind)
    html = report.read_text()
    for external in ("http://", "https://", 'src="//', "url(", "@import", "<script", "<link"):
        assert external not in html, external
    sources = re.findall(r"<img src=\"([^\"]*)\"", html)
    pngs = sorted((report.parent / "figures").glob("*.png"))
    assert len(sources) == len(pngs) >= 10
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        data = base64.b64decode(source.split(",", 1)[1], validate=True)
        assert data[:8] == PNG_MAGIC
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    inline = {base64.b64encode(p.read_bytes()).decode() for p in pngs}
    assert inline == {s.split(",", 1)[1] for s in sources}  # figures/ holds what is shown


@pytest.mark.parametrize("kind", ["reg", "cls"])
def test_figures_come_as_png_and_svg_pairs(request: pytest.FixtureRequest, kind: str) -> None:
    figures = request.getfixturevalue(kind).parent / "figures"
    pngs, svgs = sorted(figures.glob("*.png")), sorted(figures.glob("*.svg"))
    assert [p.stem for p in pngs] == [s.stem for s in svgs]
    expected = {"history", "importance_fanova", "pls_coefficients", "pls_cv_curve",
                "comparison"}
    if load_run(figures.parent).model.info["members"][0].startswith("trial"):
        expected |= {"explanation_0", "training_curves"}  # the final model holds a network
    assert expected <= {p.stem for p in pngs}
    for svg in svgs:
        assert ET.parse(svg).getroot().tag.endswith("svg")


def test_regression_verdict_gives_the_test_numbers(reg: Path) -> None:
    html = _text(reg.read_text())
    metrics = json.loads((reg.parent / "metrics.json").read_text())
    sentence, _ = verdict_sentence(metrics)
    assert _text(escape(sentence)) in html
    for key in ("rmse", "r2", "bias", "sep", "rpd"):
        assert f'<td class="num">{metrics["final"]["test"][key]:.4g}</td>' in html
    oof = metrics["final"]["oof"]["rmse"]
    assert f"Out of fold, its RMSE is {oof:.4g}: the estimate to quote" in html
    for candidate in metrics["candidates"]:
        assert f"<td>{candidate['name']}</td>" in html
    assert "Data roles: which spectra were used for what" in html


def test_classification_verdict_and_confusion(cls: Path) -> None:
    html = _text(cls.read_text())
    metrics = json.loads((cls.parent / "metrics.json").read_text())
    assert _text(escape(verdict_sentence(metrics)[0])) in html
    assert (cls.parent / "figures" / "confusion_final.png").is_file()
    assert "pred_obs" not in html  # no predicted-vs-observed plot for classes


def _table(final: float, pls: float, ridge: float, task: str = "regression") -> dict[str, Any]:
    key = "rmse" if task == "regression" else "accuracy"
    return {"task": task,
            "final": {"description": "a stack", "test": {key: final, "n": 40}},
            "pls": {"n_components": 3, "preprocessing": "snv", "test": {key: pls, "n": 40}},
            "references": {"ridge": {"preprocessing": "sg1", "test": {key: ridge, "n": 40}},
                           "random_forest": {"preprocessing": "snv",
                                             "test": {key: 2 * pls if key == "rmse" else 0.1,
                                                      "n": 40}}}}


@pytest.mark.parametrize(("final", "pls", "ridge", "expected", "best"), [
    (0.88, 1.0, 0.95, ("The final model (a stack) has the best test RMSE of the table: 0.88, "
                       "7% lower than the best other model, ridge (sg1) (0.95), on 40 test "
                       "spectra."), True),
    (1.0, 1.1, 0.8, ("Ridge (sg1) beat the final model on the test set: RMSE 0.8 against 1 "
                     "(20% lower), on 40 test spectra."), False),
    (1.002, 1.0, 1.2, "level with the best other model, PLS (3 LV, snv) (1)", True),
])
def test_the_verdict_names_the_best_model_of_the_table(final: float, pls: float, ridge: float,
                                                       expected: str, best: bool) -> None:
    sentence, ok = verdict_sentence(_table(final, pls, ridge))
    assert expected in sentence and ok is best


def test_the_classification_verdict_counts_higher_accuracy_as_better() -> None:
    sentence, ok = verdict_sentence(_table(0.9, 0.95, 0.5, task="classification"))
    assert sentence.startswith("PLS-DA (3 LV, snv) beat the final model on the test set: "
                               "accuracy 0.95 against 0.9") and not ok


def test_failed_trials_are_summarised_by_reason(reg: Path) -> None:
    html = reg.read_text()
    study = load_run(reg.parent).study
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed, "the fixture's space should make some draws fail (kernel 41 > 40 points)"
    reasons = {t.user_attrs["fail_reason"] for t in failed}
    for reason in reasons:
        count = sum(t.user_attrs["fail_reason"] == reason for t in failed)
        assert f"<tr><td>{escape(reason)}</td><td class=\"num\">{count}</td>" in html
    assert f"{len(failed)} failed trial(s), by reason" in html


@pytest.mark.parametrize("kind", ["reg", "cls"])
def test_trial_attributes_are_plain_json_for_the_dashboard(request: pytest.FixtureRequest,
                                                           kind: str) -> None:
    """optuna-dashboard shows user attributes as JSON: each must survive a JSON round trip."""
    folder = request.getfixturevalue(kind).parent
    study = optuna.load_study(study_name="spectune", storage=f"sqlite:///{folder / 'study.db'}")
    metric = "rmse" if kind == "reg" else "accuracy"
    expected = {f"cal_{metric}", f"tune_{metric}", "epochs", "best_epoch", "wall_s", "n_params",
                "preprocessing"}
    assert json.loads(json.dumps(study.user_attrs)) == study.user_attrs
    for trial in study.trials:
        assert json.loads(json.dumps(trial.user_attrs, allow_nan=False)) == trial.user_attrs
        if trial.state == TrialState.COMPLETE:
            assert expected <= set(trial.user_attrs)
        if trial.state == TrialState.FAIL:
            assert isinstance(trial.user_attrs["fail_reason"], str)
    assert f"optuna-dashboard sqlite:///{folder / 'study.db'}" in _text(
        request.getfixturevalue(kind).read_text())


def test_reproduce_section_shows_the_recorded_command(reg: Path, tmp_path: Path,
                                                      no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)
    command = "spectune tune train.csv --target y --trials 5 --out runs/x"
    _edit_metrics(run, lambda m: m.update(command=command))
    html = _text(write_report(run).read_text())
    assert f"Command line: (the same files, the same numbers on a CPU)</p>\n<pre>{command}</pre>" \
        in html
    assert "spectune.tuning._run" not in html  # only public API is shown
    settings = load_run(run).settings
    assert f"<td>max_epochs</td><td>{settings['max_epochs']}</td>" in html


def test_trials_passed_over_for_the_work_cap_are_named(reg: Path, tmp_path: Path,
                                                       no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)
    _edit_metrics(run, lambda m: m["final"].update(passed_over=[]))
    assert "Passed over:" not in _text(write_report(run).read_text())
    _edit_metrics(run, lambda m: m["final"].update(passed_over=[7, 12]))
    html = _text(write_report(run).read_text())
    assert "Passed over: trial 7, trial 12. Cross-fitting them as well would have trained " \
           "more than the whole search did" in html


def test_missing_pieces_become_notes(reg: Path, tmp_path: Path,
                                     no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)
    for name in ("study.db", "predictions.csv", "spectra.safetensors"):
        (run / name).unlink()
    shutil.rmtree(run / "model")
    _edit_metrics(run, lambda m: m["data"].update(train_file="<script>alert(1)</script>"))
    html = _text(write_report(run).read_text())
    assert _sections(html) == list(HEADINGS) and ERROR_NOTE not in html
    for expected in ("No study, so no search figures: no study.db in the run folder",
                     "No spectra to draw", "No model folder: no model/ folder",
                     "No predictions: no predictions.csv", "nothing to explain",
                     "The command was not recorded"):
        assert expected in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html


def test_no_test_set_gives_no_verdict(reg: Path, tmp_path: Path,
                                      no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)

    def drop_test(metrics: dict[str, Any]) -> None:
        for part in (metrics["final"], metrics["pls"], *metrics["references"].values(),
                     *metrics["candidates"]):
            part.pop("test", None)
        metrics["final"]["interval"].pop("coverage", None)

    _edit_metrics(run, drop_test)
    table = pd.read_csv(run / "predictions.csv")
    table[table["set"] != "test"].to_csv(run / "predictions.csv", index=False)
    arrays = load_run(run).arrays
    save_file({k: v for k, v in arrays.items() if k != "test"}, str(run / "spectra.safetensors"))
    html = _text(write_report(run).read_text())
    assert "No test set was held out, so there is no verdict" in html
    assert "No test set: no confusion matrix and no PLS comparison." in html
    assert ERROR_NOTE not in html and "Test set, scored once" not in html


def test_pareto_study_with_one_trial(reg: Path, tmp_path: Path,
                                     no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)
    old = load_run(run).study
    best = old.best_trial
    (run / "study.db").unlink()
    study = optuna.create_study(study_name="spectune", storage=f"sqlite:///{run / 'study.db'}",
                                directions=["minimize", "minimize"])
    study.set_user_attr("settings", old.user_attrs["settings"])
    study.add_trial(optuna.trial.create_trial(
        params=best.params, distributions=best.distributions, user_attrs=best.user_attrs,
        values=[best.value, float(best.user_attrs["n_params"])]))
    html = _text(write_report(run).read_text())
    assert "Pareto study (error and parameter count minimised together)" in html
    assert "No importance: 1 trial (at least 2 needed) among the complete trials." in html
    assert "1 complete trial(s): no slice or parallel-coordinate plots" in html
    assert ERROR_NOTE not in html


def test_mlp_model_is_described_and_explained(reg: Path, tmp_path: Path,
                                              no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)
    spectra = make_synthetic(n_samples=60, n_points=40, random_state=0,
                             target_kind="quadratic")[0]
    network = fit_network(spectra.flat_X(), spectra.y, preprocessing=PreprocessingSpec(("snv",)),
                          arch=MLP(units=(4,)), config=TrainConfig(max_epochs=2))
    shutil.rmtree(run / "model")
    save_model(run / "model", [network], wavelengths=spectra.wavelengths,
               target_names=list(spectra.target_names),
               info={"best_trial": 0, "members": ["trial 0"]})
    html = _text(write_report(run).read_text())
    assert "MLP: no conv layer" in html and "integrated gradients" in html
    explained = (run / "figures" / "explanation_0.png").is_file()
    assert explained != ("Attributions of an MLP need captum" in html)
    assert ERROR_NOTE not in html


def test_explanations_use_a_random_subset_of_a_large_pool(
        reg: Path, tmp_path: Path, no_rendering: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_report_model, "MAX_EXPLAINED_SPECTRA", 10)
    html = _text(write_report(_copy(reg.parent, tmp_path)).read_text())
    n_pool = json.loads((reg.parent / "metrics.json").read_text())["data"]["n_pool"]
    assert f"Explained on 10 of the {n_pool} spectra, drawn at random (seed 0)." in html
    assert ERROR_NOTE not in html


def test_two_channel_spectra_have_no_pls_coefficients(reg: Path, tmp_path: Path,
                                                       no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)
    arrays = load_run(run).arrays
    save_file({k: (np.concatenate([v, v], axis=1) if v.ndim == 3 else v)
               for k, v in arrays.items()}, str(run / "spectra.safetensors"))
    shutil.rmtree(run / "model")
    html = _text(write_report(run).read_text())
    assert "PLS sees the channels side by side" in html
    assert "<td>channels</td><td>2</td>" in html
    assert ERROR_NOTE not in html


def test_a_saved_lr_range_test_is_drawn(reg: Path, tmp_path: Path, no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)
    found = LRRangeResult(np.geomspace(1e-5, 1, 5), np.array([1.0, 0.9, 0.5, 0.3, np.inf]),
                          np.array([1.0, 0.85, 0.55, 0.35]), 1e-4, 1e-2, 1.0)
    (run / "lr_range.json").write_text(json.dumps(found.as_dict()))
    html = _text(write_report(run).read_text())
    assert "LR range test: LR_max (initial rate) and LR_min" in html
    assert (run / "figures" / "lr_range.svg").is_file() and ERROR_NOTE not in html


def test_a_failing_section_becomes_a_note(reg: Path, tmp_path: Path,
                                          no_rendering: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise ValueError("broken on purpose")

    monkeypatch.setattr(_report_sections, "verdict", broken)
    html = _text(write_report(_copy(reg.parent, tmp_path)).read_text())
    assert "This section could not be made: ValueError: broken on purpose" in html
    assert html.count(ERROR_NOTE) == 1 and _sections(html) == list(HEADINGS)


def test_a_failed_report_leaves_the_previous_one(reg: Path, tmp_path: Path,
                                                 no_rendering: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run = _copy(reg.parent, tmp_path)
    (run / "report.html").write_text("earlier report")
    (run / "figures").mkdir()
    (run / "figures" / "old.png").write_bytes(b"old")

    def crash(*args: Any) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr("spectune.analysis._report.page", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(run)
    assert (run / "report.html").read_text() == "earlier report"
    assert [p.name for p in (run / "figures").iterdir()] == ["old.png"]
    assert not list(run.glob(".report-*"))


def test_a_new_report_replaces_the_old_figures(reg: Path, tmp_path: Path,
                                               no_rendering: None) -> None:
    run = _copy(reg.parent, tmp_path)
    (run / "figures").mkdir()
    (run / "figures" / "stale.png").write_bytes(b"stale")
    write_report(run)
    names = {p.name for p in (run / "figures").iterdir()}
    assert "stale.png" not in names and "history.png" in names
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_refuses_what_is_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(SpectuneError, match=r"not a spectune run folder \(no metrics.json\)"):
        write_report(tmp_path)
    with pytest.raises(SpectuneError, match="no such folder"):
        write_report(tmp_path / "absent")
    (tmp_path / "metrics.json").write_text(json.dumps({"task": "regression"}))
    with pytest.raises(SpectuneError, match="not the metrics of a `spectune tune` run"):
        write_report(tmp_path)
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(SpectuneError, match="cannot be read"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("kind", ["reg", "cls"])
def test_pool_targets_line_up_with_the_saved_spectra(request: pytest.FixtureRequest,
                                                     kind: str) -> None:
    """Explanations pair spectra.safetensors' pool with predictions.csv's rows: same order,
    the order of the data the run was given (less its held-out test spectra)."""
    run = load_run(request.getfixturevalue(kind).parent)
    pool, y = run.arrays["pool"], run.pool_labels()
    task = "regression" if kind == "reg" else "classification"
    extra = {"target_kind": "quadratic"} if kind == "reg" else {}
    data = make_synthetic(n_samples=60, n_points=40, task=task, random_state=0, **extra)[0]
    rows = split_indices(data, test_size=0.2, tune_size=0, random_state=0).cal
    assert len(y) == len(pool) == run.metrics["data"]["n_pool"] == len(rows)
    np.testing.assert_array_equal(pool, data.X[rows])
    if kind == "reg":
        np.testing.assert_allclose(np.asarray(y, float).ravel(), data.y[rows, 0], rtol=1e-6)
    else:
        assert [str(v) for v in y] == [str(v) for v in data.y[rows]]
        assert set(np.asarray(y).tolist()) <= set(run.classes)  # labels in the model's types
