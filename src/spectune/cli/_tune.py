"""``spectune tune``: the search, the final model stacked with PLS and Ridge, one test, a report."""

from __future__ import annotations

import argparse
import os
import shutil
import time

import torch

from spectune._outdir import check_out_dir
from spectune.analysis import write_report
from spectune.cli._common import add_data_arguments, load_dataset
from spectune.cli._table import print_metrics
from spectune.cli._worker import data_reference, local_workers
from spectune.exceptions import SpectuneError
from spectune.models import DEFAULT_ROUTES
from spectune.preprocess import make_route
from spectune.tuning._objectives import OBJECTIVES
from spectune.tuning._run import TuneSettings, finish_run, prepare, run_trials, worker_name
from spectune.tuning._samplers import PRUNERS, SAMPLERS
from spectune.tuning._storage import check_shared, open_storage, public_url


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "tune", help="tune a CNN/MLP with Optuna, stack the best with PLS and Ridge, test once",
        description="Search preprocessing, architecture and training settings with Optuna on a "
        "calibration/tuning split of TRAIN; cross-fit the best trials, PLS and Ridge on "
        "calibration+tuning and stack them by their out-of-fold predictions; refit, evaluate "
        "once on the test data, and write OUT/metrics.json, OUT/model/, OUT/study.db (watch it "
        "live: optuna-dashboard sqlite:///OUT/study.db) and OUT/report.html.",
    )
    add_data_arguments(parser)
    add_tuning_arguments(parser)
    w = parser.add_argument_group("workers (a study shared through --storage)")
    w.add_argument("--workers", type=int,
                   help="0: create the study for 'spectune worker' processes and stop; N > 1: "
                   "run N workers on this machine (this process and N-1 others), then refit "
                   "(default: this process alone)")
    w.add_argument("--heartbeat", type=int,
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
    g.add_argument("--objective-weights", type=float, nargs=2, default=d.objective_weights,
                   metavar=("W_TUNE", "W_GAP"), help="weights of the overfit objective")
    g.add_argument("--cv-folds", type=int, default=d.cv,
                   help="score trials by k-fold CV on calibration+tuning (0: hold-out tuning set)")
    g.add_argument("--seeds", type=int, default=d.seeds,
                   help="train each trial from N seeds and score the mean")
    g.add_argument("--pareto", action="store_true",
                   help="minimise the error and the parameter count together (a Pareto front)")
    g.add_argument("--sampler", choices=SAMPLERS, default=d.sampler)
    g.add_argument("--startup-trials", type=int, dest="n_startup_trials",
                   help="random trials before TPE/GP model (default ~10 per hyperparameter, "
                   "at most a third of --trials)")
    g.add_argument("--pruner", choices=PRUNERS, default=d.pruner)
    g.add_argument("--min-resource", type=int, default=d.min_resource,
                   help="Hyperband's smallest number of epochs")
    g.add_argument("--reduction-factor", type=int, default=d.reduction_factor)
    g.add_argument("--trials", type=int, default=d.n_trials, help="budget in finished trials")
    g.add_argument("--timeout", type=float, help="budget in seconds")
    g.add_argument("--lr-mode", choices=("space", "range-test"), default=d.lr_mode,
                   help="tune the LR, or set it before the study by the LR range test")
    t = parser.add_argument_group("training and the final model")
    t.add_argument("--epochs", type=int, default=d.max_epochs, dest="max_epochs")
    t.add_argument("--patience", type=int, default=d.patience)
    t.add_argument("--device", default=d.device, help="cpu, cuda or auto")
    t.add_argument("--population", type=int,
                   help="train K trials in lockstep (default on CUDA: sized by free GPU memory; "
                   "on a CPU one at a time is as fast)")
    t.add_argument("--no-report", dest="report", action="store_false",
                   help="skip report.html at the end (spectune report DIR writes it later)")
    t.add_argument("--candidates", type=int, default=d.candidates,
                   help="distinct best trials cross-fitted as candidates of the final stack, "
                   f"beside PLS and Ridge (default {d.candidates})")
    t.add_argument("--routes", type=_routes, dest="linear_routes",
                   help="preprocessing routes PLS and Ridge choose from by CV, comma-separated "
                   f"(default: {','.join(DEFAULT_ROUTES)})")
    t.add_argument("--max-components", type=int, default=d.max_components,
                   help="largest number of PLS latent variables tried (default "
                   f"{d.max_components})")
    t.add_argument("--tune-size", type=float, default=d.tune_size,
                   help="share of the training data held out as tuning set")
    s = parser.add_argument_group("storage")
    s.add_argument("--storage", help="Optuna storage URL (default: sqlite:///OUT/study.db)")
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
        max_epochs=args.max_epochs, patience=args.patience, lr_mode=args.lr_mode,
        candidates=args.candidates, max_components=args.max_components,
        linear_routes=args.linear_routes,
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
    try:
        settings = settings_from(args)
    except ValueError as error:
        raise SpectuneError(str(error)) from None
    workers = 1 if args.workers is None else args.workers
    if workers < 0:
        raise SpectuneError(f"--workers must be >= 0, got {workers}.")
    if workers != 1:
        check_shared(args.storage, f"--workers {workers}")
    if not args.resume and workers:
        check_out_dir(args.out, overwrite=args.overwrite)
    data = load_dataset(args)
    if args.overwrite and not args.resume and args.out.exists() and workers:
        shutil.rmtree(args.out)
    started = time.perf_counter()
    storage = open_storage(args.storage, heartbeat=args.heartbeat) if args.storage else None
    found = prepare(data.train, settings, test=data.test, out=args.out, storage=storage,
                    data_ref=data_reference(args))
    if workers == 0:
        url, name = public_url(args.storage), settings.study_name
        print(f"created study {name!r} in {url}; start workers on any machine with:\n"
              f"  spectune worker --storage {url} --study {name}\n"
              f"then refit and test once with:\n"
              f"  spectune finish --storage {url} --study {name} --out {args.out}")
        return 0
    threads = max(1, (os.cpu_count() or 1) // workers)
    if workers > 1:
        torch.set_num_threads(threads)
    with local_workers(workers - 1, storage=args.storage, study=settings.study_name,
                       logs=args.out / "workers", threads=threads, device=args.device,
                       heartbeat=args.heartbeat):
        run_trials(found, settings, args.out, worker=worker_name() if workers > 1 else None)
    result = finish_run(found, settings, args.out, started=started,
                        data_info={"range": args.wl_range, "test_split": data.split,
                                   "command": args.command_line})
    print_metrics(result.metrics)
    print(f"wrote {args.out / 'metrics.json'}, model in {result.model_dir}")
    if args.report:
        print(f"report: {write_report(args.out, seed=settings.seed, storage=settings.storage)}")
    return 0
