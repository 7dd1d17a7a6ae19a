"""The training loop: it learns, maps units back, is reproducible, and fails clearly."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, root_mean_squared_error
from torch import nn

from spectune.exceptions import DataError
from spectune.training import DivergedError, TrainConfig, Trainer, predict, train


def test_loop_learns_linear_regression(problem, make_mlp):
    X, y, Xv, yv = problem
    result = train(
        make_mlp(), X, y, Xv, yv, config=TrainConfig(lr=1e-2, max_epochs=30, batch_size=16)
    )
    losses = result.history.train_loss
    assert len(losses) == 30 and result.stop_reason == "max_epochs reached"
    assert losses[0] > 2 * losses[-1]
    assert result.history.val_metric[-1] < 0.5 * yv.std()


def test_predictions_are_in_original_units(problem, make_mlp):
    X, y, Xv, yv = problem
    result = train(
        make_mlp(), X, y, Xv, yv, config=TrainConfig(lr=1e-2, max_epochs=30, batch_size=16)
    )
    np.testing.assert_allclose(result.y_mean, y.mean(axis=0))
    np.testing.assert_allclose(result.y_std, y.std(axis=0))
    with torch.no_grad():
        raw = result.model(torch.as_tensor(Xv)).double().numpy()
    pred = result.predict(Xv)
    np.testing.assert_allclose(pred, raw * y.std(axis=0) + y.mean(axis=0), rtol=1e-6)
    # in original units the error is small against the target's own spread (scale 100, offset 50)
    assert root_mean_squared_error(yv, pred) < 0.5 * yv.std()
    assert abs(pred.mean() - yv.mean()) < 0.5 * yv.std()
    # the last epoch's metric is sklearn's RMSE of the returned model in original units
    assert result.history.val_metric[-1] == pytest.approx(
        root_mean_squared_error(yv, pred), rel=1e-5
    )


def test_multi_target_metric_is_mean_of_per_target_rmse(make_problem, make_mlp):
    X, y, Xv, yv = make_problem(n_targets=2)
    y = y * np.array([1.0, 0.01])  # two targets in very different units
    yv = yv * np.array([1.0, 0.01])
    result = train(make_mlp(n_out=2), X, y, Xv, yv, config=TrainConfig(lr=1e-2, max_epochs=10))
    pred = result.predict(Xv)
    assert pred.shape == (len(Xv), 2)
    expected = root_mean_squared_error(yv, pred, multioutput="uniform_average")
    assert result.history.val_metric[-1] == pytest.approx(expected, rel=1e-5)


def _fit(make_mlp, problem, seed, global_seed):
    X, y, Xv, yv = problem
    model = make_mlp(dropout=0.3)
    torch.manual_seed(global_seed)  # the caller's RNG state must not matter, only config.seed
    config = TrainConfig(lr=1e-2, max_epochs=5, batch_size=8, seed=seed)
    return train(model, X, y, Xv, yv, config=config)


def test_same_seed_gives_bit_identical_results(problem, make_mlp):
    a, b, c = (
        _fit(make_mlp, problem, seed, global_seed)
        for seed, global_seed in ((3, 1), (3, 2), (4, 1))
    )
    X_val = problem[2]
    assert np.array_equal(a.predict(X_val), b.predict(X_val))
    assert a.history.train_loss == b.history.train_loss
    assert not np.array_equal(a.predict(X_val), c.predict(X_val))


def test_training_leaves_the_callers_rng_alone(problem, make_mlp):
    model = make_mlp(dropout=0.3)
    before = torch.get_rng_state()
    train(model, *problem[:2], config=TrainConfig(max_epochs=2))
    assert torch.equal(before, torch.get_rng_state())


def test_nan_loss_raises_diverged_error_with_epoch(problem, make_mlp):
    config = TrainConfig(optimizer="sgd", lr=1e6, max_epochs=5, batch_size=16)
    with pytest.raises(DivergedError, match="epoch 0") as info:
        train(make_mlp(), *problem, config=config)
    assert info.value.epoch == 0
    assert len(info.value.history) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "adam"},
        {"optimizer": "adamw", "weight_decay": 1e-2},
        {"optimizer": "sgd"},
        {"optimizer": "sgd", "nesterov": True},
        {"optimizer": "rmsprop"},
        {"optimizer": "adagrad"},
        {"loss": "huber", "grad_clip": 1.0},
    ],
)
def test_every_optimizer_and_loss_trains(problem, make_mlp, options):
    config = TrainConfig(lr=1e-2, max_epochs=8, batch_size=16, **options)
    losses = train(make_mlp(), *problem, config=config).history.val_loss
    assert losses[-1] < losses[0]


def test_one_step_loss_is_mse_plus_l2_by_hand(problem, make_mlp):
    X, y = problem[:2]
    model = make_mlp()
    initial = copy.deepcopy(model)
    beta = 0.01
    config = TrainConfig(l2=beta, max_epochs=1, batch_size=len(X))  # one full batch: one step
    result = train(model, X, y, config=config)
    with torch.no_grad():
        y_std = torch.as_tensor((y - y.mean(0)) / y.std(0), dtype=torch.float32)
        mse = ((initial(torch.as_tensor(X)) - y_std) ** 2).mean()
        penalty = beta * (initial[0].weight ** 2).sum()  # hidden layer only: not the output layer
    assert result.history.train_loss[0] == pytest.approx((mse + penalty).item(), rel=1e-5)


def test_class_weighted_loss_matches_torch_cross_entropy(make_mlp):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    labels = (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0).astype(int)  # 3 unbalanced classes
    model = make_mlp(n_out=3)
    initial = copy.deepcopy(model)
    weights = (0.5, 1.0, 3.0)
    config = TrainConfig(max_epochs=1, batch_size=len(X), class_weights=weights)
    result = train(model, X, labels, X, labels, config=config, task="classification")
    with torch.no_grad():
        criterion = nn.CrossEntropyLoss(weight=torch.tensor(weights))
        expected = criterion(initial(torch.as_tensor(X)), torch.as_tensor(labels))
    assert result.history.train_loss[0] == pytest.approx(expected.item(), rel=1e-5)
    proba = result.predict(X, proba=True)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    accuracy = accuracy_score(labels, result.predict(X).argmax(axis=1))
    assert result.history.val_metric[-1] == pytest.approx(accuracy)


def test_augment_hook_sees_training_batches_only(problem, make_mlp):
    X, y, Xv, yv = problem
    seen = []

    def augment(batch, generator):
        seen.append((len(batch), isinstance(generator, torch.Generator)))
        return batch + 1e3  # would ruin the validation loss if applied there

    result = train(
        make_mlp(), X, y, Xv, yv, config=TrainConfig(max_epochs=2, batch_size=16), augment=augment
    )
    assert seen == [(16, True)] * (2 * len(X) // 16)
    val_loss = np.mean(((result.predict(Xv) - yv) / result.y_std) ** 2)
    assert result.history.val_loss[-1] == pytest.approx(val_loss, rel=1e-5)


def test_single_sample_last_batch_is_dropped_for_batchnorm(make_problem):
    X, y, _, _ = make_problem(n=50)  # 33 training samples, batch 32: the last batch holds one
    model = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    result = train(model, X, y, config=TrainConfig(max_epochs=2, batch_size=32))
    assert len(result.history) == 2


def test_predict_without_statistics_returns_raw_outputs(problem, make_mlp):
    model = make_mlp()
    with torch.no_grad():
        expected = model(torch.as_tensor(problem[0])).numpy()
    np.testing.assert_allclose(predict(model, problem[0]), expected, rtol=1e-6)


def test_output_shape_mismatch_is_explained(problem, make_mlp):
    with pytest.raises(ValueError, match="2 targets"):
        train(
            make_mlp(n_out=1),
            problem[0],
            np.c_[problem[1], problem[1]],
            config=TrainConfig(max_epochs=1),
        )


def test_too_few_logits_are_explained(problem, make_mlp):
    labels = np.arange(len(problem[0])) % 3
    with pytest.raises(ValueError, match="3 logits"):
        train(
            make_mlp(n_out=2),
            problem[0],
            labels,
            config=TrainConfig(max_epochs=1),
            task="classification",
        )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"row": 3}, "X_train holds NaN or inf in row 3"),
        ({"y": np.zeros(5)}, "y_train has 5 rows"),
        ({"X_val_only": True}, "X_val and y_val"),
    ],
)
def test_bad_data_is_rejected(problem, make_mlp, change, match):
    X, y, Xv, yv = (a.copy() for a in problem)
    if "row" in change:
        X[change["row"], 2] = np.nan
    if "y" in change:
        y = change["y"]
    error = ValueError if "X_val_only" in change else DataError
    with pytest.raises(error, match=match):
        train(
            make_mlp(),
            X,
            y,
            Xv,
            None if "X_val_only" in change else yv,
            config=TrainConfig(max_epochs=1),
        )


def test_float_labels_are_rejected_for_classification(problem, make_mlp):
    with pytest.raises(DataError, match="class codes"):
        train(
            make_mlp(),
            problem[0],
            problem[1].ravel(),
            config=TrainConfig(max_epochs=1),
            task="classification",
        )


@pytest.mark.parametrize(
    ("task", "loss", "match"),
    [
        ("ranking", None, "task='ranking'"),
        ("regression", "cross_entropy", "loss='cross_entropy'"),
        ("classification", "mse", "loss='mse'"),
    ],
)
def test_task_and_loss_must_fit(make_mlp, task, loss, match):
    with pytest.raises(ValueError, match=match):
        Trainer(make_mlp(), TrainConfig(loss=loss), task=task)


def test_a_trainer_can_run_twice_with_a_fresh_history(problem, make_mlp):
    trainer = Trainer(make_mlp(), TrainConfig(max_epochs=2))
    trainer.run(*problem)
    assert len(trainer.run(*problem).history) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_learns_and_repeats(problem, make_mlp):
    # the CUDA generator draws other batch orders than the CPU one: compare GPU runs together
    config = TrainConfig(lr=1e-2, max_epochs=30, batch_size=16, device="cuda")
    a, b = (train(make_mlp(), *problem, config=config) for _ in range(2))
    assert next(a.model.parameters()).is_cuda
    assert a.history.val_metric[-1] < 0.5 * problem[3].std()
    np.testing.assert_allclose(a.predict(problem[2]), b.predict(problem[2]), rtol=1e-4)
