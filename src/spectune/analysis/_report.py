"""The HTML report of a tuning run: one self-contained file that says how the final model fared.

``write_report(out)`` reads what ``spectune tune`` left in ``out`` (metrics.json, the Optuna
study, the model folder, predictions.csv, spectra.safetensors) and writes ``out/report.html``
plus every figure as PNG and SVG in ``out/figures/``. The verdict (the final model against the
best model of the table on the test set, the stack, the data roles) comes first, then the data,
the search, the importance of each hyperparameter, the model, what it looks at, and last how
to reproduce the run. Every part that cannot be made (too few trials, no test set, a purely
linear final model, an MLP without conv layers, a Pareto study...) becomes a note; only a
folder that is no run at all is refused.

The analysis functions draw every figure; this module only reads the folder and lays out the
page (:mod:`spectune.analysis._report_sections`, ``_report_search`` and ``_report_model``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from spectune.analysis import _report_model as model_parts
from spectune.analysis import _report_search as search_parts
from spectune.analysis import _report_sections as parts
from spectune.analysis._report_html import Figures, Section, note, page
from spectune.exceptions import SpectuneError
from spectune.training import JSON_NAME, SavedModel, load_model
from spectune.tuning._artifacts import PREDICTIONS, SPECTRA, load_spectra_arrays
from spectune.tuning._storage import open_storage, public_url

__all__ = ["RunFolder", "load_run", "write_report"]

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
FIGURES_NAME = "figures"
METRICS_NAME = "metrics.json"
STUDY_FILE = "study.db"
JOURNAL_FILE = "study.log"
#: The sets of predictions.csv, as the figures name them.
SET_NAMES = {"cal": "calibration", "tune": "tuning", "test": "test"}


@dataclass
class RunFolder:
    """What a finished run left on disk; anything but ``metrics`` may be missing.

    ``missing`` says, for each missing piece ("study", "model", "predictions", "spectra"),
    why, in words the report shows; ``cache`` keeps what several sections use (importance).
    """

    path: Path
    metrics: dict[str, Any]
    study: optuna.Study | None = None
    storage: str | None = None
    model: SavedModel | None = None
    model_meta: dict[str, Any] | None = None
    predictions: pd.DataFrame | None = None
    arrays: dict[str, np.ndarray] | None = None
    missing: dict[str, str] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return str(self.metrics.get("task", "regression"))

    @property
    def settings(self) -> dict[str, Any]:
        """The TuneSettings stored with the study (empty without the study)."""
        return dict(self.study.user_attrs.get("settings", {})) if self.study else {}

    @property
    def target_names(self) -> list[str]:
        if self.model is not None:
            return list(self.model.target_names)
        if self.predictions is not None and self.task == "regression":
            return [c[len("observed_"):] for c in self.predictions if c.startswith("observed_")]
        return [str(self.metrics.get("target", "y"))]

    @property
    def axis_label(self) -> str:
        """The spectral axis as the user named it (``--axis``), else "wavelength"."""
        return str(self.metrics.get("data", {}).get("axis") or "wavelength")

    @property
    def wavelengths(self) -> np.ndarray | None:
        if self.arrays is not None and "wavelengths" in self.arrays:
            return np.asarray(self.arrays["wavelengths"], dtype=float)
        return None if self.model is None else np.asarray(self.model.wavelengths, dtype=float)

    @property
    def classes(self) -> list[Any] | None:
        """Class labels in the model's code order (classification with a model only)."""
        if self.task != "classification" or self.model is None:
            return None
        return np.asarray(self.model.classes).tolist()

    def column(self, model: str, sets: tuple[str, ...]) -> np.ndarray | None:
        """``observed``, ``final`` or ``pls`` values of the rows in ``sets``, ``[n, targets]``
        for regression, labels ``[n]`` (as text) for classes; None when none."""
        table = self.predictions
        if table is None:
            return None
        rows = table[table["set"].isin(sets)]
        if rows.empty:
            return None
        if self.task == "classification":
            return rows[model].astype(str).to_numpy()
        return rows[[f"{model}_{t}" for t in self.target_names]].to_numpy(dtype=float)

    def pool_labels(self) -> np.ndarray | None:
        """Observed y of the pool (calibration + tuning) in pool order, in the model's types."""
        y = self.column("observed", ("cal", "tune"))
        if y is None or self.task != "classification" or self.classes is None:
            return y
        by_text = {str(c): c for c in self.classes}
        return np.asarray([by_text.get(v, v) for v in y])


def load_run(run_dir: str | Path, *, storage: str | None = None) -> RunFolder:
    """Read a run folder; raises :class:`SpectuneError` when ``run_dir`` is no run folder.

    ``storage`` is the Optuna storage URL when the study is not in ``run_dir/study.db``
    (``spectune tune --storage``); by default metrics.json's ``study.storage`` if recorded,
    else ``sqlite:///run_dir/study.db``.
    """
    path = Path(run_dir)
    metrics_file = path / METRICS_NAME
    if not path.is_dir():
        raise SpectuneError(f"{path}: no such folder; give the --out folder of a "
                            "`spectune tune` run.")
    try:
        metrics = json.loads(metrics_file.read_text())
    except FileNotFoundError:
        raise SpectuneError(f"{path}: not a spectune run folder (no {METRICS_NAME}); give the "
                            "--out folder of a `spectune tune` run.") from None
    except (OSError, ValueError) as error:
        raise SpectuneError(f"{metrics_file}: cannot be read ({error}); rerun the tuning or "
                            "restore the file.") from None
    if not isinstance(metrics, dict) or not {"final", "pls", "study"} <= set(metrics):
        raise SpectuneError(f"{metrics_file}: not the metrics of a `spectune tune` run (it "
                            "needs the final, pls and study sections); give a tune --out "
                            "folder (a run of an older spectune: run it again).")
    run = RunFolder(path, metrics)
    _load_study(run, storage)
    _load_model(run)
    _load_tables(run)
    return run


def _load_study(run: RunFolder, storage: str | None) -> None:
    name = run.metrics["study"].get("name", "spectune")
    url = storage or run.metrics["study"].get("storage")
    journal = run.path / JOURNAL_FILE  # the study of a run whose trials ran in 2+ processes
    if url is None and journal.is_file() and not (run.path / STUDY_FILE).is_file():
        url = f"journal://{journal.resolve()}"
    if url is None:
        if not (run.path / STUDY_FILE).is_file():
            run.missing["study"] = (f"no {STUDY_FILE} in the run folder (a run with --storage "
                                    "keeps its study there: pass --storage URL)")
            return
        url = f"sqlite:///{run.path / STUDY_FILE}"
    try:
        run.study = optuna.load_study(study_name=name, storage=open_storage(url))
        run.storage = public_url(url)
    except Exception as error:  # noqa: BLE001 - any storage error: go on without the study
        run.missing["study"] = (f"study {name!r} could not be loaded from {public_url(url)}: "
                                f"{error}")


def _load_model(run: RunFolder) -> None:
    folder = run.path / "model"
    if not (folder / JSON_NAME).is_file():
        run.missing["model"] = "no model/ folder"
        return
    try:
        run.model_meta = json.loads((folder / JSON_NAME).read_text())
        run.model = load_model(folder)
    except Exception as error:  # noqa: BLE001 - a damaged folder: the report goes on without
        run.missing["model"] = f"model/ could not be loaded: {error}"


def _load_tables(run: RunFolder) -> None:
    file = run.path / PREDICTIONS
    if file.is_file():
        labels = {c: str for c in ("set", "sample", "observed", "final", "pls")}
        run.predictions = pd.read_csv(file, dtype=labels if run.task == "classification"
                                      else {"set": str, "sample": str})
    else:
        run.missing["predictions"] = f"no {PREDICTIONS}"
    if (run.path / SPECTRA).is_file():
        run.arrays = load_spectra_arrays(run.path)
    else:
        run.missing["spectra"] = f"no {SPECTRA}"


def build_sections(run: RunFolder, figures: Figures, *, seed: int = 0) -> list[Section]:
    """Every section in report order; one that fails becomes a note, the others go on."""
    makers = (
        ("verdict", "1. Verdict: the final model against the best model of the table",
         parts.verdict),
        ("data", "2. Data", parts.data),
        ("search", "3. Search", search_parts.search),
        ("importance", "4. Hyperparameter importance", search_parts.importance),
        ("model", "5. Model", model_parts.model),
        ("explanations", "6. Explanations: which wavelengths the models use",
         model_parts.explanations),
        ("reproduce", "7. Reproducing this run", parts.reproduce),
    )
    sections = []
    for key, title, make in makers:
        section = Section(key, title)
        try:
            make(run, figures, section, seed)
        except Exception as error:  # one broken section must not cost the whole report
            log.warning("report: section %s failed: %s: %s", key, type(error).__name__, error)
            log.debug("report: section %s", key, exc_info=True)
            section.add(note(f"This section could not be made: {type(error).__name__}: "
                             f"{error}", error=True))
        sections.append(section)
    return sections


def write_report(run_dir: str | Path, *, seed: int = 0, storage: str | None = None,
                 axis: str | None = None) -> Path:
    """Write ``run_dir/report.html`` and ``run_dir/figures/`` (every figure as PNG and SVG).

    Parameters
    ----------
    run_dir : str or Path
        The output folder of ``spectune tune``.
    seed : int
        Seed of what the report draws at random: the fANOVA forest and the sampled spectra.
    storage : str, optional
        Optuna storage URL of the study, when it is not ``run_dir/study.db``.
    axis : str, optional
        Name and unit of the spectral axis ("wavenumber (cm⁻¹)"); default: the run's own
        (``metrics.json``'s ``data.axis``), else "wavelength".

    Returns
    -------
    Path
        The report. Both it and ``figures/`` appear whole or not at all: they are written
        beside their final names and renamed at the end.

    Raises
    ------
    SpectuneError
        When ``run_dir`` is not the folder of a tuning run.
    """
    run = load_run(run_dir, storage=storage)
    if axis:
        run.metrics.setdefault("data", {})["axis"] = axis
    stage = Path(tempfile.mkdtemp(prefix=".report-", dir=run.path))
    try:
        figures = Figures(stage / FIGURES_NAME)
        figures.folder.mkdir()
        sections = build_sections(run, figures, seed=seed)
        study = run.metrics.get("study", {})
        subtitle = (f"{run.path.resolve().name}: {run.task}, target "
                    f"{', '.join(run.target_names)}; study {study.get('name', '?')}, "
                    f"{study.get('n_trials', '?')} trials.")
        text = page("spectune report", subtitle, sections,
                    f"Made by spectune from {run.path}; figures in {FIGURES_NAME}/ "
                    "(PNG and SVG).")
        (stage / REPORT_NAME).write_text(text, encoding="utf-8")
        _replace_folder(stage / FIGURES_NAME, run.path / FIGURES_NAME)
        os.replace(stage / REPORT_NAME, run.path / REPORT_NAME)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return run.path / REPORT_NAME


def _replace_folder(new: Path, old: Path) -> None:
    """Put ``new`` in place of ``old`` (a folder, if any) with renames only."""
    if old.exists():
        retired = old.with_name(f".{old.name}-old-{os.getpid()}")
        shutil.rmtree(retired, ignore_errors=True)
        old.rename(retired)
        new.rename(old)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        new.rename(old)
