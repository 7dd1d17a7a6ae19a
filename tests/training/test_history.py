"""History: per-epoch records that survive a JSON round trip."""

from __future__ import annotations

import json

import pytest

from spectune.training import History, TrainConfig, train


def test_history_of_a_run_is_json_serialisable(problem, make_mlp):
    history = train(make_mlp(), *problem[:2], config=TrainConfig(max_epochs=3)).history
    data = json.loads(json.dumps(history.as_dict(), allow_nan=False))
    assert data["epoch"] == [0, 1, 2] and data["metric_name"] == "rmse"
    assert data["val_loss"] == [None] * 3 and data["lr"] == [1e-3] * 3
    assert all(t > 0 for t in data["time"]) and data["train_loss"] == history.train_loss


def test_non_finite_values_become_null():
    history = History("accuracy")
    logs = history.append(
        0, train_loss=float("nan"), val_loss=float("inf"), lr=0.1, val_metric=0.5, time=1.0
    )
    assert logs["train_loss"] != logs["train_loss"]  # callbacks see the raw NaN
    data = history.as_dict()
    assert (
        data["train_loss"] == [None] and data["val_loss"] == [None] and data["val_metric"] == [0.5]
    )
    assert len(history) == 1 and history.epochs == [0]


@pytest.mark.parametrize("key", ["train_loss", "val_loss", "lr", "val_metric"])
def test_columns_match_records(key):
    history = History("rmse")
    for epoch in range(3):
        history.append(
            epoch, train_loss=1.0 / (epoch + 1), val_loss=2.0, lr=0.1, val_metric=3.0, time=0.0
        )
    assert getattr(history, key) == [record[key] for record in history.records]


def test_from_dict_inverts_as_dict(problem, make_mlp):
    history = train(make_mlp(), *problem, config=TrainConfig(max_epochs=2)).history
    data = json.loads(json.dumps(history.as_dict()))
    assert History.from_dict(data) == history
