"""build_model: shapes/counts agree with validate_arch, seeded He-normal weights, L2 targets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spectune.exceptions import DataError, InvalidArchitectureError
from spectune.models import (
    ACTIVATIONS,
    ArchSpec,
    ConvBlock,
    DenseBlock,
    SpectralNet,
    build_model,
    mlp,
    passos_cnn,
    shen_cnn,
    validate_arch,
)


def _case(n_conv: int, act: str, channels: int, length: int, *, stride: int = 1,
          padding: int | str = 0, pool: str | None = None, bn: bool = False,
          n_outputs: int = 1, task: str = "regression") -> tuple[ArchSpec, int, int]:
    conv = tuple(
        ConvBlock(4 + 2 * i, 3 + 2 * i, stride=stride, padding=padding, batch_norm=bn,
                  activation=act, pool=pool, pool_size=2 + i % 2, dropout=0.1 * (i % 2))
        for i in range(n_conv)
    )
    fc = (DenseBlock(8, bn, act, 0.2), DenseBlock(5, False, act))
    return ArchSpec(conv=conv, fc=fc, n_outputs=n_outputs, task=task), channels, length


CASES = [
    _case(0, "relu", 1, 20),
    _case(0, "selu", 6, 500, bn=True, n_outputs=3),
    _case(1, "elu", 1, 2000, stride=2, pool="max"),
    _case(1, "leaky_relu", 3, 20, padding="same", stride=3),
    _case(1, "tanh", 6, 61, padding=2, pool="avg", bn=True, n_outputs=4, task="classification"),
    _case(2, "silu", 3, 300, padding="same", pool="max", bn=True),
    _case(2, "swish", 1, 100, stride=2, n_outputs=3),
    _case(2, "sigmoid", 6, 37, padding=1, pool="avg"),
    _case(3, "relu", 3, 1000, stride=2, padding="same", pool="max", bn=True, n_outputs=3),
    _case(3, "elu", 1, 64, padding="same", pool="avg", n_outputs=4, task="classification"),
    _case(3, "selu", 6, 250, stride=2, bn=True),
    (shen_cnn(filters=(4, 8), units=(16, 8)), 3, 700),
    (passos_cnn(120, kernel_size=6), 1, 120),
    (passos_cnn(101, kernel_size=9, padding=0, n_dense=5, first_ratio=2, next_ratio=3), 1, 101),
    (mlp(units=(16, 8, 4), batch_norm=True, n_outputs=4, task="classification"), 6, 40),
]


def _ids(case: tuple[ArchSpec, int, int]) -> str:
    spec, c, length = case
    return f"conv{len(spec.conv)}-C{c}-L{length}-out{spec.n_outputs}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_shapes_and_param_count_match_the_summary(case: tuple[ArchSpec, int, int]) -> None:
    spec, channels, length = case
    summary = validate_arch(spec, channels, length)
    model = build_model(spec, channels, length, seed=0)
    assert summary.n_params == sum(p.numel() for p in model.parameters())
    modules = dict(model.named_modules())
    seen: dict[str, tuple[int, ...]] = {}
    for layer in summary.layers:
        modules[layer.module].register_forward_hook(
            lambda mod, inp, out, name=layer.module: seen.__setitem__(name, tuple(out.shape))
        )
    model.eval()  # batch-norm needs eval mode for a single spectrum
    for batch in (1, 5):
        out = model(torch.randn(batch, channels, length))
        assert out.shape == (batch, spec.n_outputs)
        assert {lay.module: (batch, *lay.out_shape) for lay in summary.layers} == seen
    model.train()
    assert model(torch.randn(5, channels, length)).shape == (5, spec.n_outputs)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_hidden_weights_and_last_conv(case: tuple[ArchSpec, int, int]) -> None:
    spec, channels, length = case
    model = build_model(spec, channels, length, seed=1)
    hidden = model.hidden_weights()
    assert len(hidden) == len(spec.conv) + len(spec.fc)
    kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    assert {id(p) for p in hidden} == {id(p) for p in kernels} - {id(model.output.weight)}
    if not spec.conv:
        assert model.last_conv is None
        return
    captured = []
    model.last_conv.register_forward_hook(lambda m, i, o: captured.append(o.shape))
    model.eval()
    model(torch.randn(2, channels, length))
    conv_layers = [lay for lay in model.summary.layers if lay.module.endswith(".conv")]
    assert captured == [(2, *conv_layers[-1].out_shape)]


def test_same_seed_same_weights_without_touching_global_rng() -> None:
    spec = shen_cnn(filters=(4,), units=(8,))
    state = torch.get_rng_state()
    first = build_model(spec, 2, 50, seed=7).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(123)  # another global state must not matter
    second = build_model(spec, 2, 50, seed=7).state_dict()
    other = build_model(spec, 2, 50, seed=8).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["features.0.conv.weight"], other["features.0.conv.weight"])
    assert not torch.equal(first["output.weight"], other["output.weight"])


def test_default_init_is_seeded_too() -> None:
    spec = ArchSpec(fc=(DenseBlock(8),), init="default")
    a, b = (build_model(spec, 1, 30, seed=3).output.weight for _ in range(2))
    c = build_model(spec, 1, 30, seed=4).output.weight
    assert torch.equal(a, b) and not torch.equal(a, c)
    he = build_model(ArchSpec(fc=(DenseBlock(8),)), 1, 30, seed=3).output.weight
    assert not torch.equal(a, he)


def test_unseeded_models_differ() -> None:
    spec = mlp(units=(8,))
    assert not torch.equal(build_model(spec, 1, 30).output.weight,
                           build_model(spec, 1, 30).output.weight)


# Kaiming gain per activation: sqrt(2) is He's (ReLU family), LeCun's 1 for SELU, torch's
# calculate_gain for the others.
GAINS = {
    "relu": math.sqrt(2.0),
    "elu": math.sqrt(2.0),
    "silu": math.sqrt(2.0),
    "swish": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1 + 0.01**2)),
    "selu": 1.0,
    "tanh": 5.0 / 3.0,
    "sigmoid": 1.0,
}


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_he_normal_std_matches_gain_over_sqrt_fan_in(activation: str) -> None:
    spec = ArchSpec(conv=(ConvBlock(64, 9, activation=activation),),
                    fc=(DenseBlock(256, activation=activation),), n_outputs=16)
    model = build_model(spec, 8, 16, seed=0)
    # (weight, gain, fan-in, tolerance): about 5 standard errors of a std estimate, 1/sqrt(2n)
    checks = [(model.features[0].conv.weight, GAINS[activation], 8 * 9, 0.05),
              (model.head[0].linear.weight, GAINS[activation], 64 * 8, 0.02),
              (model.output.weight, 1.0, 256, 0.06)]  # output layer: linear gain
    for weight, gain, fan_in, rel_tol in checks:
        expected = gain / math.sqrt(fan_in)
        assert weight.std().item() == pytest.approx(expected, rel=rel_tol)
        assert abs(weight.mean().item()) < 5 * expected / math.sqrt(weight.numel())
    biases = [p for name, p in model.named_parameters() if name.endswith("conv.bias")
              or name.endswith("linear.bias") or name == "output.bias"]
    assert len(biases) == 3 and all(torch.count_nonzero(b) == 0 for b in biases)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")
@pytest.mark.parametrize("kernel", [4, 5])
def test_same_padding_matches_torch_same(kernel: int) -> None:
    spec = ArchSpec(conv=(ConvBlock(3, kernel, padding="same"),), fc=(DenseBlock(2),))
    model = build_model(spec, 2, 31, seed=0)
    x = torch.randn(4, 2, 31)
    block = model.features[0]
    ours = block.conv(block.pad(x)) if hasattr(block, "pad") else block.conv(x)
    ref = nn.functional.conv1d(x, block.conv.weight, block.conv.bias, padding="same")
    torch.testing.assert_close(ours, ref)


def test_wrong_input_shape_is_a_data_error() -> None:
    model = build_model(mlp(units=(4,)), 2, 30, seed=0)
    with pytest.raises(DataError, match=r"input of shape \(3, 2, 29\); this model takes "
                                        r"\[batch, 2, 30\]"):
        model(torch.zeros(3, 2, 29))


def test_invalid_spec_raises_before_building() -> None:
    spec = ArchSpec(conv=(ConvBlock(2, 50),), fc=(DenseBlock(2),))
    with pytest.raises(InvalidArchitectureError, match="conv block 1 .*output length -9"):
        build_model(spec, 1, 40)
    with pytest.raises(InvalidArchitectureError, match="budget of 100"):
        build_model(mlp(), 1, 40, max_params=100)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        build_model(mlp(), 1, 10, seed=seed)  # type: ignore[arg-type]


def test_model_keeps_its_spec() -> None:
    spec = passos_cnn(50)
    model = build_model(spec, 1, 50, seed=0)
    assert isinstance(model, SpectralNet)
    assert (model.spec, model.in_channels, model.length) == (spec, 1, 50)
    assert model.summary == validate_arch(spec, 1, 50)
