"""``spectune compare-samplers``: TPE and random search on the same budget, both curves."""

from __future__ import annotations

import argparse
from pathlib import Path

from spectune._json import write_json
from spectune._outdir import check_out_dir, staged_output
from spectune.analysis._convergence import summarize_convergence
from spectune.cli._common import add_data_arguments, input_paths, load_dataset
from spectune.cli._tune import add_tuning_arguments, settings_from
from spectune.exceptions import SpectuneError
from spectune.tuning._compare import compare_samplers
from spectune.tuning._objectives import default_objective
from spectune.tuning._samplers import SAMPLERS


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("One study per sampler on the same data, splits, space, budget and "
                          "seed; writes OUT/convergence.png/.svg and OUT/convergence.json.")
    add_data_arguments(parser)
    add_tuning_arguments(parser)
    parser.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=["tpe", "random"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except ValueError as error:
        raise SpectuneError(str(error)) from None
    inputs = [*input_paths(args), *([Path(args.space)] if Path(args.space).is_file() else [])]
    check_out_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    data = load_dataset(args)
    with staged_output(args.out, overwrite=args.overwrite, inputs=inputs) as stage:
        studies = compare_samplers(data.train, stage, settings, args.samplers)
        objective = settings.objective or default_objective(data.train.task, data.train.y)
        result = {**summarize_convergence(studies, stage, objective=objective),
                  "n_trials": settings.n_trials, "seed": settings.seed}
        write_json(stage / "convergence.json", result)
    for name, curve in result["samplers"].items():
        print(f"{name:>8}: best {result['objective']} {curve['best']:.4g} at trial "
              f"{curve['best_trial']}")
    print(f"wrote {args.out / 'convergence.png'}")
    return 0
