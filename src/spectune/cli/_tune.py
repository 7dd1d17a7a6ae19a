"""``spectune tune``: the search, the final model stacked with linear models, one test, a report.

The linear candidates are PLS and Ridge for regression, logistic regression for classes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from spectune._outdir import RunFolder, check_out_dir, staged_output
from spectune.analysis import write_report
from spectune.cli._common import Dataset, add_data_arguments, input_paths, load_dataset
from spectune.cli._options import axis_label, fraction, integer, non_negative, positive
from spectune.cli._table import print_metrics
from spectune.cli._worker import data_reference, local_workers
from spectune.exceptions import SpectuneError
from spectune.models import DEFAULT_ROUTES
from spectune.preprocess import make_route
from spectune.training import resolve_device
from spectune.tuning import TuneSettings
from spectune.tuning._objectives import OBJECTIVES
from spectune.tuning._run import finish_run, prepare, run_trials, worker_name
from spectune.tuning._samplers import PRUNERS, SAMPLERS
from spectune.tuning._space import SearchSpace, load_space
from spectune.tuning._storage import check_shared, open_storage, public_url, sqlite_path


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Search preprocessing, architecture and training settings with Optuna on a "
        "calibration/tuning split of TRAIN; cross-fit the best trials and the linear models "
        "(PLS and Ridge; logistic regression for classes) on calibration+tuning and stack them "
        "by their out-of-fold predictions; refit, evaluate once on the test data, and write "
        "OUT/metrics.json, OUT/model/, the study and OUT/report.html. The study is in "
        "OUT/study.db (watch it live: optuna-dashboard sqlite:///OUT/study.db), or in "
        "OUT/study.log when trials run one per core (see --workers; optuna-dashboard "
        "OUT/study.log), or in --storage.")
    add_data_arguments(parser)
    add_tuning_arguments(parser)
    w = parser.add_argument_group("workers (a study shared through --storage)")
    w.add_argument("--workers", type=integer(0),
                   help="0: create the study for 'spectune worker' processes and stop; N > 1: "
                   "run N workers on this machine (this process and N-1 others), then refit; "
                   "0 and N > 1 need --storage (journal:///PATH or a server URL); 1: this "
                   "process alone. Default: with --timeout on a CPU of 2+ cores and no "
                   "--storage or --population, one per core, each trial on one torch thread, "
                   "the study in OUT/study.log; else this process alone, which a --trials "
                   "budget and --seed reproduce")
    w.add_argument("--heartbeat", type=integer(1),
                   help="seconds between heartbeats of a running trial on a server database; "
                   "a trial silent for twice that is retried (default $SPECTUNE_HEARTBEAT or 30)")
    parser.set_defaults(func=run)


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    d = TuneSettings()
    g = parser.add_argument_group("search")
    g.add_argument("--space", default=d.space,
                   help="default, passos, shen, or a YAML file (default: default)")
    g.add_argument("--objective", choices=(*OBJECTIVES, "cv"),
                   help="rmse (regression default), overfit (0.5*RMSE_tune + 0.5*|MSE_tune - "
                   "MSE_cal|), accuracy, balanced_accuracy (default for imbalanced classes), "
                   "f1_macro; cv = rmse by --cv-folds k-fold CV")
    g.add_argument("--objective-weights", type=non_negative, nargs=2, default=d.objective_weights,
                   metavar=("W_TUNE", "W_GAP"), help="weights of the overfit objective")
    g.add_argument("--cv-folds", type=integer(2, zero=True), default=d.cv,
                   help="score trials by k-fold CV on calibration+tuning (0: hold-out tuning set)")
    g.add_argument("--seeds", type=integer(1), default=d.seeds,
                   help="train each trial from N seeds and score the mean")
    g.add_argument("--pareto", action="store_true",
                   help="minimise the error and the parameter count together (a Pareto front)")
    g.add_argument("--sampler", choices=SAMPLERS, default=d.sampler)
    g.add_argument("--startup-trials", type=integer(0), dest="n_startup_trials",
                   help="random trials before TPE/GP model (default ~10 per hyperparameter, "
                   "at most a third of --trials)")
    g.add_argument("--pruner", choices=PRUNERS, default=d.pruner)
    g.add_argument("--min-resource", type=integer(1), default=d.min_resource,
                   help="Hyperband's smallest number of epochs")
    g.add_argument("--reduction-factor", type=integer(2), default=d.reduction_factor)
    g.add_argument("--trials", type=integer(1), default=d.n_trials,
                   help="budget in finished trials")
    g.add_argument("--timeout", type=positive, help="budget in seconds")
    g.add_argument("--lr-mode", choices=("space", "range-test"), default=d.lr_mode,
                   help="tune the LR, or set it before the study by the LR range test "
                   "(default: the space's, else space)")
    t = parser.add_argument_group(
        "training and the final model (--epochs, --patience, --plateau-patience and --lr-mode "
        "apply to every trial, whatever the space says; not given: the space's value, else the "
        "default)")
    t.add_argument("--epochs", type=integer(1), default=d.max_epochs, dest="max_epochs",
                   help="most epochs a trial trains; Hyperband's largest resource (default 200)")
    t.add_argument("--patience", type=integer(1, zero=True), default=d.patience,
                   help="early-stopping patience in epochs, 0: off (default 30)")
    t.add_argument("--plateau-patience", type=integer(1, zero=True), default=d.plateau_patience,
                   help="epochs without improvement before the LR halves, 0: off (default 10)")
    t.add_argument("--device", default=d.device, help="cpu, cuda or auto")
    t.add_argument("--population", type=integer(1),
                   help="train K trials in lockstep (default on CUDA: sized by free GPU memory; "
                   "on a CPU one at a time is as fast)")
    t.add_argument("--no-report", dest="report", action="store_false",
                   help="skip report.html at the end (spectune report DIR writes it later)")
    t.add_argument("--candidates", type=integer(1), default=d.candidates,
                   help="distinct best trials cross-fitted as candidates of the final stack, "
                   "beside PLS and Ridge, or logistic regression for classes; a trial whose "
                   "cross-fitting would train more than the whole search did is passed over "
                   f"for the next (default {d.candidates})")
    t.add_argument("--jobs", type=integer(1), default=d.jobs,
                   help="processes that train the final stage's networks (cross-fitting, "
                   "refits), one thread each (default: one per core)")
    t.add_argument("--routes", type=_routes, dest="linear_routes",
                   help="preprocessing routes, comma-separated (default: "
                   f"{','.join(DEFAULT_ROUTES)}), that PLS and Ridge (PLS-DA and logistic "
                   "regression for classes) and the kNN and random-forest references choose "
                   "from by CV; the applicability domain takes PLS's; the PLS of PLS-residual "
                   "networks keeps the built-in default")
    t.add_argument("--max-components", type=integer(1), default=d.max_components,
                   help=f"largest number of PLS (PLS-DA) latent variables tried (default "
                   f"{d.max_components}); the PLS of PLS-residual networks keeps the built-in one")
    t.add_argument("--axis", type=axis_label,
                   help="name and unit of the spectral axis in the report: wavelength (nm), "
                   "wavenumber (cm-1), raman (Raman shift, cm-1), energy (eV), or your own label")
    t.add_argument("--screen-outliers", action="store_true",
                   help="leave out the calibration+tuning spectra flagged as outliers "
                   "(Hotelling T2, Q and a cross-validated PLS residual, decided on those "
                   "spectra alone, before they are split and before the search; the test set "
                   "is never screened); off by default")
    t.add_argument("--tune-size", type=fraction, default=d.tune_size,
                   help="share of the training data held out as tuning set")
    s = parser.add_argument_group("storage")
    s.add_argument("--storage",
                   help="Optuna storage URL (default: sqlite:///OUT/study.db, or "
                   "journal:///OUT/study.log when trials run one per core: see --workers)")
    s.add_argument("--study", dest="study_name", default=d.study_name)
    s.add_argument("--resume", action="store_true", help="continue the study in OUT/--storage")
    s.add_argument("--quiet", action="store_true", help="no progress line")


def settings_from(args: argparse.Namespace) -> TuneSettings:
    objective, cv = args.objective, args.cv_folds
    if objective == "cv":
        objective, cv = "rmse", cv or 5
    return TuneSettings(
        space=args.space, objective=objective, objective_weights=tuple(args.objective_weights),
        pareto=args.pareto, cv=cv, seeds=args.seeds, sampler=args.sampler,
        n_startup_trials=args.n_startup_trials, pruner=args.pruner,
        min_resource=args.min_resource, reduction_factor=args.reduction_factor,
        n_trials=args.trials, timeout=args.timeout, storage=args.storage,
        study_name=args.study_name, resume=args.resume, seed=args.seed, device=args.device,
        max_epochs=args.max_epochs, patience=args.patience,
        plateau_patience=args.plateau_patience, lr_mode=args.lr_mode,
        candidates=args.candidates, jobs=args.jobs, max_components=args.max_components,
        linear_routes=args.linear_routes, screen_outliers=args.screen_outliers,
        population=args.population, split=args.split, test_size=args.test_size,
        tune_size=args.tune_size, show_progress=not args.quiet,
    )


def _routes(text: str) -> tuple[str, ...]:
    """``--routes raw,snv+sg1``: each a route ``spectune.preprocess.make_route`` builds."""
    routes = tuple(r.strip() for r in text.split(",") if r.strip())
    try:
        for route in routes:
            make_route(route)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not routes:
        raise argparse.ArgumentTypeError("give at least one route, e.g. raw,snv+sg1")
    return routes


def run(args: argparse.Namespace) -> int:
    args.workers, journal = trial_processes(args)
    try:
        settings = settings_from(args)
    except ValueError as error:
        raise SpectuneError(str(error)) from None
    workers = 1 if args.workers is None else args.workers
    if workers != 1 and not journal:
        check_shared(args.storage, f"--workers {workers}")
    inputs = [*input_paths(args), *([Path(args.space)] if Path(args.space).is_file() else [])]
    if args.resume:
        check_resumable(args.out, args.storage or (_journal(args.out) if journal else None),
                        overwrite=args.overwrite)
    elif workers:
        check_out_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    data = load_dataset(args)
    space = load_space(settings.space, task=data.train.task)
    storage = open_storage(args.storage, heartbeat=args.heartbeat) if args.storage else None
    if workers == 0:
        prepare(data.train, settings, test=data.test, storage=storage, space=space,
                data_ref=data_reference(args))
        url, name = public_url(args.storage), settings.study_name
        print(f"created study {name!r} in {url}; start workers on any machine with:\n"
              f"  spectune worker --storage {url} --study {name}\n"
              f"then refit and test once with:\n"
              f"  spectune finish --storage {url} --study {name} --out {args.out}")
        return 0
    started = time.perf_counter()
    job = dict(args=args, settings=settings, data=data, space=space, storage=storage,
               workers=workers, started=started, journal=journal)
    if args.overwrite and not args.resume and args.out.is_dir() and any(args.out.iterdir()):
        with staged_output(args.out, overwrite=True, inputs=inputs) as stage:  # swapped at end
            _tune_in(stage, **job)
    else:
        with RunFolder(args.out) as folder:  # grows in place: --resume continues it
            _tune_in(folder.out, on_start=folder.started, **job)
    return 0


def _tune_in(folder: Path, *, args: argparse.Namespace, settings: TuneSettings, data: Dataset,
             space: SearchSpace, storage: Any, workers: int, started: float, journal: bool,
             on_start: Callable[[], None] = lambda: None) -> None:
    """The study, its trials and the final refit, written into ``folder``; ``journal``: the
    study in ``folder``'s journal file, which the trial processes share."""
    if journal:
        args.storage = _journal(folder)
        settings = dataclasses.replace(settings, storage=args.storage)
        storage = open_storage(args.storage)
    found = prepare(data.train, settings, test=data.test, out=folder, storage=storage,
                    space=space, data_ref=data_reference(args))
    on_start()
    threads = max(1, (os.cpu_count() or 1) // workers)
    if workers > 1:
        torch.set_num_threads(threads)
    with local_workers(workers - 1, storage=args.storage, study=settings.study_name,
                       logs=folder / "workers", threads=threads, device=args.device,
                       heartbeat=args.heartbeat):
        run_trials(found, settings, folder, worker=worker_name() if workers > 1 else None)
    result = finish_run(found, settings, folder, started=started,
                        data_info={"range": args.wl_range, "test_split": data.split,
                                   "command": args.command_line, "axis": args.axis})
    print_metrics(result.metrics)
    print(f"wrote {args.out / 'metrics.json'}, model in {args.out / 'model'}")
    if args.report:
        write_report(folder, seed=settings.seed, storage=settings.storage)
        print(f"report: {args.out / 'report.html'}")


def check_resumable(out: Path, storage: str | None, *, overwrite: bool) -> None:
    """--resume continues a study in place: refuse what would start one instead, before any
    file is made (opening a missing SQLite file would create it)."""
    if overwrite:
        raise SpectuneError("--resume continues the study in --out; --overwrite would replace "
                            "it: pass one of them.")
    path = sqlite_path(storage) if storage else Path(out) / "study.db"
    if path is not None and not path.is_file():
        where = f"--storage {storage}" if storage else f"--out {out}"
        raise SpectuneError(f"--resume: no study to continue in {where} ({path} does not "
                            "exist); run without --resume to start one.")


#: The study of a run whose trials run in several processes by default (``trial_processes``).
JOURNAL_FILE = "study.log"


def trial_processes(args: argparse.Namespace) -> tuple[int | None, bool]:
    """``--workers`` with the CPU default filled in, and whether the study is a journal in OUT.

    On a CPU with 2 or more cores, a run bound by ``--timeout`` trains one trial per core, each
    on one torch thread, through a journal file in OUT that the processes share (bench/SEARCH.md:
    with a competing process, two trials on one thread each ran 3 to 9 times faster than one
    trial on two threads; on an idle machine at most 1.5 times slower). A run
    bound by ``--trials`` alone keeps one process, so that its seed reproduces it; so does a GPU
    run (the population trainer fills the device). ``--resume`` finds the journal in OUT.
    """
    if args.workers is not None or args.storage is not None:
        return args.workers, False
    if args.resume and not (args.out / JOURNAL_FILE).is_file():
        return None, False  # the study is in OUT/study.db
    cores = os.cpu_count() or 1
    parallel = (args.timeout is not None and cores >= 2 and args.population is None
                and resolve_device(args.device).type == "cpu")
    return (cores if parallel else None), parallel or args.resume


def _journal(folder: Path) -> str:
    return f"journal://{Path(folder).resolve() / JOURNAL_FILE}"
