"""ArchSpec dataclasses and validate_arch: shapes and counts by hand, errors, JSON round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from spectune.exceptions import InvalidArchitectureError
from spectune.models import (
    ACTIVATIONS,
    ArchSpec,
    ConvBlock,
    DenseBlock,
    mlp,
    passos_cnn,
    shen_cnn,
    validate_arch,
)

SPECS = [
    ArchSpec(fc=(DenseBlock(4),)),
    ArchSpec(conv=(ConvBlock(8, 7, stride=2, padding=1, pool="max", pool_size=3, pool_stride=2),
                   ConvBlock(4, 5, stride=3, padding="same", batch_norm=True, dropout=0.1)),
             fc=(DenseBlock(10, activation="swish"),), n_outputs=3),
    ArchSpec(conv=(ConvBlock(2, 3, pool="avg"),), fc=(DenseBlock(5, True, "tanh", 0.5),),
             n_outputs=4, task="classification", init="default"),
    passos_cnn(300),
    shen_cnn(),
    mlp(),
]


@pytest.mark.parametrize("spec", SPECS)
def test_dict_round_trip_through_json(spec: ArchSpec) -> None:
    data = json.loads(json.dumps(spec.to_dict()))
    assert ArchSpec.from_dict(data) == spec
    assert ArchSpec.from_dict(data).to_dict() == data


def test_numpy_numbers_become_plain_python() -> None:
    block = ConvBlock(np.int64(4), np.int32(3), dropout=np.float32(0.25))
    spec = ArchSpec(conv=[block], fc=[DenseBlock(np.int64(2), dropout=0)], n_outputs=np.int64(2))
    data = spec.to_dict()
    json.dumps(data)  # would raise on numpy scalars
    assert type(data["conv"][0]["filters"]) is int
    assert type(data["conv"][0]["dropout"]) is float and data["conv"][0]["dropout"] == 0.25
    assert type(data["fc"][0]["dropout"]) is float
    assert isinstance(spec.conv, tuple) and isinstance(spec.fc, tuple)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"fc": [{"units": 2}], "depth": 3}, r"ArchSpec: unknown key\(s\) \['depth'\]"),
        ({"conv": [{"filters": 2, "kernel_size": 3, "size": 1}], "fc": [{"units": 2}]},
         r"conv block 1: unknown key\(s\) \['size'\]"),
        ({"fc": [{"units": 2}, {"units": 2, "bn": True}]}, r"dense block 2: unknown key"),
    ],
)
def test_from_dict_rejects_unknown_keys(data: dict, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        ArchSpec.from_dict(data)


def test_shapes_and_counts_match_a_hand_computation() -> None:
    summary = validate_arch(SPECS[1], 1, 100)
    # conv 1: floor((100 + 2*1 - 7) / 2) + 1 = 48; max pool 3 / 2: floor((48 - 3) / 2) + 1 = 23
    # conv 2 ("same", stride 3): ceil(23 / 3) = 8; flatten 4 * 8 = 32
    expected = [
        ("conv block 1", (8, 48), 8 * 1 * 7 + 8),
        ("conv block 1 max pool", (8, 23), 0),
        ("conv block 2", (4, 8), 4 * 8 * 5 + 2 * 4),  # no conv bias with BN; BN scale + shift
        ("flatten", (32,), 0),
        ("dense block 1", (10,), 32 * 10 + 10),
        ("output", (3,), 10 * 3 + 3),
    ]
    got = [(lay.name, lay.out_shape, lay.n_params) for lay in summary.layers]
    assert got == expected
    assert summary.n_params == sum(n for *_, n in expected)
    assert summary.in_shape == (1, 100) and summary.out_shape == (3,)
    assert f"{summary.n_params:,}" in str(summary)


@pytest.mark.parametrize("length", [1, 2, 7, 20, 99, 100, 2000])
@pytest.mark.parametrize(("kernel", "stride"), [(1, 1), (4, 1), (7, 1), (3, 2), (2, 5), (15, 4)])
def test_same_padding_gives_ceil_length_over_stride(length: int, kernel: int, stride: int) -> None:
    spec = ArchSpec(conv=(ConvBlock(1, kernel, stride=stride, padding="same"),),
                    fc=(DenseBlock(1),))
    assert validate_arch(spec, 1, length).layers[0].out_shape == (1, math.ceil(length / stride))


def test_mlp_flattens_channels_times_points() -> None:
    summary = validate_arch(mlp(units=(7,)), 6, 50)
    assert summary.layers[0].out_shape == (300,)
    assert summary.layers[1].n_params == 300 * 7 + 7


def _conv(**kw: object) -> ArchSpec:
    return ArchSpec(conv=(ConvBlock(**{"filters": 2, "kernel_size": 3, **kw}),),
                    fc=(DenseBlock(2),))


def _dense(**kw: object) -> ArchSpec:
    return ArchSpec(fc=(DenseBlock(**{"units": 2, **kw}),))


@pytest.mark.parametrize(
    ("spec", "length", "match"),
    [
        (ArchSpec(conv=(ConvBlock(2, 3), ConvBlock(2, 15, stride=2)), fc=(DenseBlock(2),)), 11,
         r"conv block 2 \(kernel 15, stride 2\): input length 9 gives output length -2 < 1"),
        (_conv(kernel_size=30, padding=2), 20,
         r"conv block 1 \(kernel 30, stride 1, padding 2\): input length 20 gives output length "
         r"-5 < 1"),
        (_conv(pool="max", pool_size=20), 11,
         r"conv block 1 max pool \(size 20, stride 20\): input length 9 gives output length 0"),
        (_conv(pool="avg", pool_size=2, pool_stride=1), 3,
         r"conv block 1 avg pool \(size 2, stride 1\): input length 1 gives output length 0"),
        (_conv(filters=0), 10, r"conv block 1: 'filters' must be an integer >= 1; got 0"),
        (_conv(kernel_size=2.5), 10, r"conv block 1: 'kernel_size' must be an integer"),
        (_conv(stride=0), 10, r"'stride' must be an integer >= 1; got 0"),
        (_conv(padding=-1), 10, r"'padding' must be an integer >= 0; got -1"),
        (_conv(padding="valid"), 10, r"'padding' must be an integer >= 0 or 'same'; got 'valid'"),
        (_conv(pool="min"), 10, r"conv block 1: unknown pool 'min'; valid values are \[None"),
        (_conv(pool="max", pool_size=0), 10, r"'pool_size' must be an integer >= 1"),
        (_conv(pool="max", pool_stride=0), 10, r"'pool_stride' must be an integer >= 1"),
        (_conv(batch_norm="yes"), 10, r"conv block 1: 'batch_norm' must be True or False"),
        (_conv(activation="gelu"), 10,
         r"conv block 1: unknown activation 'gelu'; valid values are \['relu', 'leaky_relu'"),
        (_conv(dropout=1.0), 10, r"conv block 1: 'dropout' must be a rate in \[0, 1\)"),
        (_dense(units=0), 10, r"dense block 1: 'units' must be an integer >= 1; got 0"),
        (_dense(dropout=-0.1), 10, r"dense block 1: 'dropout' must be a rate in \[0, 1\)"),
        (_dense(activation="Relu"), 10, r"dense block 1: unknown activation 'Relu'"),
        (ArchSpec(fc=()), 10, r"'fc' needs at least one DenseBlock"),
        (ArchSpec(fc=(DenseBlock(2),), n_outputs=0), 10, r"'n_outputs' must be an integer >= 1"),
        (ArchSpec(fc=(DenseBlock(2),), task="classification", n_outputs=1), 10,
         r"'n_outputs' must be an integer >= 2; got 1"),
        (ArchSpec(fc=(DenseBlock(2),), task="clustering"), 10, r"unknown task 'clustering'"),
        (ArchSpec(fc=(DenseBlock(2),), init="xavier"), 10, r"unknown init 'xavier'"),
        (_dense(), 0, r"input: 'length' must be an integer >= 1; got 0"),
    ],
)
def test_invalid_specs_name_the_layer(spec: ArchSpec, length: int, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        validate_arch(spec, 1, length)


def test_bad_channels_and_non_spec() -> None:
    with pytest.raises(InvalidArchitectureError, match="'in_channels' must be an integer >= 1"):
        validate_arch(_dense(), 0, 10)
    with pytest.raises(InvalidArchitectureError, match="spec must be an ArchSpec; got dict"):
        validate_arch({"fc": []}, 1, 10)  # type: ignore[arg-type]


def test_output_length_one_is_the_boundary() -> None:
    assert validate_arch(_conv(kernel_size=10), 1, 10).layers[0].out_shape == (2, 1)
    with pytest.raises(InvalidArchitectureError, match="output length 0 < 1"):
        validate_arch(_conv(kernel_size=11), 1, 10)


def test_parameter_budget() -> None:
    spec = _dense(units=100)
    n = validate_arch(spec, 2, 500, max_params=None).n_params
    assert n == 1000 * 100 + 100 + 100 * 1 + 1
    assert validate_arch(spec, 2, 500, max_params=n).n_params == n
    with pytest.raises(InvalidArchitectureError,
                       match=f"has {n:,} parameters, over the budget of {n - 1:,}"):
        validate_arch(spec, 2, 500, max_params=n - 1)
    with pytest.raises(InvalidArchitectureError, match="over the budget of 20,000,000"):
        validate_arch(_dense(units=10_000), 1, 2001)


def test_every_activation_and_alias_is_accepted() -> None:
    for name in ACTIVATIONS:
        validate_arch(_conv(activation=name), 1, 10)
    assert "swish" in ACTIVATIONS and "silu" in ACTIVATIONS
