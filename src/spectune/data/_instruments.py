"""Instrument files (JCAMP-DX, SPC, Bruker OPUS): one spectrum a file, targets in a table.

Each format is read by its own library into ``(x, y)``; :func:`read_spectra` then checks that
all files share one grid and matches each file stem to a row of the targets table.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import io
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from spectune.data import _validate as check
from spectune.data._grid import describe_grid, interpolate, same_grid
from spectune.data._readers import (
    EXCEL_SUFFIXES,
    TEXT_SEPARATORS,
    Target,
    collect_targets,
    get_column,
    label_column,
    read_frame,
)
from spectune.data._spectra import Spectra, Task
from spectune.data._validate import Rows
from spectune.exceptions import DataError

JCAMP_SUFFIXES = (".jdx", ".dx", ".jcamp", ".jcm")
OPUS_PATTERN = re.compile(r"^\.\d+$")  # OPUS files are numbered: sample.0, sample.1, ...
SPC_INSTALL = "pip install --no-build-isolation spc-spectra"
# Preferred OPUS data blocks: processed spectra before single-channel ones.
OPUS_BLOCKS = ("a", "r", "t", "km", "atr", "ra", "e", "logr", "pas", "sm")

XY = tuple[np.ndarray, np.ndarray]

log = logging.getLogger("spectune")


def is_instrument_file(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in JCAMP_SUFFIXES or suffix == ".spc" or bool(OPUS_PATTERN.match(suffix))


def read_spectrum_file(path: Path, *, opus_block: str | None = None) -> XY:
    """``(x, y)`` of the one spectrum in ``path``, chosen by its extension.

    Whatever the parsing library raises, or prints, on a file it cannot read becomes one
    :class:`DataError` naming the file; its prints go to the log (``spectune -v``).
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataError(f"{path}: file not found.")
    readers = {**dict.fromkeys(JCAMP_SUFFIXES, _read_jcamp), ".spc": _read_spc}
    reader = readers.get(suffix, _read_opus if OPUS_PATTERN.match(suffix) else None)
    if reader is None and suffix in (*TEXT_SEPARATORS, ".parquet", *EXCEL_SUFFIXES):
        raise DataError(f"{path}: a table among spectrum files; give a table on its own, or "
                        f"only JCAMP-DX, SPC or OPUS files.")
    if reader is None:
        raise DataError(
            f"{path}: unknown file type {suffix!r}; spectune reads tables (.csv, .tsv/.tab/.txt, "
            f".parquet, .xlsx/.xls) and spectrum files: JCAMP-DX ({', '.join(JCAMP_SUFFIXES)}), "
            f"SPC (.spc), Bruker OPUS (.0, .1, ...)."
        )
    try:
        with _prints_logged(path), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, y = reader(path, opus_block)
    except DataError:
        raise
    except ImportError as error:
        raise DataError(f"{path}: {error}") from None
    except Exception as error:  # the parsing libraries raise anything on a damaged file
        reason = " ".join(str(error).split())[:120] or "no message"
        raise DataError(f"{path}: cannot be read ({type(error).__name__}: {reason}); is it a "
                        f"complete {_FORMATS[reader]} file?") from None
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.size == 0 or x.shape != y.shape:
        raise DataError(
            f"{path}: read {x.size} x values and {y.size} y values; expected one spectrum with "
            f"as many of each (is the file complete?)."
        )
    return x, y


@contextlib.contextmanager
def _prints_logged(path: Path) -> Iterator[io.StringIO]:
    """What a parsing library prints goes to the log (``spectune -v``), never to stdout."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield printed
    finally:
        for line in printed.getvalue().splitlines():
            log.info("%s: %s", path, line)


def _read_jcamp(path: Path, _: str | None) -> XY:
    """One XY spectrum (##XYDATA or ##XYPOINTS); compound files, peak tables, NTUPLES and data
    that fail the format's own checks are refused."""
    import jcamp

    with _prints_logged(path) as printed:  # its "X-Check failed" lines say the data are bad
        data = jcamp.readfile(str(path))
    children = data.get("children") or []
    if children:
        raise DataError(f"{path}: a compound JCAMP-DX file (##DATA TYPE=LINK) of "
                        f"{len(children)} blocks; spectune reads one XY spectrum per file: "
                        f"export each spectrum to its own file.")
    for key, what in (("ntuples", "an NTUPLES block (several pages, e.g. NMR real and "
                       "imaginary parts)"), ("peak table", "a peak table (##PEAK TABLE)")):
        if key in data and "xydata" not in data and "xypoints" not in data:
            raise DataError(f"{path}: holds {what}, not one sampled spectrum (##XYDATA); "
                            f"export the full spectrum.")
    x, y = np.asarray(data.get("x", [])), np.asarray(data.get("y", []))
    if y.size == 0:
        raise DataError(f"{path}: no spectrum (##XYDATA or ##XYPOINTS) found in this JCAMP-DX "
                        f"file.")
    declared = data.get("npoints")
    declared = declared if isinstance(declared, (int, float)) else None
    checks = [line for line in printed.getvalue().splitlines() if "failed" in line.lower()]
    if x.size != y.size or (declared is not None and y.size != declared):
        said = "its" if declared is None else f"declares {declared:g} points but its"
        raise DataError(f"{path}: {said} data decode to {x.size} x and {y.size} y values "
                        f"({checks[0] if checks else 'lines missing?'}); export the spectrum "
                        f"again, uncompressed (AFFN).")
    if checks:
        raise DataError(f"{path}: the file's own checks fail ({checks[0]}); its compressed data "
                        f"decode wrongly: export the spectrum again, uncompressed (AFFN).")
    return x, y


def _import_spc() -> ModuleType:
    for name in ("spc_spectra", "spc"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(f"reading .spc files needs the optional package spc-spectra: {SPC_INSTALL}")


def _read_spc(path: Path, _: str | None) -> XY:
    spc = _import_spc()
    data = spc.File(str(path))  # it prints the format it found: read_spectrum_file logs it
    if data.fnsub != 1:
        raise DataError(
            f"{path}: holds {data.fnsub} spectra; spectune reads one spectrum per .spc file: "
            f"export them one per file, or as a table."
        )
    sub = data.sub[0]
    x = sub.x if data.dat_fmt.endswith("-xy") else data.x
    return x, sub.y


def _read_opus(path: Path, block: str | None) -> XY:
    import brukeropus

    data = brukeropus.read_opus(str(path))
    if not data.is_opus:
        raise DataError(f"{path}: not a Bruker OPUS file (numbered extensions are read as OPUS).")
    keys = list(data.data_keys)
    wanted = (block,) if block else OPUS_BLOCKS
    found = [key for key in wanted if key in keys]
    if not found:
        raise DataError(
            f"{path}: no {'/'.join(wanted)} data block; the file holds {keys}: pass opus_block= "
            f"one of them."
        )
    spectrum = getattr(data, found[0])
    return spectrum.x, spectrum.y


def read_spectra(
    paths: str | PathLike[str] | Iterable[str | PathLike[str]],
    *,
    targets_table: str | PathLike[str] | pd.DataFrame | None = None,
    target: Target = None,
    id_column: str | None = None,
    group_column: str | None = None,
    task: Task | None = None,
    sheet: str | int | None = None,
    resample: bool = False,
    opus_block: str | None = None,
) -> Spectra:
    """Read instrument files (JCAMP-DX, SPC, OPUS), one spectrum a file, ids = file stems.

    Parameters
    ----------
    paths : path or iterable of paths
        Files, or one folder whose spectrum files are read in name order.
    targets_table : path or DataFrame, optional
        Targets (and groups) keyed by sample id; ``id_column`` names the key column (default:
        the table's first column). Every file stem must have a row.
    target, group_column, task, sheet
        As in :func:`read_table`, applied to ``targets_table``.
    resample : bool, default=False
        Interpolate files on another grid onto the first file's grid instead of refusing them.
    opus_block : str, optional
        OPUS data block to read (``"a"`` absorbance, ``"r"``, ``"t"``, ``"sm"``...).
    """
    files = _spectrum_files(paths)
    _check_unique_stems(files)
    grid, X = _read_on_one_grid(files, resample, opus_block)
    ids = np.asarray([path.stem for path in files])
    many = f"{files[0]} (+{len(files) - 1})"
    source = str(paths) if isinstance(paths, (str, PathLike)) else many
    if targets_table is None:
        if target is not None or group_column is not None:
            raise DataError(
                f"{source}: instrument files hold no targets or groups; give them in a table "
                f"keyed by file name: targets_table= (--targets FILE)."
            )
        return Spectra(X, grid, ids=ids, source=source, task=task)
    frame, rows, table_source = _targets_frame(targets_table, sheet)
    pos = _match_ids(ids, frame, rows, id_column, files, table_source)
    frame, rows = frame.iloc[pos], rows.take(pos)
    y, names, task = collect_targets(frame, rows, target, task, table_source)
    groups = label_column(frame, rows, group_column, "group", table_source)
    return Spectra(X, grid, y, tuple(names), ids, groups, source=source, task=task)


def _read_on_one_grid(
    files: list[Path], resample: bool, opus_block: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """The first file's grid and every spectrum on it, ``[n, points]``."""
    spectra: list[np.ndarray] = []
    for path in files:
        x, y = read_spectrum_file(path, opus_block=opus_block)
        check.check_finite(y[None], str(path), Rows.plain(1))
        check.check_wavelengths(x, str(path), table=False)
        if not spectra:
            grid = x
        elif not same_grid(x, grid):
            if not resample:
                raise DataError(
                    f"{path}: {describe_grid(x)}, but {files[0].name} has {describe_grid(grid)}; "
                    f"all files must share one grid: pass resample=True (--resample) to "
                    f"interpolate onto the first file's grid."
                )
            y = interpolate(x, y, grid, str(path))
        spectra.append(y)
    return grid, np.stack(spectra)


def _spectrum_files(paths: str | PathLike[str] | Iterable[str | PathLike[str]]) -> list[Path]:
    """The files to read: a folder's spectrum files, a glob's matches, or the files given."""
    if isinstance(paths, (str, PathLike)):
        path = Path(paths)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and is_instrument_file(p))
            if not files:
                raise DataError(
                    f"{path}: a folder with no JCAMP-DX ({', '.join(JCAMP_SUFFIXES)}), SPC or "
                    f"OPUS files; give a folder of spectrum files, or a table file (.csv, "
                    f".tsv, .parquet, .xlsx)."
                )
            return files
        if not path.exists() and glob.has_magic(str(path)):
            files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
            if not files:
                raise DataError(f"{path}: no file matches this pattern.")
            return files
        return [path]
    files = [Path(p) for p in paths]
    if not files:
        raise DataError("read_spectra: no files given.")
    return files


def _check_unique_stems(files: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise DataError(
                f"{path}: same sample id {path.stem!r} (file stem) as {seen[path.stem]}; "
                f"rename one."
            )
        seen[path.stem] = path


def _targets_frame(
    table: str | PathLike[str] | pd.DataFrame, sheet: str | int | None
) -> tuple[pd.DataFrame, Rows, str]:
    if isinstance(table, pd.DataFrame):
        frame, rows, source = table, Rows.plain(len(table)), "<targets DataFrame>"
    else:
        (frame, rows), source = read_frame(Path(table), sheet=sheet), str(table)
    check.check_not_empty(frame, source)
    return frame, rows, source


def _match_ids(
    ids: np.ndarray, frame: pd.DataFrame, rows: Rows, id_column: str | None,
    files: list[Path], source: str,
) -> np.ndarray:
    """Row of the targets table for each file, matched on the file stem."""
    if id_column is None:
        column = frame.iloc[:, 0]
    else:
        column = get_column(frame, id_column, "sample id", source)
    keys = pd.Series(check.label_values(column, "sample id", source, rows)).astype(str).str.strip()
    repeated = keys.duplicated().to_numpy()
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0])
        raise DataError(
            f"{source}: {rows(i)}: sample id {keys.iloc[i]!r} repeats an earlier row; ids must "
            f"be unique."
        )
    index = pd.Index(keys)
    where = index.get_indexer(ids)
    named = index.get_indexer([path.name for path in files])  # keys may be whole file names
    where = np.where(where < 0, named, where)
    if (where < 0).any():
        k = int(np.flatnonzero(where < 0)[0])
        raise DataError(
            f"{files[k]}: no row for sample id {str(ids[k])!r} (the file name) in column "
            f"{str(column.name)!r} of {source} ({int((where < 0).sum())} files unmatched); add "
            f"the rows or remove the files."
        )
    return where


_FORMATS = {_read_jcamp: "JCAMP-DX", _read_spc: "SPC", _read_opus: "Bruker OPUS"}
