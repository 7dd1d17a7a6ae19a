"""Presets: Passos & Mishra's funnel sizes by hand, Shen-style CNN and MLP structure."""

from __future__ import annotations

import pytest
import torch

from spectune.exceptions import InvalidArchitectureError
from spectune.models import (
    PASSOS_L2_BETA,
    ConvBlock,
    build_model,
    mlp,
    passos_cnn,
    shen_cnn,
    validate_arch,
)


@pytest.mark.parametrize(
    ("length", "kwargs", "units"),
    [
        # "same" padding keeps 700 points: 700/4 = 175, 175/2 = 87.5 -> 88, 88/2 = 44
        (700, {"kernel_size": 21}, [175, 88, 44]),
        # no padding: 1000 - 5 + 1 = 996; 996/5 = 199.2 -> 199, 66.3 -> 66, 22, 7.3 -> 7, 2.3 -> 2
        (1000, {"padding": 0, "first_ratio": 5, "next_ratio": 3, "n_dense": 5},
         [199, 66, 22, 7, 2]),
        # 10/5 = 2, 2/3 = 0.67 -> 1, then 1/3 = 0.33 -> 0, floored at 1
        (10, {"first_ratio": 5, "next_ratio": 3, "n_dense": 4}, [2, 1, 1, 1]),
        # padding 2 with kernel 5 keeps 618 points: 618/2.5 = 247.2 -> 247, 247/2.5 = 98.8 -> 99
        (618, {"padding": 2, "first_ratio": 2.5, "next_ratio": 2.5, "n_dense": 2}, [247, 99]),
        (90, {"n_dense": 1}, [23]),  # 90 / 4 = 22.5 -> 23 (half up)
    ],
)
def test_passos_funnel_sizes(length: int, kwargs: dict, units: list[int]) -> None:
    spec = passos_cnn(length, **kwargs)
    assert [b.units for b in spec.fc] == units
    validate_arch(spec, 1, length)  # the preset is buildable at that length


def test_passos_structure() -> None:
    spec = passos_cnn(200, kernel_size=11, dropout=(0.1, 0.2, 0.3), task="classification",
                      n_outputs=4)
    assert spec.conv == (ConvBlock(1, 11, stride=1, padding="same", activation="elu"),)
    assert [b.activation for b in spec.fc] == ["elu"] * 3
    assert [b.dropout for b in spec.fc] == [0.1, 0.2, 0.3]
    assert not any(b.batch_norm for b in spec.fc)
    assert (spec.init, spec.task, spec.n_outputs) == ("he_normal", "classification", 4)
    model = build_model(spec, 1, 200, seed=0)
    assert model(torch.zeros(2, 1, 200)).shape == (2, 4)
    assert PASSOS_L2_BETA == 0.003  # Cui & Fearn (2018) base model, enqueued by Passos & Mishra


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"first_ratio": 1.5}, r"'first_ratio' must lie in \[2, 5\].*got 1.5"),
        ({"first_ratio": 6}, r"'first_ratio' must lie in \[2, 5\]"),
        ({"next_ratio": 3.5}, r"'next_ratio' must lie in \[2, 3\]"),
        ({"n_dense": 0}, r"'n_dense' must be an integer >= 1; got 0"),
        ({"dropout": (0.1, 0.2)}, r"'dropout' has 2 values for 3 dense layers"),
        ({"kernel_size": 120, "padding": 0}, r"conv block 1 \(kernel 120, stride 1\): input "
                                             r"length 100 gives output length -19"),
    ],
)
def test_passos_rejects_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        passos_cnn(100, **kwargs)


def test_shen_cnn_defaults() -> None:
    spec = shen_cnn()
    assert [(b.filters, b.kernel_size, b.pool, b.batch_norm) for b in spec.conv] == [
        (32, 7, "max", True), (64, 7, "max", True)]
    assert [b.units for b in spec.fc] == [128, 32]
    for length in (20, 2000):  # "same" padding: any length that survives two 2-pools
        assert validate_arch(spec, 3, length).layers[4].out_shape == (64 * (length // 4),)


def test_shen_and_mlp_settings_reach_every_block() -> None:
    spec = shen_cnn(filters=(4, 4, 8), activation="selu", pool=None, batch_norm=False,
                    units=(6, 5), dropout=(0.0, 0.4), n_outputs=3)
    assert len(spec.conv) == 3 and all(b.pool is None and b.activation == "selu"
                                       for b in spec.conv)
    assert [(b.units, b.dropout, b.activation) for b in spec.fc] == [
        (6, 0.0, "selu"), (5, 0.4, "selu")]
    net = mlp(units=(16, 8), activation="tanh", batch_norm=True, dropout=0.3,
              task="classification", n_outputs=5)
    assert net.conv == () and net.task == "classification"
    assert all(b.batch_norm and b.activation == "tanh" and b.dropout == 0.3 for b in net.fc)
    model = build_model(net, 6, 40, seed=0).eval()
    assert model(torch.zeros(1, 6, 40)).shape == (1, 5)
    assert model.last_conv is None
