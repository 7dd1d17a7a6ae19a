"""Every bad input of issue 13, one row each: the exit code, the one line on stderr, no
traceback, and every file as it was (contents included) after the refusal.

The rows run the command line in-process in a fresh working folder that holds a small good
table, a previous spectune output (``prev/``, from ``spectune baseline``), a folder of the user's
own files (``mine/``) and a saved model (``model/``); a few rows run a real subprocess, where a
traceback would show as it does to a user. The cell-by-cell table errors of ``baseline`` are in
test_bad_input_cli.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spectune._outdir import MARKER
from spectune.cli import main

WAVELENGTHS = np.arange(1000.0, 1300.0, 10.0)
Setup = Callable[[Path], None]


def _table(n: int = 16, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((n, WAVELENGTHS.size)) + 0.5,
                         columns=[f"{w:g}" for w in WAVELENGTHS])
    frame.insert(0, "y", rng.normal(size=n))
    frame.insert(0, "sample", [f"s{i:02d}" for i in range(n)])
    return frame


QUICK_BASELINE = ["--cv", "3", "--max-components", "2"]
QUICK_TUNE = ["--trials", "1", "--epochs", "3", "--pruner", "none", "--quiet", "--no-report"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's folder: data.csv, prev/ (a baseline output), mine/ (the user's files) and
    model/ (a network fitted by ``spectune fit``)."""
    root = tmp_path_factory.mktemp("user")
    _table().to_csv(root / "data.csv", index=False)
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("my notes\n")
    (root / "mine" / "spectra.csv").write_text("not spectune's\n")
    (root / "tiny.yaml").write_text(yaml.safe_dump({"parameters": {"units": 4, "lr": 0.01}}))
    cwd = Path.cwd()
    os.chdir(root)
    try:
        assert main(["baseline", "data.csv", "--target", "y", *QUICK_BASELINE,
                     "--out", "prev"]) == 0
        assert main(["fit", "data.csv", "--target", "y", "--arch", "mlp", "--epochs", "2",
                     "--out", "model"]) == 0
    finally:
        os.chdir(cwd)
    return root


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its contents."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        found[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# ---- setups: what the row adds to the user's folder before the command --------------------

def _write(name: str, data: bytes | str) -> Setup:
    def setup(root: Path) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return setup


def _frame(name: str, edit: Callable[[pd.DataFrame], pd.DataFrame] = lambda f: f) -> Setup:
    def setup(root: Path) -> None:
        frame = edit(_table())
        if name.endswith(".parquet"):
            frame.to_parquet(root / name, index=False)
        elif name.endswith(".xlsx"):
            frame.to_excel(root / name, index=False)
        else:
            frame.to_csv(root / name, index=False)
    return setup


def _two_sheets(root: Path) -> None:
    with pd.ExcelWriter(root / "book.xlsx") as writer:
        _table().to_excel(writer, sheet_name="cal", index=False)
        _table(seed=1).to_excel(writer, sheet_name="val", index=False)


def _space(parameters: dict) -> Setup:
    return _write("space.yaml", yaml.safe_dump({"parameters": parameters}))


def _model(edit: Callable[[dict], object]) -> Setup:
    """model/ copied to bad_model/ with its model.json changed by ``edit``."""
    def setup(root: Path) -> None:
        shutil.copytree(root / "model", root / "bad_model")
        meta = json.loads((root / "bad_model" / "model.json").read_text())
        (root / "bad_model" / "model.json").write_text(json.dumps(edit(meta)))
    return setup


def _without(key: str, member: bool = False) -> Callable[[dict], dict]:
    def edit(meta: dict) -> dict:
        (meta["members"][0] if member else meta).pop(key)
        return meta
    return edit


def _in_shape(points: int) -> Callable[[dict], dict]:
    def edit(meta: dict) -> dict:
        meta["members"][0]["in_shape"] = [1, points]
        return meta
    return edit


def _as_classifier(meta: dict) -> dict:
    meta["task"] = "classification"
    meta["members"][0]["task"] = "classification"
    return meta


def _into_prev(root: Path) -> None:
    shutil.copy(root / "data.csv", root / "prev" / "data.csv")


def _foreign_in_prev(root: Path) -> None:
    (root / "prev" / "keep.txt").write_text("mine\n")


def _jcamp_folder(root: Path) -> None:
    folder = root / "spectra"
    folder.mkdir()
    for i in range(3):
        y = " ".join(f"{v:.3f}" for v in np.linspace(0, 1, 10) + i)
        (folder / f"s{i}.jdx").write_text(
            "##TITLE=s\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n##XUNITS=1/CM\n"
            "##YUNITS=ABSORBANCE\n##FIRSTX=1000\n##LASTX=1009\n##NPOINTS=10\n##XFACTOR=1\n"
            f"##YFACTOR=1\n##XYDATA=(X++(Y..Y))\n1000 {y}\n##END=\n")


# ---- the rows ------------------------------------------------------------------------------

def _row(row_id: str, argv: list[str], *patterns: str, setup: tuple[Setup, ...] = (),
         code: int = 2) -> object:
    return pytest.param(argv, patterns, setup, code, id=row_id)


BASE = ["baseline", "data.csv", "--target", "y", *QUICK_BASELINE]
TUNE = ["tune", "data.csv", "--target", "y", *QUICK_TUNE]
OUT_REFUSED = r"--overwrite refused: "

ROWS = [
    # --out and --overwrite: nothing the user wrote is ever replaced
    _row("out-cwd-overwrite", [*BASE, "--out", ".", "--overwrite"],
         r"--out \.: " + OUT_REFUSED + "it is the working folder"),
    _row("out-cwd", [*BASE, "--out", "."], r"--out \.: folder exists and is not empty"),
    _row("tune-out-cwd-overwrite", [*TUNE, "--out", ".", "--overwrite"],
         r"--out \.: " + OUT_REFUSED + "it is the working folder"),
    _row("out-foreign", [*BASE, "--out", "mine"], r"--out mine: folder exists and is not empty"),
    _row("out-foreign-overwrite", [*BASE, "--out", "mine", "--overwrite"],
         OUT_REFUSED + r"spectune did not write it \(no \.spectune-output\.json in it\)"),
    _row("tune-out-foreign-overwrite", [*TUNE, "--out", "mine", "--overwrite"],
         OUT_REFUSED + "spectune did not write it"),
    _row("out-holds-input", ["baseline", "prev/data.csv", "--target", "y", "--out", "prev",
                             "--overwrite"], OUT_REFUSED + r"it holds the input prev/data\.csv",
         setup=(_into_prev,)),
    _row("out-with-foreign-file", [*BASE, "--out", "prev", "--overwrite"],
         OUT_REFUSED + r"it holds keep\.txt, which spectune did not write",
         setup=(_foreign_in_prev,)),
    _row("overwrite-then-bad-space", [*TUNE, "--out", "prev", "--overwrite", "--space", "nope"],
         r"unknown search space 'nope'"),
    _row("overwrite-then-bad-objective", [*TUNE, "--out", "prev", "--overwrite",
                                          "--objective", "accuracy"],
         r"--objective accuracy is for classification; the target is a regression target"),
    _row("out-is-a-file", [*BASE, "--out", "data.csv"],
         r"--out data\.csv: exists and is not a folder"),
    # options checked where they are parsed, the range in the message
    _row("range-abc", [*BASE, "--range", "abc", "--out", "run"],
         r"argument --range: range must look like LOW:HIGH"),
    _row("test-size-1.5", [*BASE, "--test-size", "1.5", "--out", "run"],
         r"argument --test-size: 1\.5 is not a fraction strictly between 0 and 1"),
    _row("tune-size-1.5", [*TUNE, "--tune-size", "1.5", "--out", "run"],
         r"argument --tune-size: 1\.5 is not a fraction strictly between 0 and 1"),
    _row("tune-two-groups-left", ["tune", "groups.csv", "--target", "y", "--group-column", "g",
                                  *QUICK_TUNE, "--out", "run"],
         r"groups\.csv: the final model is cross-fitted on the calibration\+tuning spectra and "
         r"needs at least 3 groups \(--group-column\) there; found 2\. Give more spectra or "
         r"groups\.",
         setup=(_frame("groups.csv", lambda f: f.assign(g=np.arange(len(f)) % 3)),)),
    _row("tune-rare-class", ["tune", "classes.csv", "--target", "c", *QUICK_TUNE, "--out", "run"],
         r"classes\.csv: .* needs at least 3 spectra of every class \(the rarest: 'rare'\) "
         r"there; found 2\. Give more spectra\.",
         setup=(_frame("classes.csv", lambda f: f.drop(columns="y").assign(
             c=np.where(np.arange(len(f)) < 2, "rare", "common"))),)),
    _row("cv-1", [*BASE, "--cv", "1", "--out", "run"],
         r"argument --cv: 1 is out of range; give an integer >= 2"),
    _row("cv-folds-1", [*TUNE, "--cv-folds", "1", "--out", "run"],
         r"argument --cv-folds: 1 is out of range; give 0 or an integer >= 2"),
    _row("max-components-0", [*BASE, "--max-components", "0", "--out", "run"],
         r"argument --max-components: 0 is out of range; give an integer >= 1"),
    _row("heartbeat-0", [*TUNE, "--heartbeat", "0", "--out", "run"],
         r"argument --heartbeat: 0 is out of range; give an integer >= 1"),
    _row("timeout-negative", [*TUNE, "--timeout", "-5", "--out", "run"],
         r"argument --timeout: -5 is out of range; give a number > 0"),
    _row("trials-0", [*TUNE, "--trials", "0", "--out", "run"],
         r"argument --trials: 0 is out of range; give an integer >= 1"),
    _row("seed-text", [*BASE, "--seed", "x", "--out", "run"],
         r"argument --seed: 'x' is not an integer"),
    # storage
    _row("storage-malformed", [*TUNE, "--storage", "nope", "--out", "run"],
         r"--storage nope: not a storage URL; write sqlite:///PATH/study\.db"),
    _row("storage-bad-port", [*TUNE, "--storage", "postgresql://u:secret@localhost:port/db",
                              "--out", "run"],
         r"--storage postgresql://u:\*\*\*@localhost:port/db: "),
    # nothing on disk before the inputs are known good
    _row("space-unknown-parameter", [*TUNE, "--space", "space.yaml", "--out", "run"],
         r"space\.yaml: unknown parameter 'unitz' \(did you mean 'units'\?\)",
         setup=(_space({"unitz": {"type": "int", "low": 2, "high": 4}}),)),
    _row("resume-without-study", [*TUNE, "--resume", "--out", "run"],
         r"--resume: no study to continue in --out run \(run/study\.db does not exist\)"),
    _row("resume-and-overwrite", [*TUNE, "--resume", "--overwrite", "--out", "prev"],
         r"--resume continues the study in --out; --overwrite would replace it"),
    # readers: one line naming the file and what to do
    _row("corrupt-xlsx", ["baseline", "bad.xlsx", "--target", "y", "--out", "run"],
         r"bad\.xlsx: cannot be read as an Excel workbook \(.*\); is the file complete\?",
         setup=(_write("bad.xlsx", b"PK\x03\x04 not really a workbook"),)),
    _row("corrupt-parquet", ["baseline", "bad.parquet", "--target", "y", "--out", "run"],
         r"bad\.parquet: cannot be read as Parquet \(.*\); is the file complete\?",
         setup=(_write("bad.parquet", b"PAR1 broken"),)),
    _row("binary-as-csv", ["baseline", "image.csv", "--target", "y", "--out", "run"],
         r"image\.csv: this is a binary file, not a comma-separated text table",
         setup=(_write("image.csv", bytes(range(256)) * 4),)),
    _row("xlsx-as-csv", ["baseline", "book.csv", "--target", "y", "--out", "run"],
         r"book\.csv: this is a ZIP archive \(an \.xlsx workbook\?\)",
         setup=(_write("book.csv", b"PK\x03\x04\x14\x00\x00\x00\x00\x00" * 20),)),
    _row("folder-as-test-file", [*BASE, "--test", "mine.csv", "--out", "run"],
         r"mine\.csv: is a folder, not a table file", setup=(_write("mine.csv/x", "x"),)),
    _row("folder-without-spectra", ["baseline", "mine", "--target", "y", "--out", "run"],
         r"mine: a folder with no JCAMP-DX .* or a table file"),
    _row("target-n/a", ["baseline", "na.csv", "--target", "y", "--out", "run"],
         r"na\.csv: row 4 \(line 5 of the file\), column 'y': target 'n/a' is not a number",
         setup=(_frame("na.csv", lambda f: f.astype({"y": object}).assign(
             y=lambda g: g["y"].where(g.index != 3, "n/a"))),)),
    _row("excel-two-sheets", ["baseline", "book.xlsx", "--target", "y", "--out", "run"],
         r"book\.xlsx: the workbook holds 2 sheets with data \('cal', 'val'\); choose one "
         r"with --sheet NAME", setup=(_two_sheets,)),
    _row("excel-unknown-sheet", ["baseline", "book.xlsx", "--target", "y", "--sheet", "x",
                                 "--out", "run"],
         r"book\.xlsx: cannot read sheet 'x': no such sheet; the workbook holds 'cal', 'val'",
         setup=(_two_sheets,)),
    _row("instrument-files-without-targets", ["baseline", "spectra", "--target", "y",
                                              "--out", "run"],
         r"spectra: instrument files hold no targets or groups; .*--targets FILE",
         setup=(_jcamp_folder,)),
    _row("targets-for-a-table", [*BASE, "--targets", "data.csv", "--out", "run"],
         r"--targets data\.csv: data\.csv is a table, which holds its target columns itself"),
    # damaged model folders: refused before anything is built
    _row("model-json-list", ["predict", "bad_model", "data.csv", "--out", "p.csv"],
         r"bad_model/model\.json: expected a JSON object, found a list",
         setup=(_model(lambda meta: [meta]),)),
    _row("model-json-string", ["predict", "bad_model", "data.csv", "--out", "p.csv"],
         r"bad_model/model\.json: expected a JSON object, found a str",
         setup=(_model(lambda meta: "spectune-model"),)),
    _row("model-without-tensors", ["predict", "bad_model", "data.csv", "--out", "p.csv"],
         r"model\.json: no 'tensors' key; the file is damaged or was edited",
         setup=(_model(_without("tensors")),)),
    _row("model-without-history", ["predict", "bad_model", "data.csv", "--out", "p.csv"],
         r"model\.json: member 0: no 'history' key", setup=(_model(_without("history", True)),)),
    _row("regression-marked-classifier", ["predict", "bad_model", "data.csv", "--out", "p.csv"],
         r"member 0: a classification network needs 'classes'", setup=(_model(_as_classifier),)),
    _row("in-shape-5e7", ["predict", "bad_model", "data.csv", "--out", "p.csv"],
         r"member 0: 'in_shape' \[1, 50000000\] does not fit the 30 wavelengths",
         setup=(_model(_in_shape(50_000_000)),)),
    _row("in-shape-1e9", ["predict", "bad_model", "data.csv", "--out", "p.csv"],
         r"member 0: 'in_shape' \[1, 1000000000\] does not fit",
         setup=(_model(_in_shape(1_000_000_000)),)),
    _row("predict-over-its-input", ["predict", "model", "data.csv", "--out", "data.csv",
                                    "--overwrite"],
         r"--out data\.csv: is \(or lies in\) the input data\.csv"),
    _row("predict-out-folder", ["predict", "model", "data.csv", "--out", "mine"],
         r"--out mine: is a folder; give the name of the CSV file to write"),
]


@pytest.mark.parametrize(("argv", "patterns", "setup", "code"), ROWS)
def test_bad_input_is_one_line_and_changes_nothing(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], argv: list[str], patterns: tuple[str, ...],
    setup: tuple[Setup, ...], code: int,
) -> None:
    root = tmp_path / "user"
    shutil.copytree(template, root)
    for step in setup:
        step(root)
    monkeypatch.chdir(root)
    before = _snapshot(root)
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith(f"spectune {argv[0]}: error: "), err
    assert "Traceback" not in err and out == ""
    for pattern in patterns:
        assert re.search(pattern, err), f"{pattern!r} not in {err!r}"
    assert _snapshot(root) == before


def test_overwrite_replaces_a_spectune_folder_only_once_the_new_output_is_complete(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "user"
    shutil.copytree(template, root)
    monkeypatch.chdir(root)
    old = (root / "prev" / "metrics.json").read_text()
    assert main([*BASE, "--seed", "1", "--out", "prev", "--overwrite"]) == 0
    new = json.loads((root / "prev" / "metrics.json").read_text())
    assert (root / "prev" / "metrics.json").read_text() != old
    assert new["data"]["split"]["seed"] == 1
    assert sorted(p.name for p in (root / "prev").iterdir()) == [MARKER, "metrics.json"]
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in template.iterdir())


def test_a_tune_run_replaces_its_folder_at_the_end_and_resume_works_in_place(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_refit: None,
) -> None:
    root = tmp_path / "user"
    shutil.copytree(template, root)
    monkeypatch.chdir(root)
    tune = [*TUNE, "--space", "tiny.yaml"]
    assert main([*tune, "--out", "run"]) == 0
    assert (root / "run" / "study.db").is_file()
    marker = json.loads((root / "run" / MARKER).read_text())
    assert not marker["open"] and "study.db" in marker["files"]
    assert main([*tune, "--trials", "2", "--resume", "--out", "run"]) == 0
    assert json.loads((root / "run" / "metrics.json").read_text())["study"]["n_trials"] == 2
    assert main([*tune, "--out", "run", "--overwrite"]) == 0  # a new study, 1 trial
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    assert metrics["study"]["n_trials"] == 1
    hidden = [p.name for p in root.iterdir() if p.name.startswith(".")]
    assert hidden == []  # the stage folder is gone


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["baseline", "data.csv", "--target", "y", "--out", ".", "--overwrite"],
         r"it is the working folder"),
        (["tune", "data.csv", "--target", "y", "--storage",
          "postgresql://nobody@127.0.0.1:9/none", "--out", "run"],
         r"--storage postgresql://nobody@127\.0\.0\.1:9/none: cannot be opened|no PostgreSQL "
         r"driver"),
    ],
    ids=["out-cwd-overwrite", "postgres-unreachable"],
)
def test_as_a_user_runs_it_no_traceback(template: Path, tmp_path: Path, argv: list[str],
                                        pattern: str) -> None:
    root = tmp_path / "user"
    shutil.copytree(template, root)
    before = _snapshot(root)
    done = subprocess.run([sys.executable, "-m", "spectune", *argv], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]  # after the log's notes, if any
    assert last.startswith(f"spectune {argv[0]}: error: ") and re.search(pattern, last), last
    assert _snapshot(root) == before
