"""Search spaces: schema errors, conditions, repeats, constraints, sampling, grid, built-ins."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import optuna
import pytest

from spectune.tuning import BUILTIN_SPACES, SearchSpace, SearchSpaceError, load_space
from spectune.tuning._conditions import parse_condition

optuna.logging.set_verbosity(optuna.logging.WARNING)

FC_SPACE: dict[str, Any] = {
    "name": "fc",
    "parameters": {
        "n_fc": {"type": "int", "low": 1, "high": 4},
        "units_{i}": {"type": "int", "low": 8, "high": 128, "log": True,
                      "repeat": {"i": [1, 4]}, "when": "n_fc >= {i}"},
        "pool_1": {"type": "categorical", "choices": ["none", "max", "avg"]},
        "pool_size_1": {"type": "int", "low": 2, "high": 4, "when": "pool_1 != none"},
        "deep_pool": {"type": "bool", "when": "n_fc >= 3 and pool_1 in [max, avg]"},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "optimizer": "adam",
    },
}

FC_YAML = """\
name: fc
parameters:
  n_fc: {type: int, low: 1, high: 4}
  units_{i}: {type: int, low: 8, high: 128, log: true, repeat: {i: [1, 4]}, when: "n_fc >= {i}"}
  pool_1: {type: categorical, choices: [none, max, avg]}
  pool_size_1: {type: int, low: 2, high: 4, when: "pool_1 != none"}
  deep_pool: {type: bool, when: "n_fc >= 3 and pool_1 in [max, avg]"}
  lr: {type: float, low: 1e-4, high: 1e-2, log: true}
  optimizer: adam
"""


def _random_samples(space: SearchSpace, n: int, seed: int = 0) -> list[dict[str, Any]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.sample(study.ask()) for _ in range(n)]


def _space(**params: Any) -> dict[str, Any]:
    return {"parameters": params}


# --- schema errors: one line, naming source, parameter and problem --------------------------

BAD_SPACES = [
    (_space(**{"units_{i}": {"type": "int", "low": 512, "high": 128, "repeat": {"i": [1, 2]}}}),
     r"<dict>: parameter 'units_\{i\}': low 512 > high 128"),
    (_space(n={"type": "integer", "low": 1, "high": 2}),
     r"parameter 'n': unknown type 'integer'.*did you mean 'int'"),
    (_space(n={"type": "int", "low": 1, "hgh": 2}), r"parameter 'n': unknown key 'hgh'.*'high'"),
    (_space(n={"type": "int", "low": 1}), r"parameter 'n': type int needs 'high'"),
    (_space(n={"type": "int", "low": 1.5, "high": 3}), r"low must be an integer, got 1.5"),
    (_space(lr={"type": "float", "low": 0.0, "high": 1.0, "log": True}),
     r"parameter 'lr': log scale needs low > 0"),
    (_space(lr={"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1}),
     r"log and step cannot be combined"),
    (_space(b={"type": "int", "low": 16, "high": 100, "step": 32}),
     r"parameter 'b': high 100 is not low 16 plus a whole number of steps 32"),
    (_space(b={"type": "int", "low": 1, "high": 4, "step": 0}), r"step must be > 0"),
    (_space(c={"type": "categorical", "choices": []}), r"parameter 'c': choices must be a non"),
    (_space(c={"type": "categorical", "choices": ["a", "a"]}), r"choices repeat a value"),
    (_space(c={"type": "categorical", "choices": [[1, 2]]}), r"choice \[1, 2\] must be"),
    (_space(c={"type": "fixed"}), r"parameter 'c': type fixed needs 'value'"),
    (_space(c=["a", "b"]), r"parameter 'c': give a mapping with 'type'"),
    (_space(u={"type": "int", "low": 1, "high": 2, "when": "n >= 1"}, n={"type": "bool"}),
     r"parameter 'u': when 'n >= 1': 'n' comes later; conditions may only refer to earlier"),
    (_space(n_fc={"type": "int", "low": 1, "high": 2},
            u={"type": "int", "low": 1, "high": 2, "when": "n_fx >= 1"}),
     r"when 'n_fx >= 1': 'n_fx' is not defined \(did you mean 'n_fc'\?\)"),
    (_space(n={"type": "int", "low": 1, "high": 2},
            u={"type": "int", "low": 1, "high": 2, "when": "n >="}),
     r"parameter 'u': when 'n >=': expected a value but the condition ended"),
    (_space(pool={"type": "categorical", "choices": ["none", "max"]},
            s={"type": "int", "low": 2, "high": 3, "when": "pool != nnoe"}),
     r"parameter 's': when 'pool != nnoe': 'pool' \(\{none, max\}\) cannot be compared"),
    (_space(pool={"type": "categorical", "choices": ["none", "max"]},
            s={"type": "int", "low": 2, "high": 3, "when": "pool >= 2"}),
     r"'pool' \(\{none, max\}\) cannot be compared with >= 2"),
    (_space(n={"type": "int", "low": 1, "high": 3},
            s={"type": "int", "low": 2, "high": 3, "when": "n == many"}),
     r"'n' \(int 1..3\) cannot be compared with == 'many'"),
    (_space(**{"u_{i}": {"type": "bool"}}), r"'u_\{i\}': the name has a '\{...\}' placeholder"),
    (_space(u={"type": "bool", "repeat": {"i": [1, 2]}}), r"the name has no '\{i\}'"),
    (_space(**{"u_{i}": {"type": "bool", "repeat": {"i": [3, 1]}}}), r"first <= last"),
    (_space(**{"u_{i}": {"type": "bool", "repeat": {"i": [1, 2]}}, "u_2": 1}),
     r"parameter 'u_2': 'u_2' is defined twice"),
    (_space(**{"1u": 1}), r"name '1u' must be letters"),
    ({"parameters": {}}, r"<dict>: 'parameters' must be a non-empty mapping"),
    ({"parameters": {"a": 1}, "constraint": []}, r"unknown top-level key 'constraint'.*"
     r"did you mean 'constraints'"),
    ({"parameters": {"a": {"type": "bool"}}, "constraints": [{"at_least_one": ["a", "b"]}]},
     r"<dict>: constraints: at_least_one names unknown parameter 'b'"),
    ({"parameters": {"a": {"type": "bool"}, "b": {"type": "int", "low": 0, "high": 1}},
      "constraints": [{"at_least_one": ["a", "b"]}]},
     r"at_least_one parameter 'b' must be an unconditional bool, got int 0..1"),
    ({"parameters": {"a": {"type": "bool"}, "b": {"type": "bool", "when": "a"}},
      "constraints": [{"at_least_one": ["a", "b"]}]}, r"'b' must be an unconditional bool"),
    ({"parameters": {"a": {"type": "bool"}}, "constraints": [{"at_least_one": ["a"]}]},
     r"two or more parameter names"),
]


@pytest.mark.parametrize(("spec", "match"), BAD_SPACES)
def test_schema_errors_are_one_line_and_name_the_parameter(spec: dict, match: str) -> None:
    with pytest.raises(SearchSpaceError, match=match) as info:
        SearchSpace.from_dict(spec)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_errors_name_the_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("parameters:\n  units_{i}: {type: int, low: 512, high: 128, "
                    "repeat: {i: [1, 5]}, when: 'n_fc >= {i}'}\n")
    with pytest.raises(SearchSpaceError, match=r"^space.yaml: parameter 'units_\{i\}': low 512"):
        SearchSpace.from_yaml(path)
    path.write_text("parameters:\n  a: [1, 2\n")
    with pytest.raises(SearchSpaceError, match=r"^space.yaml: not valid YAML at line \d"):
        SearchSpace.from_yaml(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml: search space file not found"):
        SearchSpace.from_yaml(tmp_path / "missing.yaml")


def test_load_space_rejects_unknown_names_and_tasks() -> None:
    with pytest.raises(SearchSpaceError, match=r"search space 'shenn'.*did you mean 'shen'"):
        load_space("shenn")
    with pytest.raises(ValueError, match="task must be 'regression' or 'classification'"):
        load_space("passos", task="ranking")


# --- conditions ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "values", "expected"), [
    ("n >= 2", {"n": 2}, True),
    ("n >= 2", {"n": 1}, False),
    ("n < 2", {"n": 1.5}, True),
    ("n >= 2", {}, False),  # an absent (inactive) parameter makes every clause false
    ("pool != none", {"pool": "max"}, True),
    ("pool != none", {"pool": "none"}, False),
    ("pool != none", {}, False),
    ("flag == true", {"flag": True}, True),
    ("flag == 1", {"flag": True}, False),  # booleans are not numbers here
    ("flag", {"flag": True}, True),
    ("not flag", {"flag": False}, True),
    ("route in [snv, 'snv+sg1']", {"route": "snv+sg1"}, True),
    ("route not in [snv, snv+sg1]", {"route": "raw"}, True),
    ("a == 1 and b == 2 or c == 3", {"a": 1, "b": 0, "c": 3}, True),
    ("a == 1 and b == 2 or c == 3", {"a": 1, "b": 0, "c": 0}, False),
    ("lr <= 1e-3", {"lr": 1e-4}, True),
])
def test_conditions_evaluate(text: str, values: dict, expected: bool) -> None:
    assert parse_condition(text).evaluate(values) is expected


@pytest.mark.parametrize(("text", "match"), [
    ("", "non-empty string"),
    ("n => 2", "unexpected character '='"),
    ("n == 2 xor m", "expected 'and' or 'or' but found 'xor'"),
    ("__import__('os') == 1", r"unexpected character '\('"),
    ("n in [1, 2", "expected ']' but the condition ended"),
    ("n not 2", "expected 'in' after 'not'"),
])
def test_conditions_reject_bad_syntax(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_condition(text)


def test_conditional_parameters_exist_exactly_when_their_condition_holds() -> None:
    space = SearchSpace.from_dict(FC_SPACE)
    samples = _random_samples(space, 200)
    for p in samples:
        for i in range(1, 5):
            assert (f"units_{i}" in p) == (p["n_fc"] >= i)
        assert ("pool_size_1" in p) == (p["pool_1"] != "none")
        assert ("deep_pool" in p) == (p["n_fc"] >= 3 and p["pool_1"] != "none")
        assert p["optimizer"] == "adam"
    # both branches of every condition are visited
    assert {p["n_fc"] for p in samples} == {1, 2, 3, 4}
    assert {"pool_size_1" in p for p in samples} == {True, False}
    assert {"deep_pool" in p for p in samples} == {True, False}


def test_sample_records_optuna_distributions_in_declared_order() -> None:
    space = SearchSpace.from_dict(FC_SPACE)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    params = space.sample(trial)
    assert list(trial.params) == [n for n in params if n != "optimizer"]
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert trial.distributions["lr"] == lr
    assert trial.distributions["n_fc"] == optuna.distributions.IntDistribution(1, 4)
    assert space.resolve(trial.params) == params


def test_same_seed_same_params_other_seed_other_params() -> None:
    space = SearchSpace.from_dict(FC_SPACE)
    first, again = _random_samples(space, 20, seed=3), _random_samples(space, 20, seed=3)
    assert first == again
    assert _random_samples(space, 20, seed=4) != first


def test_yaml_and_dict_give_the_same_space(tmp_path: Path) -> None:
    path = tmp_path / "fc.yaml"
    path.write_text(FC_YAML)
    from_yaml, from_dict = SearchSpace.from_yaml(path), SearchSpace.from_dict(FC_SPACE)
    assert from_yaml.parameters == from_dict.parameters
    assert from_yaml.names == from_dict.names
    assert _random_samples(from_yaml, 10) == _random_samples(from_dict, 10)
    assert from_yaml.source == "fc.yaml" and from_yaml.name == "fc"


def test_yaml_reads_1e_minus_4_as_a_float_and_only_true_false_as_booleans(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("parameters:\n  lr: {type: float, low: 1e-4, high: 1e-2}\n"
                    "  sw: {type: categorical, choices: [on, off, none, yes, true]}\n")
    space = SearchSpace.from_yaml(path)
    lr, sw = space.parameters
    assert (lr.low, lr.high) == (1e-4, 1e-2)
    assert sw.choices == ("on", "off", "none", "yes", True)


def test_n_dimensions_counts_sampled_parameters_only() -> None:
    # n_fc, units_1..4, pool_1, pool_size_1, deep_pool, lr; "optimizer" is fixed
    assert SearchSpace.from_dict(FC_SPACE).n_dimensions == 9


def test_fixed_trial_and_resolve_round_trip() -> None:
    space = SearchSpace.from_dict(FC_SPACE)
    fixed = {"n_fc": 2, "units_1": 16, "units_2": 32, "pool_1": "none", "lr": 1e-3}
    params = space.sample(optuna.trial.FixedTrial(fixed))
    assert params == {**fixed, "optimizer": "adam"}
    assert space.resolve(fixed) == params
    assert space.resolve(params) == params  # a full output resolves to itself
    with pytest.raises(SearchSpaceError, match=r"parameter 'units_2' is active .* no value"):
        space.resolve({k: v for k, v in fixed.items() if k != "units_2"})
    with pytest.raises(SearchSpaceError, match=r"params \['units_3'\] are not"):
        space.resolve({**fixed, "units_3": 8})


# --- constraints -----------------------------------------------------------------------------

CHANNELS = ["ch_refl", "ch_abs", "ch_abs_d1"]
CHANNEL_SPACE = {
    "parameters": {name: {"type": "bool"} for name in CHANNELS},
    "constraints": [{"at_least_one": list(reversed(CHANNELS))}],  # list order does not matter
}


def test_at_least_one_always_holds_and_every_subset_is_reachable() -> None:
    space = SearchSpace.from_dict(CHANNEL_SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    subsets = set()
    for _ in range(300):
        trial = study.ask()
        params = space.sample(trial)
        on = tuple(name for name in CHANNELS if params[name])
        assert on, params
        subsets.add(on)
        # the last member is forced (and left unrecorded) exactly when the others are off
        forced = not (params["ch_refl"] or params["ch_abs"])
        assert ("ch_abs_d1" in trial.params) is not forced
        assert space.resolve(trial.params) == params
    every_nonempty = {s for r in range(1, 4) for s in itertools.combinations(CHANNELS, r)}
    assert subsets == every_nonempty


def test_shen_space_keeps_one_channel_on() -> None:
    space = load_space("shen")
    names = [n for n in space.names if n.startswith("ch_")]
    assert len(names) == 5
    for params in _random_samples(space, 200, seed=2):
        assert any(params[n] for n in names)


# --- grid ------------------------------------------------------------------------------------

def test_grid_enumerates_the_product_with_gridsampler() -> None:
    space = SearchSpace.from_dict(_space(
        route={"type": "categorical", "choices": ["raw", "snv", "sg1"]},
        n_fc={"type": "int", "low": 1, "high": 2},
        dropout={"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
        optimizer="adam",
    ))
    grid = space.grid()
    assert grid == {"route": ["raw", "snv", "sg1"], "n_fc": [1, 2], "dropout": [0.0, 0.1, 0.2]}
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(grid, seed=0))
    seen = []
    for _ in range(18):
        params = space.sample(study.ask())
        seen.append((params["route"], params["n_fc"], params["dropout"]))
    assert sorted(seen) == sorted(itertools.product(*grid.values()))


def test_grid_rejects_continuous_and_large_parameters() -> None:
    continuous = SearchSpace.from_dict(_space(lr={"type": "float", "low": 1e-4, "high": 1e-2}))
    with pytest.raises(SearchSpaceError, match=r"parameter 'lr': grid\(\) needs .* float 0.0001"):
        continuous.grid()
    big = SearchSpace.from_dict(_space(units={"type": "int", "low": 1, "high": 100}))
    with pytest.raises(SearchSpaceError, match=r"'units'.*at most 64 values"):
        big.grid()
    assert len(big.grid(max_values=100)["units"]) == 100


# --- built-in spaces -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "task", "expected"), [
    ("default", None, "default"),
    ("passos", None, "passos"),
    ("passos", "regression", "passos"),
    ("passos", "classification", "passos_classification"),
    ("shen", "classification", "shen"),
])
def test_builtin_spaces_load_and_sample(name: str, task: str | None, expected: str) -> None:
    space = load_space(name, task=task)
    assert space.name == expected
    for params in _random_samples(space, 30):
        assert set(params) <= set(space.names)
    assert name in BUILTIN_SPACES
    assert load_space(space) is space


def test_default_space_is_compact() -> None:
    # 14 architecture and training dimensions + the augmentation switch and its 3 magnitudes
    assert 10 <= load_space("default").n_dimensions <= 20


def test_default_space_fixes_the_pls_residual_switch_off_for_classes() -> None:
    regression, classes = load_space("default", task="regression"), load_space("default",
                                                                              task="classification")
    assert classes.n_dimensions == regression.n_dimensions - 1
    assert classes.spec["parameters"]["pls_residual"] is False
    assert all(params["pls_residual"] is False for params in _random_samples(classes, 10))


def test_passos_regression_tunes_kernel_beta_and_batch_only() -> None:
    space = load_space("passos")
    sampled = {p.name: p for p in space.parameters if p.type != "fixed"}
    assert set(sampled) == {"kernel_size", "l2_beta", "batch_size"}
    assert space.n_dimensions == 3


def test_passos_classification_matches_their_table_1() -> None:
    space = load_space("passos", task="classification")
    p = {q.name: q for q in space.parameters}
    assert (p["n_fc"].low, p["n_fc"].high) == (1, 5)
    for i in range(1, 6):
        assert (p[f"units_{i}"].low, p[f"units_{i}"].high) == (128, 512)
        # Table 1: [0, 1] by 0.005; a rate of 1 drops every unit, so we stop one step short
        assert (p[f"dropout_{i}"].low, p[f"dropout_{i}"].high) == (0.0, 1.0 - 0.005)
        assert p[f"dropout_{i}"].step == 0.005
        assert p[f"dropout_{i}"].when.text == f"n_fc >= {i}"
    assert (p["l2_beta"].low, p["l2_beta"].high) == (0.0, 0.003)
    assert (p["kernel_size"].low, p["kernel_size"].high) == (3, 20)
    assert (p["batch_size"].low, p["batch_size"].high, p["batch_size"].step) == (128, 1024, 64)
    assert (p["n_conv"].value, p["filters"].value) == (1, 1)


def test_load_space_reads_a_path_and_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "mine.yml"
    path.write_text(FC_YAML)
    assert load_space(str(path)).names == load_space(FC_SPACE).names
