"""A study whose trials train K at a time, in lockstep, on one device (batched ask and tell).

Why: one small spectral network cannot fill a GPU (issue 6). Optuna's ask-and-tell interface
lets us hold K trials open: ``study.ask()`` K times (TPE's ``constant_liar`` keeps the open
trials from being proposed twice), train their networks together with
:class:`~spectune.training._population.PopulationTrainer`, and ``study.tell`` each trial the
moment it ends, which frees its slot for the next ask. Everything a trial does alone still holds:
per-epoch reports to the pruner (Hyperband sees each trial's own epochs), early stopping and the
plateau schedule per trial, the same objective, the same user attributes, failures recorded
(``fail_reason``) without halting the study.

Grouping (and one mask): trials train together only when their networks are the same up to
the weights, the dropout rates and the width of "same"-padded odd kernels (a narrow kernel is
trained centred in the widest one, its outer taps held at zero: exactly the same function), and
they share the data, i.e. the evaluation split, the preprocessing, the PLS-residual switch, the
batch size, the loss and the optimizer family (``population_key``). Each group is its own
population; all groups advance one epoch per round, and the total number of members in flight is
at most ``population``. A space with many architectures (units, layers) therefore gives small
groups; masking units inside the largest layer would batch more of them, at the cost of compute
and of the bit-level agreement with a trial trained alone. A trial that cannot join any
population (SGD, RMSprop, Adagrad; other random layers) is trained alone by the
:class:`TrialRunner`, in turn with the rounds.

Several seeds or CV folds: each (seed, evaluation) run of a trial is a member of its own; the
trial ends when all of them have, and only its first run reports to the pruner, as in
:class:`TrialRunner`. A pruned or failed run stops the trial's other runs.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from spectune.models import ArchSummary
from spectune.training import (
    MemberOutcome,
    PopulationTrainer,
    TrainConfig,
    TrainingPruned,
    augmenter_from_params,
    population_key,
    resolve_device,
)
from spectune.training._network import (
    NetworkInputs,
    SpectralNetwork,
    build_member,
    finish_network,
    prepare_inputs,
)
from spectune.training._predict import CHUNK
from spectune.training._trainer import Augment
from spectune.tuning._materialise import TooLargeError, TrialPlan
from spectune.tuning._study import STOPPED
from spectune.tuning._time_budget import NotStarted
from spectune.tuning._trial import TrialRunner, _classes, _record, wants_pls_residual

if TYPE_CHECKING:
    from spectune.tuning._execute import TrialSource

__all__ = ["population_size", "run_population_study"]

log = logging.getLogger("spectune")
StudyCallback = Callable[[optuna.Study, FrozenTrial], None]
MAX_POPULATION = 512


def population_size(summary: ArchSummary, batch_size: int, n_val: int, free_bytes: int, *,
                    share: float = 0.5, cap: int = MAX_POPULATION) -> int:
    """How many members of this architecture fit in ``share`` of ``free_bytes`` (at least 1).

    Per member (float32): weights, gradient, Adam's two moments and the best weights (5 copies
    of the parameters); the activations of a training batch, kept for the backward pass (about
    3 copies); the evaluation chunk's activations; the gathered input batch.
    """
    # layers without weights (flatten) are views of the block before them
    activations = sum(math.prod(layer.out_shape) for layer in summary.layers if layer.n_params)
    inputs = math.prod(summary.in_shape)
    per_member = 4 * (5 * summary.n_params + 3 * batch_size * activations
                      + min(n_val, CHUNK) * activations + batch_size * inputs)
    return int(max(1, min(cap, share * free_bytes // max(per_member, 1))))


def run_population_study(
    study: optuna.Study,
    runner: TrialRunner,
    *,
    population: int | None,
    source: TrialSource,
    callbacks: Sequence[StudyCallback] = (),
    exact_dropout: bool | None = None,
) -> None:
    """Run the trials ``source`` gives, ``population`` members in flight, until it stops.

    Parameters
    ----------
    study : optuna.Study
        Any sampler; TPE with ``constant_liar=True`` (spectune's default) is meant for it.
    runner : TrialRunner
        Supplies the space, the data, the evaluations, the objective and the training defaults
        (``train_defaults["device"]`` is where the populations live); its ``time_budget`` fits
        each new trial to the time left.
    population : int or None
        Most runs trained at once (a trial with S seeds and F folds is S*F runs). None (CUDA
        only): :func:`population_size` of the first trial's architecture in the GPU's free
        memory (logged).
    source : TrialSource
        The one gate of new trials (budget, deadline, ``max_trials``, worker tag; ``_execute``).
        Open trials finish when it stops; their heartbeats are recorded through it.
    callbacks : sequence of callable (study, frozen_trial)
        Called after each tell, as ``study.optimize``'s callbacks.
    exact_dropout : bool or None
        Passed to :class:`PopulationTrainer` (None: exact on CPU, batched draw on CUDA).

    Ctrl-C fails the open trials with the reason ``STOPPED`` (not counted; the caller queues
    them again) and propagates.
    """
    device = resolve_device(str(runner.train_defaults.get("device", "cpu")))
    if population is None and device.type != "cuda":
        raise ValueError(f"population=None sizes the population by free GPU memory; the "
                         f"device is {device}: give population=K.")
    if population is not None and (isinstance(population, bool)
                                    or not isinstance(population, int) or population < 1):
        raise ValueError(f"population must be an integer >= 1, got population={population!r}.")
    _PopulationStudy(study, runner, population, list(callbacks), exact_dropout).run(source)


@dataclass
class _OpenTrial:
    trial: optuna.Trial
    plan: TrialPlan
    start: float
    n_runs: int
    done: dict[int, tuple[SpectralNetwork, dict[str, float]]] = field(default_factory=dict)
    members: dict[int, tuple[Any, int]] = field(default_factory=dict)  # run -> (group, member)


@dataclass(frozen=True)
class _Run:
    open: _OpenTrial
    index: int
    evaluation: int
    inputs: NetworkInputs
    spec: Any
    config: TrainConfig


class _PopulationStudy:
    def __init__(self, study: optuna.Study, runner: TrialRunner, population: int | None,
                 callbacks: list[StudyCallback], exact_dropout: bool | None) -> None:
        self.study, self.runner, self.population = study, runner, population
        self.callbacks, self.exact_dropout = callbacks, exact_dropout
        self.groups: dict[Any, PopulationTrainer] = {}
        self.runs: dict[tuple[Any, int], _Run] = {}
        self.open: dict[int, _OpenTrial] = {}
        self._inputs: dict[Any, NetworkInputs] = {}

    def run(self, source: TrialSource) -> None:
        try:
            while True:
                while sum(len(g) for g in self.groups.values()) < (self.population or 1):
                    trial = source.ask()
                    if trial is None:
                        break
                    self._start(trial)
                if not self.groups:
                    if source.state() == "stop":
                        break
                    time.sleep(source.poll)  # other workers run the study's last trials
                    continue
                source.beat([t.trial for t in self.open.values()])
                for key, group in list(self.groups.items()):
                    try:
                        outcomes = group.step()
                    except Exception as error:  # noqa: BLE001 - e.g. CUDA OOM: fail its trials
                        self._fail_group(key, error)
                        continue
                    for outcome in outcomes:
                        self._ended(key, outcome)
                    if not len(group):
                        del self.groups[key]
        except BaseException as error:  # Ctrl-C or a bug: no trial is left RUNNING
            for open_trial in list(self.open.values()):
                self._fail(open_trial, error, notify=False)  # as study.optimize: no callbacks
            raise

    # ---- a new trial ------------------------------------------------------------------
    def _start(self, trial: optuna.Trial) -> None:
        runner, started = self.runner, time.perf_counter()
        try:
            plan = runner.start(trial)
            if self.population is None:
                self.population = self._auto_size(plan)
            pairs = [(s, e) for s in runner.seeds for e in range(len(runner.evaluations))]
            open_trial = _OpenTrial(trial, plan, started, len(pairs))
            members = [self._member(open_trial, i, s, e) for i, (s, e) in enumerate(pairs)]
        except TooLargeError as error:  # never trained; PRUNED, so TPE learns to avoid it
            trial.set_user_attr("fail_reason", str(error)[:500])
            self._tell(trial, state=TrialState.PRUNED)
            return
        except Exception as error:  # noqa: BLE001 - a bad draw fails its trial, not the study
            self._fail(_OpenTrial(trial, None, started, 0), error)  # type: ignore[arg-type]
            return
        try:
            keys = [population_key(model, run.config) for run, model, _ in members]
        except ValueError:
            self._alone(trial)
            return
        self.open[trial.number] = open_trial
        try:
            for (run, model, augment), key in zip(members, keys, strict=True):
                group = (run.evaluation, run.inputs.preprocessing, run.inputs.linear is not None,
                         key)
                if group not in self.groups:
                    self.groups[group] = self._population(group, run.inputs, run.config.device)
                member = self.groups[group].add(model, run.config, augment=augment)
                self.runs[(group, member)] = run
                open_trial.members[run.index] = (group, member)
        except Exception as error:  # noqa: BLE001 - e.g. outputs that do not fit the targets
            self._fail(open_trial, error)

    def _auto_size(self, plan: TrialPlan) -> int:
        """Members of ``plan``'s size that fit in half the GPU's free memory."""
        device = resolve_device(plan.train.device)
        free, _ = torch.cuda.mem_get_info(device)
        n_val = max(len(e.val) for e in self.runner.evaluations)
        size = population_size(plan.summary, plan.train.batch_size, n_val, free)
        log.warning("population: %d runs at once (%.1f GiB free on %s)", size, free / 2**30,
                    device)
        return size

    def _member(self, open_trial: _OpenTrial, index: int, seed: int, evaluation: int
                ) -> tuple[_Run, Any, Augment | None]:
        """Build run ``index`` of a trial: its data (shared), model and augmenter."""
        plan = open_trial.plan
        inputs = self._data(evaluation, plan)
        config = dataclasses.replace(plan.train, seed=seed)
        spec, model, augment = build_member(inputs, plan.arch, config,
                                            augment=augmenter_from_params(plan.extra))
        return _Run(open_trial, index, evaluation, inputs, spec, config), model, augment

    def _data(self, evaluation: int, plan: TrialPlan) -> NetworkInputs:
        residual = wants_pls_residual(plan, self.runner.pool)
        key = (evaluation, plan.preprocess, residual)
        if key not in self._inputs:
            split = self.runner.evaluations[evaluation]
            train, val = self.runner.pool[split.train], self.runner.pool[split.val]
            self._inputs[key] = prepare_inputs(
                train.flat_X(), train.y, preprocessing=plan.preprocess, task=self.runner.pool.task,
                X_val=val.flat_X(), y_val=val.y, classes=_classes(self.runner.pool),
                pls_residual=self.runner.pls_baseline(split.train) if residual else False,
                seed=self.runner.seeds[0],
            )
        return self._inputs[key]

    def _population(self, group: Any, inputs: NetworkInputs, device: str) -> PopulationTrainer:
        prune = self.runner.prune

        def report(member: int, value: float, epoch: int) -> None:
            run = self.runs[(group, member)]
            if prune and run.index == 0:  # Hyperband's resource: the epochs trained
                run.open.trial.report(value, epoch + 1)

        def should_prune(member: int) -> bool:
            run = self.runs[(group, member)]
            return prune and run.index == 0 and run.open.trial.should_prune()

        return PopulationTrainer(inputs.X, inputs.y, inputs.X_val, inputs.y_val,
                                 task=inputs.task, device=device, report=report,
                                 should_prune=should_prune, exact_dropout=self.exact_dropout)

    def _alone(self, trial: optuna.Trial) -> None:
        """A trial no population can take: the TrialRunner trains it, as study.optimize would."""
        try:
            value = self.runner(trial)
        except optuna.TrialPruned:
            self._tell(trial, state=TrialState.PRUNED)
        except Exception:  # noqa: BLE001 - the runner has recorded fail_reason
            self._tell(trial, state=TrialState.FAIL)
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", STOPPED)
            self._tell(trial, state=TrialState.FAIL, notify=False)
            raise
        else:
            self._tell(trial, value)

    # ---- a run ends ---------------------------------------------------------------------
    def _ended(self, group: Any, outcome: MemberOutcome) -> None:
        run = self.runs.pop((group, outcome.member), None)
        if run is None:  # a sibling run ended the trial in the same epoch
            return
        open_trial = run.open
        del open_trial.members[run.index]
        if isinstance(outcome.error, TrainingPruned):
            self._close(open_trial)
            open_trial.trial.set_user_attr("wall_s", _wall(open_trial))
            open_trial.trial.set_user_attr("epochs_trained", len(outcome.error.history or ()))
            self._tell(open_trial.trial, state=TrialState.PRUNED)
            return
        try:
            if outcome.result is None:
                raise outcome.error or RuntimeError("a run ended without a result")
            network = finish_network(run.inputs, run.spec, outcome.result, run.config)
            open_trial.done[run.index] = (network, self._scores(network, run.evaluation))
        except Exception as error:  # noqa: BLE001 - recorded as the trial's fail_reason
            self._fail(open_trial, error)
            return
        if len(open_trial.done) == open_trial.n_runs:
            self._complete(open_trial)

    def _scores(self, network: SpectralNetwork, evaluation: int) -> dict[str, float]:
        """The objective, calibration and tuning errors of one run (``TrialRunner.evaluate``)."""
        split = self.runner.evaluations[evaluation]
        parts = {name: self.runner.pool[rows] for name, rows in
                 (("cal", split.train), ("tune", split.val))}
        pred = {name: network.predict(part.flat_X()) for name, part in parts.items()}
        cal, tune = parts["cal"], parts["tune"]
        scores = {"value": self.runner.objective.score(cal.y, pred["cal"], tune.y, pred["tune"])}
        for name, part in parts.items():
            scores[name] = (self.runner.objective_rmse(part.y, pred[name])
                            if self.runner.pool.task == "regression"
                            else float(np.mean(pred[name] == part.y)))
        return scores

    def _complete(self, open_trial: _OpenTrial) -> None:
        del self.open[open_trial.trial.number]
        runs = [open_trial.done[i] for i in range(open_trial.n_runs)]
        trial, first = open_trial.trial, runs[0][0]
        if first.best_epoch is not None:
            trial.set_user_attr("best_epoch", int(first.best_epoch))
        _record(trial, [s["cal"] for _, s in runs], [s["tune"] for _, s in runs],
                [len(n.history) for n, _ in runs], self.runner.pool.task, open_trial.start)
        value = float(np.mean([s["value"] for _, s in runs]))
        if not np.isfinite(value):
            trial.set_user_attr("fail_reason", "objective is not finite")
            self._tell(trial, state=TrialState.FAIL)
            return
        pareto = self.runner.objective.pareto
        values = (value, float(open_trial.plan.summary.n_params)) if pareto else value
        self._tell(trial, values)

    def _fail(self, open_trial: _OpenTrial, error: BaseException, *, notify: bool = True
              ) -> None:
        self._close(open_trial)
        trial = open_trial.trial
        reason = STOPPED if isinstance(error, KeyboardInterrupt) else str(error) if isinstance(
            error, NotStarted) else f"{type(error).__name__}: {error}"
        trial.set_user_attr("fail_reason", reason[:500])
        trial.set_user_attr("wall_s", _wall(open_trial))
        self._tell(trial, state=TrialState.FAIL, notify=notify)

    def _fail_group(self, group: Any, error: Exception) -> None:
        """A population's step raised: fail every trial with a run in it, drop the group."""
        population = self.groups.pop(group)
        for member in population.members:
            run = self.runs.get((group, member))
            if run is not None:
                self._fail(run.open, error)
        if isinstance(error, torch.cuda.OutOfMemoryError):
            del population
            gc.collect()
            torch.cuda.empty_cache()

    def _close(self, open_trial: _OpenTrial) -> None:
        """Take the trial's other runs out of their populations."""
        self.open.pop(open_trial.trial.number, None)
        for group, member in open_trial.members.values():
            self.runs.pop((group, member), None)
            if group in self.groups and member in self.groups[group].members:
                self.groups[group].remove(member)
        open_trial.members.clear()

    def _tell(self, trial: optuna.Trial, values: Any = None, *,
              state: TrialState = TrialState.COMPLETE, notify: bool = True) -> None:
        frozen = self.study.tell(trial, values, state=state if values is None else None)
        for callback in self.callbacks if notify else ():
            callback(self.study, frozen)


def _wall(open_trial: _OpenTrial) -> float:
    return round(time.perf_counter() - open_trial.start, 3)
