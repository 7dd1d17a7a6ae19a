"""Flat trial parameters -> preprocessing route, ArchSpec and TrainConfig."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from spectune.exceptions import InvalidArchitectureError
from spectune.models import ArchSpec, ConvBlock, DenseBlock, passos_cnn, validate_arch
from spectune.preprocess._routes import PASSOS_ROUTES
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.tuning._materialise import MIN_PARAMS, TooLargeError, TrialPlan, materialise
from spectune.tuning._space import SearchSpaceError, load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

MLP = {"n_fc": 2, "units_1": 32, "units_2": 8, "lr": 1e-3, "batch_size": 16}


def _plan(params: dict[str, Any], *, length: int = 100, n_channels: int = 1,
          task: str = "regression", **kwargs: Any) -> TrialPlan:
    n_outputs = 3 if task == "classification" else 1
    return materialise(params, task=task, n_outputs=n_outputs, n_channels=n_channels,
                       length=length, **kwargs)


@pytest.mark.parametrize(("name", "task"), [
    ("default", "regression"), ("default", "classification"), ("passos", "regression"),
    ("passos", "classification"), ("shen", "regression"),
])
@pytest.mark.parametrize("length", [300, 1024])
def test_builtin_spaces_materialise_into_valid_or_cleanly_rejected_archs(
    name: str, task: str, length: int
) -> None:
    space = load_space(name, task=task)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    built = 0
    for _ in range(30):
        params = space.sample(study.ask())
        try:
            plan = _plan(params, length=length, task=task)
        except InvalidArchitectureError:
            continue
        built += 1
        channels, points = plan.input_shape
        assert validate_arch(plan.arch, channels, points).n_params == plan.summary.n_params
        assert plan.arch.task == task
        assert plan.train.batch_size == params["batch_size"]
        assert plan.params == params
    assert built > 0


def test_passos_preset_is_sized_on_the_concatenated_length() -> None:
    space = load_space("passos")
    params = space.sample(optuna.trial.FixedTrial(
        {"kernel_size": 21, "l2_beta": 0.004, "batch_size": 128}))
    plan = _plan(params, length=100)
    assert plan.preprocess == PreprocessingSpec(PASSOS_ROUTES, "concat", standardise=True)
    assert plan.input_shape == (1, 600)  # six routes side by side
    expected = passos_cnn(600, kernel_size=21, first_ratio=5.0, next_ratio=2.0, n_dense=3)
    assert plan.arch == expected
    # first dense layer: conv output ("same" padding keeps 600 points) / 5
    assert plan.arch.fc[0].units == 120
    assert plan.train.l2 == pytest.approx(0.004 / 2)  # Keras l2(beta / 2)
    assert (plan.train.optimizer, plan.train.lr, plan.train.max_epochs) == ("adam", 0.0025, 450)
    assert plan.extra == {"lr_mode": "range_test"}


def test_passos_per_layer_dropout_reaches_the_preset() -> None:
    plan = _plan({"arch": "passos", "n_dense": 2, "dropout_1": 0.1, "dropout_2": 0.3})
    assert [b.dropout for b in plan.arch.fc] == [0.1, 0.3]


def test_blocks_take_per_block_values_over_shared_ones() -> None:
    params = {"n_conv": 2, "filters_1": 4, "filters_2": 8, "kernel_size": 5, "kernel_size_2": 3,
              "padding": "same", "pool_1": True, "pool_2": False, "pool_size": 3,
              "conv_bn_1": True, "conv_dropout": 0.1, "n_fc": 2, "units_1": 16, "units_2": 4,
              "dropout": 0.2, "dropout_2": 0.0, "fc_bn_2": True, "activation": "elu",
              "init": "default"}
    plan = _plan(params, length=90)
    assert plan.arch == ArchSpec(
        conv=(ConvBlock(4, 5, padding="same", batch_norm=True, activation="elu", pool="max",
                        pool_size=3, dropout=0.1),
              ConvBlock(8, 3, padding="same", activation="elu", pool=None, pool_size=3,
                        dropout=0.1)),
        fc=(DenseBlock(16, activation="elu", dropout=0.2),
            DenseBlock(4, batch_norm=True, activation="elu", dropout=0.0)),
        n_outputs=1, task="regression", init="default")
    # 90 points, "same" conv keeps 90, max pool 3 -> 30, conv 2 keeps 30: 8 * 30 features
    flatten = {layer.name: layer for layer in plan.summary.layers}["flatten"]
    assert flatten.out_shape == (8 * 30,)


def test_shen_channels_are_stacked_routes() -> None:
    params = {"ch_refl": False, "ch_abs": True, "ch_abs_d1": True, "ch_abs_d2": False,
              "ch_abs_snv": True, "standardise": True, **MLP}
    plan = _plan(params, length=50)
    assert plan.preprocess.routes == ("abs", "abs+sg1", "abs+snv")
    assert plan.preprocess.combine == "stack"
    assert plan.input_shape == (3, 50)
    assert plan.summary.in_shape == (3, 50)


def test_train_defaults_are_overridden_by_params_and_extras_are_kept() -> None:
    plan = _plan({**MLP, "aug_noise": 0.01, "extra_note": "x", "lr_mode": "fixed"},
                 train_defaults=TrainConfig(seed=7, lr=0.5, device="cpu"))
    assert (plan.train.seed, plan.train.lr, plan.train.batch_size) == (7, 1e-3, 16)
    assert plan.extra == {"aug_noise": 0.01, "extra_note": "x", "lr_mode": "fixed"}
    assert _plan(MLP, train_defaults={"seed": 3}).train.seed == 3
    assert _plan(MLP).preprocess == PreprocessingSpec(("raw",), standardise=False)


def test_a_draw_too_long_for_the_input_fails_as_invalid_architecture() -> None:
    params = {"n_conv": 1, "filters": 4, "kernel_size": 41, "padding": 0, **MLP}
    with pytest.raises(InvalidArchitectureError, match="conv block 1"):
        _plan(params, length=30)
    assert _plan(params, length=41).input_shape == (1, 41)


@pytest.mark.parametrize(("params", "match"), [
    ({**MLP, "untis_1": 3}, r"unknown parameter 'untis_1' \(did you mean 'units'\?\)"),
    ({**MLP, "learning_rate": 1e-3}, r"unknown parameter 'learning_rate'"),
    ({**MLP, "units_3": 8}, r"'units_3' is given but n_fc is 2; add 'when: \"n_fc >= 3\"'"),
    ({"n_conv": 1, "kernel_size": 3, **MLP}, r"conv block 1 needs 'filters'"),
    ({"n_fc": 1}, r"dense block 1 needs 'units' \(as 'units_1' or 'units'\)"),
    ({"route": "snv", "ch_abs": True, **MLP}, r"either 'route' or channel switches"),
    ({"ch_abs": False, "ch_refl": False, **MLP}, r"every channel switch is off"),
    ({"first_ratio": 3.0, **MLP}, r"'first_ratio' needs 'arch: passos'"),
    ({"arch": "passos", "units_1": 8}, r"'units_1' does not apply to arch 'passos'"),
    ({"arch": "passos", "activation": "relu"}, r"'activation' does not apply to arch 'passos'"),
    ({"arch": "resnet", **MLP}, r"arch must be 'blocks' or 'passos', got 'resnet'"),
])
def test_mistakes_in_a_space_raise_clear_errors(params: dict, match: str) -> None:
    with pytest.raises(SearchSpaceError, match=match):
        _plan(params)


def test_unknown_route_and_bad_training_values_raise_value_error() -> None:
    with pytest.raises(ValueError, match=r"Unknown preprocessing token\(s\) \['snvv'\]"):
        _plan({"route": "snvv", **MLP})
    with pytest.raises(ValueError, match="optimizer must be one of"):
        _plan({**MLP, "optimizer": "lbfgs"})


def test_the_last_conv_block_pools_to_at_most_flatten_points() -> None:
    conv = {"n_conv": 2, "filters_1": 8, "filters_2": 20, "kernel_size": 5, "padding": "same",
            "pool": "max", "pool_size": 2}
    plan = _plan({**conv, **MLP, "flatten_points": 32}, length=6144)
    flat = next(layer for layer in plan.summary.layers if layer.module == "flatten")
    assert flat.in_shape == (20, 32)  # 6144 / 2 = 3072 after block 1; pooled by 96 after 2
    assert plan.arch.conv[-1].pool_size == 96 and plan.arch.conv[0].pool_size == 2
    uncapped = _plan({**conv, **MLP}, length=6144)  # the same draw without the cap
    assert next(layer for layer in uncapped.summary.layers
                if layer.module == "flatten").in_shape == (20, 1536)
    short = _plan({**conv, **MLP, "flatten_points": 32}, length=100)  # already short: as drawn
    assert short.arch == _plan({**conv, **MLP}, length=100).arch


def test_a_draw_over_the_datas_budget_is_too_large() -> None:
    big = {**MLP, "units_1": 256, "params_per_spectrum": 1000}  # 1024 x 256: ~264k parameters
    with pytest.raises(TooLargeError, match=r"^too large for the data: 264,\d+ parameters, over "
                       r"its budget of 125,000 \(1000 per calibration spectrum x 125"):
        _plan(big, length=1024, n_spectra=125)
    assert _plan(big, length=1024, n_spectra=300).summary.n_params <= 300_000
    few = {**MLP, "params_per_spectrum": 1000}  # 3 spectra: a budget of MIN_PARAMS, not 3000
    assert 50_000 < _plan({**few, "units_1": 600}, length=100, n_spectra=3).summary.n_params \
        <= MIN_PARAMS
    with pytest.raises(TooLargeError, match=f"at least {MIN_PARAMS:,}"):
        _plan({**few, "units_1": 1200}, length=100, n_spectra=3)


def test_the_default_space_cannot_draw_a_network_out_of_proportion() -> None:
    # spectrapepper's shape: 1024 points, 125 calibration spectra; the README job's 12.8-million
    # parameter draw is the kind this must exclude
    space = load_space("default")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    built = too_large = 0
    for _ in range(300):
        params = space.sample(study.ask())
        try:
            plan = _plan(params, length=1024, n_spectra=125)
        except TooLargeError:
            too_large += 1
            continue
        built += 1
        assert plan.summary.n_params <= 1000 * 125
        flat = next(layer for layer in plan.summary.layers if layer.module == "flatten")
        if params["n_conv"]:  # the first dense layer's input: filters x at most 32 points
            assert flat.in_shape[1] <= 32
    assert built > 150 and too_large > 0
