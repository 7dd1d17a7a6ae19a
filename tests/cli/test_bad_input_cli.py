"""Every bad input refused by ``spectune baseline``: one line on stderr, exit 2, nothing written.

Each case writes a small bad table to a fresh folder (the working directory, so paths read as a
user types them), runs the command in-process and checks the whole error line: the prefix, the
file (and row/column where one cell is at fault), the fix, and that no output or temporary
folder is left behind. The messages themselves are unit-tested in ``tests/data``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune.cli import main

#: The good table's grid: 30 points, 1000 to 1290 nm in steps of 10.
WAVELENGTHS = np.arange(1000.0, 1300.0, 10.0)
N_SAMPLES = 12
Edit = Callable[[pd.DataFrame], pd.DataFrame]
Writer = Callable[[Path], None]


def _frame(n: int = N_SAMPLES, wavelengths: Sequence[float] = WAVELENGTHS,
           target: str = "y") -> pd.DataFrame:
    """A valid table: a numeric target column, then one column per wavelength."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((n, len(wavelengths))) + 0.5,
                         columns=[f"{w:g}" for w in wavelengths])
    frame.insert(0, target, rng.normal(size=n))
    return frame


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False)


def _table(name: str = "train.csv", edit: Edit | None = None, **shape: object) -> Writer:
    """Writes :func:`_frame` (shaped by ``shape``, changed by ``edit``) to ``name``."""
    def write(folder: Path) -> None:
        frame = _frame(**shape)  # type: ignore[arg-type]
        _write(frame if edit is None else edit(frame), folder / name)
    return write


def _text(text: str, name: str = "train.csv") -> Writer:
    def write(folder: Path) -> None:
        (folder / name).write_text(text)
    return write


def _cell(row: int, column: int, value: object) -> Edit:
    """Puts ``value`` at data row ``row``, table column ``column`` (both 0-based; 0 is y)."""
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype(object)
        frame.iat[row, column] = value
        return frame
    return edit


def _column(name: str, values: object) -> Edit:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{name: values})
    return edit


def _swap(grid: np.ndarray, i: int, j: int) -> np.ndarray:
    grid = grid.copy()
    grid[[i, j]] = grid[[j, i]]
    return grid


def _case(case_id: str, writers: Sequence[Writer], args: Sequence[str], file: str,
          *patterns: str) -> object:
    """One bad input: files to write, extra options, the file the error names, what it says."""
    return pytest.param(list(writers), list(args), file, patterns, id=case_id)


_GOOD_TRAIN = _table()
_SWAPPED_01 = _swap(WAVELENGTHS, 0, 1)
_TEST = ["--test", "test.csv"]

CASES = [
    _case("empty-file", [_text("")], [], "train.csv", r"the file is empty", r"expected a header"),
    _case("header-only", [_text("y,1000,1010,1020\n")], [], "train.csv",
          r"header but no data rows", r"add one row a sample"),
    _case("no-spectral-columns", [_text("y,a,b\n1,2,3\n4,5,6\n")], [], "train.csv",
          r"no spectral columns", r"found 'y', 'a', 'b'", r"Name each spectral column"),
    _case("non-numeric-cell", [_table(edit=_cell(4, 8, "oops"))], [], "train.csv",
          r"row 5 \(line 6 of the file\), column '1070'", r"non-numeric value 'oops'",
          r"fix the cell or remove the row"),
    _case("nan-in-spectra", [_table(edit=_cell(2, 3, "NaN"))], [], "train.csv",
          r"row 3 \(line 4 of the file\), column '1020'", r"missing value",
          r"fix the cell or remove the row"),
    _case("empty-cell-in-spectra", [_table(edit=_cell(7, 30, ""))], [], "train.csv",
          r"row 8 \(line 9 of the file\), column '1290'", r"missing value"),
    _case("inf-in-spectra", [_table(edit=_cell(6, 5, np.inf))], [], "train.csv",
          r"row 7 \(line 8 of the file\), column '1040'", r"infinite value 'inf'",
          r"fix the cell or remove the row"),
    _case("ragged-row", [_text("y,1000,1010,1020\n1,2,3,4\n2,3,4\n3,4,5,6\n")], [], "train.csv",
          r"line 3 has 3 fields but the header has 4", r"fix the separators on that line"),
    _case("duplicate-wavelengths", [_table(wavelengths=np.r_[WAVELENGTHS[:5], 1040.0,
                                                               WAVELENGTHS[5:]])],
          [], "train.csv", r"wavelength 1040 appears 2 times \(spectral columns 5, 6\)",
          r"keep one column per wavelength"),
    _case("non-monotonic-wavelengths", [_table(wavelengths=_swap(WAVELENGTHS, 5, 6))], [],
          "train.csv", r"1050 follows 1060", r"spectral column 7",
          r"sort the spectral columns by wavelength"),
    _case("missing-target-column", [_table(target="yield")], [], "train.csv",
          r"target column 'y' not found", r"non-spectral columns are 'yield'",
          r"Check the name, or add that column"),
    _case("empty-target-cell", [_table(edit=_cell(3, 0, ""))], [], "train.csv",
          r"row 4 \(line 5 of the file\), column 'y': empty target value",
          r"fill it in or remove the row"),
    _case("nan-target-cell", [_table(edit=_cell(9, 0, "nan"))], [], "train.csv",
          r"row 10 \(line 11 of the file\), column 'y': target 'nan' is not a number",
          r"fix it or remove the row"),
    _case("n/a-target-cell", [_table(edit=_cell(9, 0, "n/a"))], [], "train.csv",
          r"row 10 \(line 11 of the file\), column 'y': target 'n/a' is not a number"),
    _case("constant-target", [_table(edit=_column("y", 3.0))], [], "train.csv",
          r"target 'y' is 3 in all 12 rows", r"choose another --target"),
    _case("too-few-samples-for-split", [_table(n=2)], [], "train.csv",
          r"2 samples cannot give a test set of 0\.2", r"at least 2 calibration",
          r"lower test_size \(--test-size\)"),
    _case("too-few-samples-for-cv", [_table(n=6)], ["--cv", "5"], "train.csv",
          r"5-fold CV needs at least 5 samples; got 4", r"Lower --cv"),
    _case("test-split-of-one-sample", [_table(n=4)], [], "train.csv",
          r"the test set holds 1 sample\(s\); scoring needs at least 2",
          r"raise --test-size or add samples"),
    _case("test-file-of-one-row", [_GOOD_TRAIN, _table("test.csv", n=1)], _TEST, "test.csv",
          r"the test set holds 1 sample\(s\)", r"add rows to the --test file"),
    _case("cv-10-on-8-samples", [_table(n=8)], ["--cv", "10"], "train.csv",
          r"10-fold CV needs at least 10 samples; got 6", r"Lower --cv"),
    _case("class-with-one-sample", [_table(edit=_column("y", ["a"] * 6 + ["b"] * 5 + ["c"]))],
          [], "train.csv", r"row 12 \(line 13 of the file\), column 'y'",
          r"class 'c' has only one sample", r"add samples, merge it, or drop the row"),
    _case("test-on-other-grid", [_GOOD_TRAIN, _table("test.csv", wavelengths=WAVELENGTHS + 5)],
          _TEST, "test.csv", r"30 points 1000-1290", r"30 points 1005-1295",
          r"pass --resample"),
    _case("range-keeps-one-point", [_GOOD_TRAIN], ["--range", "1000:1005"], "train.csv",
          r"range 1000:1005 keeps 1 points", r"span 1000 to 1290", r"Widen --range"),
    _case("target-missing-in-test", [_GOOD_TRAIN, _table("test.csv", target="sample")], _TEST,
          "test.csv", r"target column 'y' not found", r"non-spectral columns are 'sample'",
          r"add that column"),
    _case("bad-cell-in-test", [_GOOD_TRAIN, _table("test.csv", edit=_cell(0, 1, "x"))], _TEST,
          "test.csv", r"row 1 \(line 2 of the file\), column '1000'", r"non-numeric value 'x'"),
    _case("excel-non-numeric-cell", [_table("train.xlsx", edit=_cell(4, 8, "oops"))], [],
          "train.xlsx", r"row 5 \(spreadsheet row 6\), column '1070'",
          r"non-numeric value 'oops'", r"fix the cell or remove the row"),
    _case("excel-header-only", [_table("train.xlsx", n=0)], [], "train.xlsx",
          r"header but no data rows", r"add one row a sample"),
    _case("parquet-nan-in-spectra", [_table("train.parquet", edit=_cell(2, 3, np.nan))], [],
          "train.parquet", r"row 3, column '1020': missing value",
          r"fix the cell or remove the row"),
    _case("parquet-first-two-swapped", [_table("train.parquet", wavelengths=_SWAPPED_01)], [],
          "train.parquet", r"1000 follows 1010 in an otherwise increasing axis",
          r"\(spectral column 2\)", r"sort the spectral columns"),
]


def _baseline(train: str, *args: str) -> int:
    """Quick settings first, so that a case's own ``--cv`` (argparse keeps the last) wins."""
    return main(["baseline", train, "--target", "y", "--cv", "3", "--max-components", "3",
                 *args, "--out", "run"])


@pytest.mark.parametrize(("writers", "args", "file", "patterns"), CASES)
def test_bad_input_is_refused_in_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    writers: list[Writer], args: list[str], file: str, patterns: tuple[str, ...],
) -> None:
    monkeypatch.chdir(tmp_path)
    for write in writers:
        write(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    train = next(name for name in before if name.startswith("train."))
    code = _baseline(train, *args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"spectune baseline: error: {file}: "), err
    for pattern in patterns:
        assert re.search(pattern, err), f"{pattern!r} not in {err!r}"
    assert not (tmp_path / "run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_resample_accepts_a_test_file_on_another_grid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _GOOD_TRAIN(tmp_path)
    _table("test.csv", wavelengths=np.arange(995.0, 1300.0, 5.0))(tmp_path)  # covers train
    code = _baseline("train.csv", *_TEST, "--resample")
    assert code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["n_points"] == WAVELENGTHS.size
    assert metrics["data"]["n_test"] == N_SAMPLES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "test.csv", "train.csv"]


def test_predict_with_missing_model_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _GOOD_TRAIN(tmp_path)
    code = main(["predict", "no_such_model", "train.csv", "--out", "preds.csv"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("spectune predict: error: no_such_model"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]
