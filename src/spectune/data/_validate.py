"""Checks shared by every reader, each raising a one-line DataError that says where and what to do.

Readers differ in how they get a table (CSV, Excel, Parquet, instrument files); the checks on what
is inside are the same, so they live here as small functions that take the source name and a
:class:`Rows` that names data rows the way the user sees them in their file.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spectune.data._spectra import Task
from spectune.exceptions import DataError

TASKS = (None, "regression", "classification")


@dataclass(frozen=True)
class Rows:
    """Names data row ``i`` (0-based) in messages: "row 7 (line 8 of the file)".

    ``row`` counts data rows from 1, as a spreadsheet does below its header; ``place`` is where
    that row sits in the file (text line or spreadsheet row, header included), when known.
    """

    numbers: np.ndarray
    places: np.ndarray | None = None
    place_format: str = "line {} of the file"

    @classmethod
    def plain(cls, n: int) -> Rows:
        return cls(np.arange(1, n + 1))

    @classmethod
    def below_header(cls, n: int, place_format: str) -> Rows:
        """Row ``i`` sits at place ``i + 2``: one header line, counting from 1."""
        return cls(np.arange(1, n + 1), np.arange(2, n + 2), place_format)

    def __call__(self, i: int) -> str:
        text = f"row {self.numbers[i]}"
        if self.places is not None:
            text += f" ({self.place_format.format(self.places[i])})"
        return text

    def take(self, index: np.ndarray) -> Rows:
        places = None if self.places is None else self.places[index]
        return Rows(self.numbers[index], places, self.place_format)


def check_task(task: object) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be 'regression', 'classification' or None; got {task!r}.")


def check_not_empty(frame: pd.DataFrame, source: str) -> None:
    if frame.shape[1] == 0:
        raise DataError(f"{source}: the table is empty; expected a header and one row a sample.")
    if frame.shape[0] == 0:
        raise DataError(
            f"{source}: the table has a header but no data rows; add one row a sample."
        )


def parse_wavelength(label: object) -> float | None:
    """The wavelength a column header stands for, or None when it is not a finite number."""
    if isinstance(label, bool):
        return None
    try:
        value = float(str(label).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def spectral_columns(labels: Sequence[object], source: str) -> tuple[list[int], np.ndarray]:
    """Positions and wavelengths of the columns whose header parses as a number."""
    parsed = [parse_wavelength(label) for label in labels]
    positions = [j for j, value in enumerate(parsed) if value is not None]
    if not positions:
        shown = ", ".join(repr(str(label)) for label in labels[:8])
        more = f" and {len(labels) - 8} more" if len(labels) > 8 else ""
        hint = ""
        if any(sep in str(label) for label in labels for sep in ",;\t"):
            hint = " (a header holds ',', ';' or a tab: is the file separated by another sign?)"
        raise DataError(
            f"{source}: no spectral columns (headers that are numbers, like 1100 or 1100.5); "
            f"found {shown}{more}{hint}. Name each spectral column by its wavelength."
        )
    return positions, np.asarray([parsed[j] for j in positions], dtype=np.float64)


def check_wavelengths(wavelengths: np.ndarray, source: str, *, table: bool = True) -> None:
    """Refuse duplicated or unordered wavelengths: filters and the grid check need an order.

    ``table``: the wavelengths are a table's column headers (else a file's x values).
    """
    place = "spectral column" if table else "point"
    values, counts = np.unique(wavelengths, return_counts=True)
    if (counts > 1).any():
        dup = values[counts > 1][0]
        where = np.flatnonzero(wavelengths == dup) + 1
        fix = "keep one column per wavelength" if table else "export the spectrum again"
        raise DataError(
            f"{source}: wavelength {dup:g} appears {where.size} times ({place}s "
            f"{', '.join(map(str, where))}); {fix}."
        )
    if wavelengths.size < 2:
        return
    steps = np.sign(np.diff(wavelengths))
    direction = np.sign(wavelengths[-1] - wavelengths[0])  # the axis' overall order, not step 1
    if (steps != direction).any():
        k = int(np.flatnonzero(steps != direction)[0]) + 1
        order = "increasing" if direction > 0 else "decreasing"
        raise DataError(
            f"{source}: wavelengths are not in order: {wavelengths[k]:g} follows "
            f"{wavelengths[k - 1]:g} in an otherwise {order} axis ({place} {k + 1}); "
            f"{'sort the spectral columns by wavelength' if table else 'export it again'}."
        )


def spectral_block(frame: pd.DataFrame, source: str, rows: Rows) -> np.ndarray:
    """The spectral columns as float64, refusing text, empty cells, NaN and inf by cell.

    Checked column by column: the columns pandas parsed as numbers (all of them, in a clean
    table) are taken as one block; only the others are converted and searched for text.
    """
    numeric = np.asarray([dtype.kind in "fiu" for dtype in frame.dtypes])
    if numeric.all():
        numbers = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        _raise_at_missing_or_inf(numbers, frame, source, rows)
        return numbers
    numbers = np.empty(frame.shape, dtype=np.float64)
    if numeric.any():
        numbers[:, numeric] = frame.iloc[:, np.flatnonzero(numeric)].to_numpy(
            dtype=np.float64, na_value=np.nan)
    text = np.zeros(frame.shape, dtype=bool)
    for j in np.flatnonzero(~numeric):
        column = frame.iloc[:, j]
        if column.dtype.kind == "b":  # True/False is not an absorbance
            column = column.astype(object)
        numbers[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
        text[:, j] = column.notna().to_numpy() & np.isnan(numbers[:, j])
    _raise_at(text, frame, source, rows, "non-numeric value {value!r} in the spectral block")
    _raise_at_missing_or_inf(numbers, frame, source, rows)
    return numbers


def _raise_at_missing_or_inf(numbers: np.ndarray, frame: pd.DataFrame, source: str,
                             rows: Rows) -> None:
    _raise_at(np.isnan(numbers), frame, source, rows, "missing value (empty cell or NaN)")
    _raise_at(np.isinf(numbers), frame, source, rows, "infinite value {value!r}")


def check_finite(X: np.ndarray, source: str, rows: Rows) -> None:
    """Refuse NaN or inf in spectra that did not come from a table (arrays, instrument files)."""
    bad = ~np.isfinite(X.reshape(X.shape[0], -1))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(
            f"{source}: {rows(int(i))}, point {j + 1}: spectra hold {int(bad.sum())} NaN or "
            f"infinite values; remove those samples or repair the spectra."
        )


def _raise_at(
    mask: np.ndarray, frame: pd.DataFrame, source: str, rows: Rows, what: str
) -> None:
    if not mask.any():
        return
    i, j = (int(k) for k in np.argwhere(mask)[0])
    more = int(mask.sum()) - 1
    tail = f" ({more} more such cells)" if more else ""
    detail = what.format(value=str(frame.iat[i, j]))
    raise DataError(
        f"{source}: {rows(i)}, column {str(frame.columns[j])!r}: {detail}{tail}; fix the cell "
        f"or remove the row."
    )


def find_column(labels: Sequence[object], name: str, role: str, others: Sequence[object],
                source: str) -> int:
    """Position of the column called ``name``; the error lists the non-spectral columns."""
    found = [j for j, label in enumerate(labels) if str(label) == str(name)]
    if len(found) > 1:
        raise DataError(
            f"{source}: {role} column {name!r} appears {len(found)} times; rename one."
        )
    if not found:
        names = [str(label) for label in others]
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else " Check the name, or add that column."
        listed = ", ".join(map(repr, names)) or "none"
        raise DataError(
            f"{source}: {role} column {name!r} not found; the non-spectral columns are "
            f"{listed}.{hint}"
        )
    return found[0]


def label_values(column: pd.Series, role: str, source: str, rows: Rows) -> np.ndarray:
    """Sample ids or groups: any values, but none missing."""
    missing = _missing(column)
    if missing.any():
        _raise_missing(missing, column, role, source, rows)
    return column.to_numpy()


def target_values(
    column: pd.Series, task: Task | None, source: str, rows: Rows
) -> tuple[np.ndarray, Task]:
    """One target column as floats (regression) or labels (classification), with its task."""
    missing = _missing(column)
    if missing.any():
        _raise_missing(missing, column, "target", source, rows)
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    if task is None:
        numeric = np.isfinite(numbers).mean() >= 0.5 and not pd.api.types.is_bool_dtype(column)
        task = "regression" if numeric else "classification"
    if task == "classification":
        values = column.to_numpy()
        check_classes(values, str(column.name), source, rows)
        return values, task
    bad = ~np.isfinite(numbers)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "not a finite number" if np.isinf(numbers[i]) else "not a number"
        raise DataError(
            f"{source}: {rows(i)}, column {str(column.name)!r}: target {column.iloc[i]!r} is "
            f"{what}; fix it or remove the row, or pass --task classification if the "
            f"column holds classes."
        )
    check_not_constant(numbers, str(column.name), source)
    return numbers, task


def check_not_constant(values: np.ndarray, name: str, source: str) -> None:
    if values.size > 1 and np.ptp(values) == 0:  # one row: the sample counts say what is wrong
        raise DataError(
            f"{source}: target {name!r} is {values[0]:g} in all {values.size} rows; a constant "
            f"cannot be learned: check the column, or choose another --target."
        )


def check_classes(labels: np.ndarray, name: str, source: str, rows: Rows) -> None:
    """Each class needs two samples, so that calibration and test can both hold it."""
    classes, first, counts = np.unique(labels.astype(str), return_index=True, return_counts=True)
    if classes.size < 2:
        raise DataError(
            f"{source}: target {name!r} holds one class ({str(classes[0])!r}); "
            f"classification needs at least two."
        )
    if (counts == 1).any():
        k = int(np.flatnonzero(counts == 1)[0])
        raise DataError(
            f"{source}: {rows(int(first[k]))}, column {name!r}: class {str(classes[k])!r} has "
            f"only one sample; a class needs at least 2 (add samples, merge it, or drop the row)."
        )


def _missing(column: pd.Series) -> np.ndarray:
    blank = column.astype(str).str.strip() == ""
    return (column.isna() | blank).to_numpy()


def _raise_missing(
    missing: np.ndarray, column: pd.Series, role: str, source: str, rows: Rows
) -> None:
    i = int(np.flatnonzero(missing)[0])
    more = int(missing.sum()) - 1
    tail = f" ({more} more rows)" if more else ""
    raise DataError(
        f"{source}: {rows(i)}, column {str(column.name)!r}: empty {role} value{tail}; fill it "
        f"in or remove the row."
    )
