"""``spectune.tune``: the Python face of ``spectune tune``, same settings, same files."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spectune.analysis import write_report
from spectune.data import Spectra, align_to_grid, parse_range, read_table
from spectune.tuning import TuneSettings
from spectune.tuning._run import TuneResult
from spectune.tuning._run import tune as _tune

__all__ = ["tune"]


def tune(
    train: Spectra | str | Path,
    *,
    target: str | Sequence[str] | None = None,
    test: Spectra | str | Path | None = None,
    out: str | Path = "spectune-run",
    wl_range: str | None = None,
    id_column: str | None = None,
    group_column: str | None = None,
    task: str | None = None,
    resample: bool = False,
    report: bool = True,
    **settings: Any,
) -> TuneResult:
    """Tune a network for ``train`` and test it once, as ``spectune tune`` does.

    Parameters
    ----------
    train, test : Spectra or path of a table
        Tables are read with ``read_table(path, target=..., id_column=..., ...)``. Without
        ``test``, ``test_size`` of ``train`` is held out as the test set.
    out : path
        Output folder: study.db, model/, metrics.json, trials.csv, predictions.csv and, with
        ``report``, report.html.
    wl_range : "A:B", optional
        Keep wavelengths between A and B.
    **settings
        Any field of :class:`spectune.tuning.TuneSettings` (``n_trials``, ``space``,
        ``sampler``, ``objective``, ``cv``, ``seed``, ...).

    Examples
    --------
    >>> result = spectune.tune("train.csv", target="protein", n_trials=30)  # doctest: +SKIP
    >>> result.metrics["final"]["test"]["rmse"]  # doctest: +SKIP
    """
    names = {f.name for f in dataclasses.fields(TuneSettings)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise TypeError(f"tune() got unknown settings {unknown}; see TuneSettings.")
    call = _call(train, target=target, test=test, out=out, wl_range=wl_range,
                 id_column=id_column, group_column=group_column, task=task, resample=resample,
                 **settings)
    read = dict(target=target, id_column=id_column, group_column=group_column, task=task)
    train = train if isinstance(train, Spectra) else read_table(train, **read)
    test = test if test is None or isinstance(test, Spectra) else read_table(test, **read)
    if wl_range is not None:
        train = train.select_range(*parse_range(wl_range))
    if test is not None:
        test = align_to_grid(test, train.wavelengths, resample=resample)
    tuning = TuneSettings(**settings)
    result = _tune(train, Path(out), tuning, test=test,
                   data_info={"range": wl_range, "command": call})
    if report:
        write_report(result.out, seed=tuning.seed, storage=tuning.storage)
    return result


def _call(train: Any, **arguments: Any) -> str:
    """The Python call, as the report's "reproduce" section shows it (defaults left out)."""
    def shown(value: Any) -> str:
        return f"<Spectra from {value.source}>" if isinstance(value, Spectra) else repr(
            str(value) if isinstance(value, Path) else value)

    given = [f"{name}={shown(v)}" for name, v in arguments.items()
             if v is not None and v is not False]
    return f"spectune.tune({shown(train)}, {', '.join(given)})"
