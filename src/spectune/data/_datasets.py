"""Built-in real datasets, shipped by dependencies, as the tables a user could have written.

Each dataset is first laid out as the CSV a chemometrician would make (``sample``, target
column(s), one column per wavelength); :func:`load_dataset` reads those tables through the same
validation as user files, and :func:`export_dataset` writes them, so both paths agree.
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from spectune.data._readers import from_pandas
from spectune.data._spectra import Spectra, Task
from spectune.exceptions import DataError

ID_COLUMN = "sample"
# Fermentation test: on-line spectra were recorded every 1.25 min from t = 0 (1629 spectra span
# 33.9 h, the HPLC table ends at 33.88 h); HPLC row at ``time`` hours -> spectrum time*60/1.25.
MINUTES_PER_SPECTRUM = 1.25

Tables = dict[str, pd.DataFrame]  # "train" / "test" -> table


def _table(ids: list[str], targets: dict[str, object], spectra: pd.DataFrame) -> pd.DataFrame:
    """``sample``, targets, then spectra whose column labels are their wavelengths (floats)."""
    columns = spectra.set_axis(spectra.columns.astype(float), axis=1).reset_index(drop=True)
    head = pd.DataFrame({ID_COLUMN: ids, **targets})
    return pd.concat([head, columns], axis=1)


def _fermentation() -> Tables:
    from chemotools.datasets import load_fermentation_test, load_fermentation_train

    train_x, train_y = load_fermentation_train()
    ids = [f"offline-{i:02d}" for i in range(len(train_x))]
    train = _table(ids, {"glucose": train_y["glucose"].to_numpy()}, train_x)
    online, hplc = load_fermentation_test()
    index = np.rint(hplc["time"].to_numpy() * 60.0 / MINUTES_PER_SPECTRUM).astype(int)
    if index.max() >= len(online) or (np.diff(index) <= 0).any():
        raise DataError(  # the shipped data changed: the time -> spectrum mapping no longer holds
            f"fermentation: HPLC times map to spectra {index.min()}..{index.max()}, not a rising "
            f"sequence within the {len(online)} on-line spectra; check chemotools' data."
        )
    ids = [f"{t:g}" for t in hplc["time"]]  # hours since the start of the fermentation
    test = _table(ids, {"glucose": hplc["glucose"].to_numpy()}, online.iloc[index])
    return {"train": train, "test": test}


def _coffee() -> Tables:
    from chemotools.datasets import load_coffee

    spectra, labels = load_coffee()
    ids = [f"coffee-{i:02d}" for i in range(len(spectra))]
    return {"train": _table(ids, {"labels": labels["labels"].to_numpy()}, spectra)}


def _spectrapepper() -> Tables:
    import spectrapepper

    axis, spectra = spectrapepper.load_spectras()
    spectra = pd.DataFrame(np.asarray(spectra, dtype=np.float64), columns=np.asarray(axis))
    ids = [f"sp-{i:03d}" for i in range(len(spectra))]
    y = np.asarray(spectrapepper.load_targets(), dtype=np.float64)
    return {"train": _table(ids, {"y": y}, spectra)}


# name -> (tables, target column, task, description)
_DATASETS: dict[str, tuple[Callable[[], Tables], str, Task, str]] = {
    "fermentation": (
        _fermentation, "glucose", "regression",
        "MIR of lignocellulose fermentation (chemotools): 21 off-line train, 34 on-line test "
        "spectra matched to HPLC glucose; 428-1833 cm-1 (use about 950:1550).",
    ),
    "coffee": (
        _coffee, "labels", "classification",
        "ATR-FTIR of coffee from 3 origins (chemotools): 60 spectra, no test set.",
    ),
    "spectrapepper": (
        _spectrapepper, "y", "regression",
        "spectrapepper sample data: 196 spectra of 1024 points, one target; no test set.",
    ),
}


def dataset_names() -> tuple[str, ...]:
    """Names accepted by :func:`load_dataset` and :func:`export_dataset`."""
    return tuple(_DATASETS)


def describe_dataset(name: str) -> str:
    """One line on what the dataset holds."""
    return _entry(name)[3]


def load_dataset(name: str) -> tuple[Spectra, Spectra | None]:
    """``(train, test)`` of a built-in dataset; ``test`` is None when it has none.

    Examples
    --------
    >>> train, test = load_dataset("fermentation")
    >>> train.n_samples, test.n_samples
    (21, 34)
    """
    tables, target, task, _ = _entry(name)
    loaded = {
        part: from_pandas(
            table, target=target, id_column=ID_COLUMN, task=task, source=f"{name}_{part}"
        )
        for part, table in tables().items()
    }
    return loaded["train"], loaded.get("test")


def export_dataset(
    name: str, out_dir: str | PathLike[str], *, overwrite: bool = False
) -> list[Path]:
    """Write ``<name>_train.csv`` (and ``<name>_test.csv``) into ``out_dir``; return the paths.

    The files are what a user would give spectune: ``sample``, the target, then one column per
    wavelength. Existing files are kept unless ``overwrite=True``.
    """
    tables = _entry(name)[0]()
    out = Path(out_dir)
    paths = [out / f"{name}_{part}.csv" for part in tables]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{', '.join(existing)} already exist; pass overwrite=True (--overwrite) to replace."
        )
    out.mkdir(parents=True, exist_ok=True)
    for path, table in zip(paths, tables.values(), strict=True):
        table.to_csv(path, index=False)
    return paths


def _entry(name: str) -> tuple[Callable[[], Tables], str, Task, str]:
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(_DATASETS)}.")
    return _DATASETS[name]
