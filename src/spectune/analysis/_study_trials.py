"""What every figure of a search reads from a study: its finished trials and its direction."""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["direction_name", "finished_trials", "is_maximize"]


def is_maximize(study: optuna.Study) -> bool:
    """Whether the (first) objective is maximised."""
    return study.directions[0] == optuna.study.StudyDirection.MAXIMIZE


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials with a finite first objective, in the order they were run."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted((t for t in trials if np.isfinite(t.values[0])), key=lambda t: t.number)


def direction_name(study: optuna.Study) -> str:
    """The word for the (first) direction: "maximize" or "minimize"."""
    return "maximize" if is_maximize(study) else "minimize"
