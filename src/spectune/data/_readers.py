"""Readers: tables of spectra (CSV, TSV, Excel, Parquet, DataFrame, arrays) and instrument files.

A table holds one sample a row; every column whose header is a number is a spectral channel at
that wavelength, the others are targets, sample ids or groups. Instrument files hold one
spectrum each; their targets come from a separate table keyed by the file stem.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from spectune.data import _validate as check
from spectune.data._spectra import Spectra, Task
from spectune.data._text import read_text_table
from spectune.data._validate import Rows
from spectune.exceptions import DataError

TEXT_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}
EXCEL_SUFFIXES = (".xlsx", ".xls")
Target = str | Sequence[str] | None


def read_table(
    path: str | PathLike[str],
    *,
    target: Target = None,
    id_column: str | None = None,
    group_column: str | None = None,
    task: Task | None = None,
    sheet: str | int | None = None,
) -> Spectra:
    """Read a table of spectra, one sample a row, validating it cell by cell.

    Parameters
    ----------
    path : path
        ``.csv`` (comma), ``.tsv``/``.tab``/``.txt`` (tab), ``.parquet``, ``.xlsx``/``.xls``.
    target : str or list of str, optional
        Target column(s); several mean several regression targets. None reads prediction data.
    id_column, group_column : str, optional
        Sample ids, and groups (batch, season) that splits must keep together.
    task : {"regression", "classification"}, optional
        Inferred when None: a numeric target means regression.
    sheet : str or int, optional
        Excel sheet (default: the first).

    Returns
    -------
    Spectra
        One channel; wavelengths from the numeric headers, in file order.
    """
    path = Path(path)
    frame, rows = read_frame(path, sheet=sheet)
    return frame_to_spectra(
        frame, rows, target=target, id_column=id_column, group_column=group_column, task=task,
        source=str(path),
    )


def from_pandas(
    df: pd.DataFrame,
    *,
    target: Target = None,
    id_column: str | None = None,
    group_column: str | None = None,
    task: Task | None = None,
    source: str = "<DataFrame>",
) -> Spectra:
    """A DataFrame laid out like :func:`read_table`'s files (numeric column labels = spectra)."""
    return frame_to_spectra(
        df, Rows.plain(len(df)), target=target, id_column=id_column, group_column=group_column,
        task=task, source=source,
    )


def from_numpy(
    X: ArrayLike,
    y: ArrayLike | None = None,
    wavelengths: ArrayLike | None = None,
    *,
    target_names: Sequence[str] | None = None,
    ids: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    task: Task | None = None,
    source: str = "<array>",
) -> Spectra:
    """Arrays ``X`` (n, points) or (n, channels, points) and ``y``, checked like a file.

    Without ``wavelengths`` the points are numbered 0, 1, 2, ...
    """
    check.check_task(task)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim not in (2, 3) or X.shape[0] == 0:
        raise DataError(
            f"{source}: X must be (n, points) or (n, channels, points); got shape {X.shape}."
        )
    rows = Rows.plain(X.shape[0])
    check.check_finite(X, source, rows)
    grid = np.arange(X.shape[-1], dtype=np.float64) if wavelengths is None else wavelengths
    grid = np.asarray(grid, dtype=np.float64).ravel()
    check.check_wavelengths(grid, source)
    ids, groups = (None if v is None else np.asarray(v) for v in (ids, groups))
    if y is None:
        return Spectra(X, grid, ids=ids, groups=groups, source=source, task=task)
    y2 = np.asarray(y)
    y2 = y2[:, None] if y2.ndim == 1 else y2
    names = list(target_names or [f"y{i}" for i in range(y2.shape[1])])
    if len(names) != y2.shape[1]:
        raise DataError(f"{source}: {len(names)} target names for {y2.shape[1]} target columns.")
    table = pd.DataFrame({name: y2[:, k] for k, name in enumerate(names)})
    values, names, task = collect_targets(table, rows, names, task, source)
    return Spectra(X, grid, values, tuple(names), ids, groups, source=source, task=task)


def read_frame(path: Path, *, sheet: str | int | None = None) -> tuple[pd.DataFrame, Rows]:
    """The raw table in ``path`` with its header as written, and how to name its rows.

    Whatever the parsing library raises on a damaged file becomes one :class:`DataError`
    naming the file.
    """
    suffix = path.suffix.lower()
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a table file; give the file (.csv, .tsv, "
                        f".parquet, .xlsx) or, for instrument files, the folder as TRAIN.")
    if not path.is_file():
        raise DataError(f"{path}: file not found.")
    if suffix in TEXT_SEPARATORS:
        return read_text_table(path, TEXT_SEPARATORS[suffix])
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # pyarrow raises many types on a damaged file
            raise DataError(f"{path}: cannot be read as Parquet ({_reason(error)}); is the file "
                            f"complete? Write it again, or export the table as CSV.") from None
        return frame, Rows.plain(len(frame))
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path, sheet)
    raise DataError(
        f"{path}: unknown table type {suffix!r}; use .csv, .tsv/.tab/.txt (tab-separated), "
        f".parquet or .xlsx/.xls, or a folder (or several files) of JCAMP-DX, SPC or OPUS "
        f"spectra with --targets."
    )


def frame_to_spectra(
    frame: pd.DataFrame,
    rows: Rows,
    *,
    target: Target,
    id_column: str | None,
    group_column: str | None,
    task: Task | None,
    source: str,
) -> Spectra:
    """Validate a table and split it into spectra, targets, ids and groups."""
    check.check_task(task)
    check.check_not_empty(frame, source)
    positions, wavelengths = check.spectral_columns(list(frame.columns), source)
    check.check_wavelengths(wavelengths, source)
    X = check.spectral_block(frame.iloc[:, positions], source, rows)
    spectral = set(positions)
    others = frame.iloc[:, [j for j in range(frame.shape[1]) if j not in spectral]]
    y, names, task = collect_targets(others, rows, target, task, source)
    ids = label_column(others, rows, id_column, "sample id", source)
    groups = label_column(others, rows, group_column, "group", source)
    return Spectra(X, wavelengths, y, tuple(names), ids, groups, source=source, task=task)


def collect_targets(
    frame: pd.DataFrame, rows: Rows, target: Target, task: Task | None, source: str
) -> tuple[np.ndarray | None, list[str], Task | None]:
    """Target column(s) of ``frame`` checked and stacked: ``(y, names, task)``."""
    if target is None:
        return None, [], task
    names = [target] if isinstance(target, str) else list(target)
    if not names:
        raise ValueError("target is an empty list; give column names, or None for new data.")
    columns: list[np.ndarray] = []
    tasks: set[Task] = set()
    for name in names:
        column = get_column(frame, name, "target", source)
        values, found = check.target_values(column, task, source, rows)
        columns.append(values)
        tasks.add(found)
    if "classification" in tasks and len(names) > 1:
        raise DataError(
            f"{source}: targets {names} include class labels; classification takes one target "
            f"column (several targets must all be numeric)."
        )
    y = columns[0] if len(names) == 1 else np.column_stack(columns)
    return y, names, tasks.pop()


def get_column(frame: pd.DataFrame, name: str, role: str, source: str) -> pd.Series:
    j = check.find_column(list(frame.columns), name, role, list(frame.columns), source)
    return frame.iloc[:, j].rename(str(name))


def label_column(
    frame: pd.DataFrame, rows: Rows, name: str | None, role: str, source: str
) -> np.ndarray | None:
    if name is None:
        return None
    return check.label_values(get_column(frame, name, role, source), role, source, rows)


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def _read_excel(path: Path, sheet: str | int | None) -> tuple[pd.DataFrame, Rows]:
    """One sheet: ``sheet``, or the only sheet that holds anything (several: the user says)."""
    try:
        book = pd.ExcelFile(path)
    except ImportError as error:
        raise DataError(f"{path}: reading this workbook needs a package that is not installed "
                        f"({_reason(error)}); save it as .xlsx or export CSV.") from None
    except Exception as error:  # zipfile, openpyxl and xlrd raise many types
        raise DataError(f"{path}: cannot be read as an Excel workbook ({_reason(error)}); is "
                        f"the file complete? Save it again from Excel, or export CSV.") from None
    with book:
        name = _sheet_name(path, book, sheet)
        try:
            header = pd.read_excel(book, sheet_name=name, header=None, nrows=1)
            if header.empty:
                return header, Rows.plain(0)  # frame_to_spectra reports the empty table
            text = {v: str for v in header.iloc[0] if check.parse_wavelength(v) is None}
            frame = pd.read_excel(book, sheet_name=name, dtype=text, keep_default_na=False,
                                  na_values=[""])
        except Exception as error:
            raise DataError(f"{path}: cannot read sheet {name!r} ({_reason(error)}).") from None
    if header.shape[1] == frame.shape[1]:  # restore headers that pandas renamed as duplicates
        frame.columns = [str(v).strip() if isinstance(v, str) else v for v in header.iloc[0]]
    return frame, Rows.below_header(len(frame), "spreadsheet row {}")


def _sheet_name(path: Path, book: pd.ExcelFile, sheet: str | int | None) -> str | int:
    names = [str(n) for n in book.sheet_names]
    listed = ", ".join(map(repr, names))
    if sheet is not None:
        if isinstance(sheet, int) and 0 <= sheet < len(names):
            return names[sheet]
        if str(sheet) in names:
            return str(sheet)
        raise DataError(f"{path}: cannot read sheet {sheet!r}: no such sheet; the workbook "
                        f"holds {listed} (--sheet NAME).")
    if len(names) == 1:
        return names[0]
    filled = [n for n in names
              if not pd.read_excel(book, sheet_name=n, header=None, nrows=1).empty]
    if len(filled) > 1:
        raise DataError(f"{path}: the workbook holds {len(filled)} sheets with data "
                        f"({', '.join(map(repr, filled))}); choose one with --sheet NAME.")
    return filled[0] if filled else names[0]
