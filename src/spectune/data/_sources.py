"""What a user names as spectra: one table file, or instrument files with a targets table.

The command line takes either: ``train.csv`` (spectra and targets in one table), or a folder, a
glob (``'spectra/*.jdx'``) or several JCAMP-DX / SPC / OPUS files, whose targets come from a
table keyed by file name (``--targets targets.csv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from spectune.data._instruments import read_spectra
from spectune.data._readers import EXCEL_SUFFIXES, TEXT_SEPARATORS, Target, read_table
from spectune.data._spectra import Spectra, Task
from spectune.exceptions import DataError

TABLE_SUFFIXES = (*TEXT_SEPARATORS, ".parquet", *EXCEL_SUFFIXES)

Source = str | PathLike[str] | Sequence[str | PathLike[str]]


def read_input(
    source: Source,
    *,
    targets: str | PathLike[str] | None = None,
    target: Target = None,
    id_column: str | None = None,
    group_column: str | None = None,
    task: Task | None = None,
    sheet: str | None = None,
    resample: bool = False,
) -> Spectra:
    """Spectra from one table file, or from instrument files and the ``targets`` table.

    ``id_column``, ``group_column`` and ``sheet`` apply to the table that holds them: the
    spectra table itself, or ``targets`` (whose ``id_column``, by default its first column,
    holds the file names, with or without extension). ``resample`` puts instrument files on
    different grids onto the first file's grid.
    """
    paths = [source] if isinstance(source, (str, PathLike)) else list(source)
    if len(paths) == 1 and Path(paths[0]).suffix.lower() in TABLE_SUFFIXES:
        if targets is not None:
            raise DataError(f"--targets {targets}: {paths[0]} is a table, which holds its "
                            f"target columns itself; --targets is for instrument files "
                            f"(JCAMP-DX, SPC, OPUS).")
        return read_table(paths[0], target=target, id_column=id_column,
                          group_column=group_column, task=task, sheet=sheet)
    return read_spectra(paths[0] if len(paths) == 1 else paths, targets_table=targets,
                        target=target, id_column=id_column, group_column=group_column,
                        task=task, sheet=sheet, resample=resample)
