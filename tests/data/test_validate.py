"""Each bad input gets a one-line DataError naming file, row, column and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune.data import from_pandas, read_table
from spectune.data._validate import Rows, check_wavelengths, parse_wavelength
from spectune.exceptions import DataError

GOOD = [
    "sample,glucose,1000,1001,1002",
    "a,1.5,0.1,0.2,0.3",
    "b,2.5,0.2,0.3,0.4",
    "c,3.5,0.3,0.4,0.5",
]


def write(tmp_path: Path, lines: list[str], name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    return path


def with_line(index: int, line: str) -> list[str]:
    """GOOD with file line ``index + 1`` replaced."""
    lines = list(GOOD)
    lines[index] = line
    return lines


def test_good_file_reads(tmp_path: Path) -> None:
    spectra = read_table(write(tmp_path, GOOD), target="glucose", id_column="sample")
    np.testing.assert_array_equal(spectra.wavelengths, [1000, 1001, 1002])
    np.testing.assert_array_equal(spectra.y[:, 0], [1.5, 2.5, 3.5])


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([], r"data\.csv: the file is empty"),
        (["", "  "], r"data\.csv: the file is empty"),
        (GOOD[:1], r"data\.csv: the file has a header but no data rows"),
        (
            ["sample,glucose,batch", "a,1,x", "b,2,y"],
            r"no spectral columns .*found 'sample', 'glucose', 'batch'",
        ),
        (
            ["sample;glucose;1000;1001", "a;1;0.1;0.2"],
            r"no spectral columns .*separated by another sign",
        ),
        (
            with_line(2, "b,2.5,0.2,abc,0.4"),
            r"data\.csv: row 2 \(line 3 of the file\), column '1001': non-numeric value 'abc'",
        ),
        (
            with_line(3, "c,3.5,,0.4,0.5"),
            r"row 3 \(line 4 of the file\), column '1000': missing value \(empty cell or NaN\)",
        ),
        (with_line(1, "a,1.5,NaN,0.2,0.3"), r"row 1 \(line 2 of the file\), column '1000': miss"),
        (with_line(1, "a,1.5,0.1,inf,0.3"), r"row 1 \(line 2 of the file\), column '1001': inf"),
        (with_line(2, "b,2.5,0.2,0.3,0.4,0.9"), r"line 3 has 6 fields but the header has 5"),
        (with_line(3, "c,3.5,0.3,0.4"), r"data\.csv: line 4 has 4 fields but the header has 5"),
        (
            with_line(0, "sample,glucose,1000,1001,1001"),
            r"wavelength 1001 appears 2 times \(spectral columns 2, 3\)",
        ),
        (
            with_line(0, "sample,glucose,1000,1002,1001"),
            r"not in order: 1001 follows 1002 .*sort the spectral columns",
        ),
    ],
)
def test_bad_table(tmp_path: Path, lines: list[str], match: str) -> None:
    with pytest.raises(DataError, match=match):
        read_table(write(tmp_path, lines), target="glucose")


def test_blank_lines_keep_true_line_numbers(tmp_path: Path) -> None:
    lines = [GOOD[0], "", GOOD[1], GOOD[2], "b2,2.5,0.2,oops,0.4"]
    with pytest.raises(DataError, match=r"row 3 \(line 5 of the file\), column '1001'"):
        read_table(write(tmp_path, lines))


@pytest.mark.parametrize(
    ("target", "lines", "match"),
    [
        ("glucos", GOOD, r"target column 'glucos' not found; the non-spectral columns are "
                         r"'sample', 'glucose'\. Did you mean 'glucose'\?"),
        ("glucose", with_line(2, "b,,0.2,0.3,0.4"),
         r"row 2 \(line 3 of the file\), column 'glucose': empty target value"),
        ("glucose", with_line(3, "c,NaN,0.3,0.4,0.5"),
         r"row 3 \(line 4 of the file\), column 'glucose': target 'NaN' is not a number"),
        ("glucose", with_line(2, "b,n/a,0.2,0.3,0.4"),
         r"row 2 .*column 'glucose': target 'n/a' is not a number; fix it or remove the row"),
        ("glucose", with_line(2, "b,inf,0.2,0.3,0.4"),
         r"row 2 .*column 'glucose': target 'inf' is not a finite number"),
        ("glucose", [GOOD[0]] + [f"{s},3,0.1,0.2,{k}" for k, s in enumerate("abcd")],
         r"target 'glucose' is 3 in all 4 rows; a constant cannot be learned"),
    ],
)
def test_bad_target(tmp_path: Path, target: str, lines: list[str], match: str) -> None:
    with pytest.raises(DataError, match=match):
        read_table(write(tmp_path, lines), target=target)


def test_missing_id_column_lists_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"sample id column 'id' not found.*'sample', 'glucose'"):
        read_table(write(tmp_path, GOOD), id_column="id")


def test_empty_group_value_names_row(tmp_path: Path) -> None:
    lines = ["sample,batch,1000,1001", "a,b1,0.1,0.2", "b,,0.2,0.3"]
    with pytest.raises(DataError, match=r"row 2 \(line 3 of the file\), column 'batch': empty gr"):
        read_table(write(tmp_path, lines), group_column="batch")


def classes_frame(labels: list[str]) -> pd.DataFrame:
    X = np.arange(len(labels) * 2, dtype=float).reshape(-1, 2)
    return pd.DataFrame({"origin": labels, 1000.0: X[:, 0], 1001.0: X[:, 1]})


def test_class_with_one_sample(tmp_path: Path) -> None:
    frame = classes_frame(["a", "a", "b", "b", "c"])
    match = r"<DataFrame>: row 5, column 'origin': class 'c' has only one sample"
    with pytest.raises(DataError, match=match):
        from_pandas(frame, target="origin")


def test_a_single_class_is_refused() -> None:
    with pytest.raises(DataError, match=r"target 'origin' holds one class \('a'\)"):
        from_pandas(classes_frame(["a", "a", "a"]), target="origin")


def test_classification_takes_one_target() -> None:
    frame = classes_frame(["a", "a", "b", "b"]).assign(other=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(DataError, match=r"classification takes one target column"):
        from_pandas(frame, target=["origin", "other"])


def test_unknown_task_is_a_parameter_error() -> None:
    with pytest.raises(ValueError, match=r"task must be .*got 'regresion'"):
        from_pandas(classes_frame(["a", "a", "b", "b"]), target="origin", task="regresion")


def test_excel_rows_are_named_as_spreadsheet_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0], "1000": [0.1, np.nan, 0.3], "1001": [1, 2, 3.0]})
    path = tmp_path / "data.xlsx"
    frame.to_excel(path, index=False)
    with pytest.raises(DataError, match=r"data\.xlsx: row 2 \(spreadsheet row 3\), column '1000'"):
        read_table(path, target="y")


def test_excel_duplicate_headers_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "dup.xlsx"  # pandas would rename the second "1000" to "1000.1"
    pd.DataFrame([[1.0, 0.1, 0.2], [2.0, 0.3, 0.4]], columns=["y", "1000", "1000"]).to_excel(
        path, index=False
    )
    with pytest.raises(DataError, match=r"wavelength 1000 appears 2 times"):
        read_table(path, target="y")


def test_parquet_rows_are_plain(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0], "1000": [0.1, np.inf], "1001": [0.2, 0.3]})
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    match = r"data\.parquet: row 2, column '1000': infinite value 'inf'"
    with pytest.raises(DataError, match=match):
        read_table(path, target="y")


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown table type '\.dat'"):
        read_table(write(tmp_path, GOOD, "data.dat"))
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_rows_naming_and_take() -> None:
    rows = Rows(np.arange(1, 4), np.array([2, 4, 5]))
    assert rows(2) == "row 3 (line 5 of the file)"
    assert rows.take(np.array([2, 0]))(1) == "row 1 (line 2 of the file)"
    assert Rows.plain(3)(0) == "row 1"


@pytest.mark.parametrize(
    ("label", "expected"),
    [("1100", 1100.0), (" 950.5 ", 950.5), (1e3, 1000.0), ("1e3", 1000.0), ("nan", None),
     ("inf", None), ("glucose", None), (True, None)],
)
def test_parse_wavelength(label: object, expected: float | None) -> None:
    assert parse_wavelength(label) == expected


def test_decreasing_wavelengths_are_accepted() -> None:
    check_wavelengths(np.array([4000.0, 3998.0, 3996.0]), "x")  # wavenumbers often run down
    with pytest.raises(DataError, match=r"3999 follows 3998 in an otherwise decreasing axis"):
        check_wavelengths(np.array([4000.0, 3998.0, 3999.0]), "x")


def test_empty_excel_sheet(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    pd.DataFrame().to_excel(path, index=False)
    with pytest.raises(DataError, match=r"empty\.xlsx: the table is empty"):
        read_table(path)


def test_comma_file_named_txt_gets_a_hint(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"found 'sample,glucose,1000.*another sign"):
        read_table(write(tmp_path, GOOD, "data.txt"))
