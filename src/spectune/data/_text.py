"""Delimited text tables (CSV, TSV) read as fast as pandas and as strictly as a person would.

pandas parses the table once, as ``pandas.read_csv`` does. Around that: one pass over the bytes
first, which refuses binary files and ragged lines (pandas pads a short line with NaN without a
word), finds the encoding and the file line of each data row; then the few columns that are not
spectra (targets, ids, groups) are read again as the text written in the file, so that an id
"007" keeps its zeros and a target "n/a" is reported as what it is, not as an empty cell.
"""

from __future__ import annotations

import csv
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spectune.data._validate import Rows, parse_wavelength
from spectune.exceptions import DataError

log = logging.getLogger("spectune")

#: Read label columns as written: only an empty cell is missing ("NA" may be a sample id).
AS_WRITTEN = {"dtype": str, "keep_default_na": False, "na_values": [""]}
#: File signatures of the binary formats users most often give by mistake.
_SIGNATURES = {b"PK\x03\x04": "a ZIP archive (an .xlsx workbook?)", b"PAR1": "a Parquet file",
               b"%PDF": "a PDF document", b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook"}


@dataclass(frozen=True)
class Layout:
    """What the byte scan found: the header fields, the line of each data row, the encoding."""

    header: list[str]
    lines: np.ndarray
    encoding: str


def read_text_table(path: Path, sep: str) -> tuple[pd.DataFrame, Rows]:
    """The table in ``path`` with its header as written, and how to name its rows."""
    layout = scan_layout(path, sep)
    labels = [j for j, name in enumerate(layout.header) if parse_wavelength(name) is None]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # label columns are read again
        try:
            frame = pd.read_csv(path, sep=sep, encoding=layout.encoding)
            if labels:
                text = pd.read_csv(path, sep=sep, encoding=layout.encoding, usecols=labels,
                                   **AS_WRITTEN)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: cannot be parsed as a table "
                            f"({_first_line(error)}); check the separators and quotes.") from None
    if caught:
        log.warning("%s: %d warning(s) while reading, first: %s", path, len(caught),
                    _first_line(caught[0].message))
    for k, j in enumerate(labels):
        frame.isetitem(j, text.iloc[:, k])
    frame.columns = [name.strip() for name in layout.header]  # pandas renames duplicates
    if len(frame) != layout.lines.size:  # lines pandas reads differently: name rows plainly
        return frame, Rows.plain(len(frame))
    return frame, Rows(np.arange(1, len(frame) + 1), layout.lines)


def scan_layout(path: Path, sep: str) -> Layout:
    """Header, the line of each data row and the encoding; refuse binary files and ragged rows.

    Lines are counted with ``bytes.count`` (a second for 400 MB); a file with quotes, whose
    fields may hold the separator or span lines, is scanned by the csv module instead.
    """
    with path.open("rb") as handle:
        head = handle.read(8192)
    if b"\x00" in head:
        kind = next((what for magic, what in _SIGNATURES.items() if head.startswith(magic)),
                    "a binary file")
        raise DataError(f"{path}: this is {kind}, not a {_kind(sep)} text table; give the "
                        f"table in the format its extension says (.csv, .tsv, .parquet, .xlsx).")
    encoding = "utf-8-sig"
    quoted = b'"' in head
    header: list[bytes] | None = None
    lines: list[int] = []
    if not quoted:
        mark = sep.encode()
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if b'"' in raw or b"\r" in raw[:-2]:
                    quoted = True  # quotes, or old Mac line ends: let the csv module decide
                    break
                if encoding == "utf-8-sig":
                    try:
                        raw.decode("utf-8")
                    except UnicodeDecodeError:
                        encoding = "latin-1"  # every byte string decodes in Latin-1
                if not raw.strip():
                    continue
                fields = raw.count(mark) + 1
                if header is None:
                    header = raw.rstrip(b"\r\n").split(mark)
                    continue
                if fields != len(header):
                    _ragged(path, number, fields, len(header), sep)
                lines.append(number)
    if quoted:
        return _scan_with_csv(path, sep)
    names = None if header is None else [field.decode(encoding) for field in header]
    if names and encoding == "utf-8-sig":
        names[0] = names[0].removeprefix("\ufeff")
    return _layout(path, names, lines, encoding)


def _scan_with_csv(path: Path, sep: str) -> Layout:
    """The slow, exact scan: the csv module reads quoted fields as pandas does."""
    encoding = "utf-8-sig"
    try:
        with path.open(encoding=encoding) as handle:
            for _ in handle:
                pass
    except UnicodeDecodeError:
        encoding = "latin-1"
    with path.open(newline="", encoding=encoding) as handle:
        reader = csv.reader(handle, delimiter=sep)
        header: list[str] | None = None
        lines: list[int] = []
        for record in reader:
            if not record or all(not field.strip() for field in record):
                continue
            if header is None:
                header = record
                continue
            if len(record) != len(header):
                _ragged(path, reader.line_num, len(record), len(header), sep)
            lines.append(reader.line_num)
    return _layout(path, header, lines, encoding)


def _layout(path: Path, header: list[str] | None, lines: list[int], encoding: str) -> Layout:
    if header is None:
        raise DataError(f"{path}: the file is empty; expected a header line and one row a sample.")
    if not lines:
        raise DataError(f"{path}: the file has a header but no data rows; add one row a sample.")
    return Layout(header, np.asarray(lines), encoding)


def _ragged(path: Path, line: int, fields: int, expected: int, sep: str) -> None:
    raise DataError(
        f"{path}: line {line} has {fields} fields but the header has {expected}; fix the "
        f"separators on that line (a missing value still needs its {sep!r})."
    )


def _kind(sep: str) -> str:
    return "comma-separated" if sep == "," else "tab-separated"


def _first_line(message: object) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else type(message).__name__
