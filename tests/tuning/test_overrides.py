"""Run settings win over a space's epochs, patience and LR mode; a space gives defaults only."""

from __future__ import annotations

import logging

import pytest

from spectune.tuning._overrides import BUILT_IN, resolve_run_settings
from spectune.tuning._space import SearchSpace, SearchSpaceError, load_space

NOTHING_GIVEN = dict.fromkeys(BUILT_IN)


def _param(space: SearchSpace, name: str):
    return next(p for p in space.parameters if p.name == name)


def test_the_run_replaces_the_space_values_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    passos = load_space("passos")  # max_epochs 450, patience 50, plateau 25, range test
    given = {"max_epochs": 150, "patience": 20, "plateau_patience": 0, "lr_mode": "space"}
    with caplog.at_level(logging.WARNING, logger="spectune"):
        space, resolved = resolve_run_settings(passos, given)
    assert resolved == given
    assert _param(space, "max_epochs").value == 150
    assert _param(space, "early_stopping_patience").value == 20
    assert _param(space, "plateau_patience").value is None  # 0: the plateau schedule is off
    assert _param(space, "lr_mode").value == "space"
    lines = caplog.messages
    assert "--epochs 150 replaces the passos space's max_epochs 450" in lines
    assert "--patience 20 replaces the passos space's early_stopping_patience 50" in lines
    assert "--lr-mode space replaces the passos space's lr_mode range_test" in lines


def test_a_space_gives_defaults_and_the_built_in_ones_fill_the_rest() -> None:
    _, resolved = resolve_run_settings(load_space("passos"), NOTHING_GIVEN)
    assert resolved == {"max_epochs": 450, "patience": 50, "plateau_patience": 25,
                        "lr_mode": "range-test"}  # what the passos space's comment promises
    space, resolved = resolve_run_settings(load_space("default"), NOTHING_GIVEN)
    assert resolved == {name: default for name, (_, _, default) in BUILT_IN.items()}
    assert "max_epochs" not in space.names  # the default space leaves them to the run


def test_a_drawn_epoch_count_stays_below_the_runs(caplog: pytest.LogCaptureFixture) -> None:
    shen = load_space("shen")  # max_epochs: int 50..300 step 50, early stopping off
    space, resolved = resolve_run_settings(shen, {**NOTHING_GIVEN, "max_epochs": 120})
    epochs = _param(space, "max_epochs")
    assert resolved["max_epochs"] == 120
    assert (epochs.low, epochs.high, epochs.step) == (50, 100, 50)
    assert resolved["patience"] == 0  # the space's null: no early stopping
    assert "--epochs 120 caps the shen space's max_epochs (up to 300)" in caplog.text
    space, resolved = resolve_run_settings(shen, {**NOTHING_GIVEN, "max_epochs": 20})
    assert _param(space, "max_epochs").value == 20  # the whole range lay above: fixed
    _, resolved = resolve_run_settings(shen, NOTHING_GIVEN)
    assert resolved["max_epochs"] == 300  # Hyperband's largest resource: the largest draw


def test_a_tuned_patience_needs_the_run_to_fix_it() -> None:
    space = SearchSpace.from_dict({"parameters": {
        "units": 8, "early_stopping_patience": {"type": "int", "low": 5, "high": 20}}})
    with pytest.raises(SearchSpaceError, match="'early_stopping_patience' is a run setting"):
        resolve_run_settings(space, NOTHING_GIVEN)
    fixed, resolved = resolve_run_settings(space, {**NOTHING_GIVEN, "patience": 7})
    assert _param(fixed, "early_stopping_patience").value == 7 and resolved["patience"] == 7
