"""Early stopping, plateau LR and the pruning hook, each checked against what it promises."""

from __future__ import annotations

import numpy as np
import pytest

from spectune.training import (
    Callback,
    EarlyStopping,
    ReduceLROnPlateau,
    ReportCallback,
    StopTraining,
    TrainConfig,
    TrainingPruned,
    train,
)


def _overfitting_run(make_problem, make_mlp, **callbacks):
    # few noisy samples, a wide net and a large LR: the validation loss turns up early
    X, y, Xv, yv = make_problem(n=30, noise=1.0)
    config = TrainConfig(lr=3e-2, max_epochs=200, batch_size=8, **callbacks)
    return train(make_mlp(hidden=64), X, y, Xv, yv, config=config), (Xv, yv)


def test_early_stopping_restores_the_best_weights(make_problem, make_mlp):
    result, (Xv, yv) = _overfitting_run(make_problem, make_mlp, early_stopping_patience=5)
    val_loss = result.history.val_loss
    assert len(val_loss) < 200 and "early stopping" in result.stop_reason
    assert result.best_epoch == int(np.argmin(val_loss)) < len(val_loss) - 1
    restored = np.mean(((result.predict(Xv) - yv) / result.y_std) ** 2)  # the loss by hand
    assert restored == pytest.approx(min(val_loss), rel=1e-5)
    assert restored < val_loss[-1]


def test_early_stopping_resets_its_state_each_run(make_problem, make_mlp):
    stopper = EarlyStopping(patience=3)
    X, y, Xv, yv = make_problem()
    first = train(make_mlp(), X, y, Xv, yv, config=TrainConfig(max_epochs=4), callbacks=[stopper])
    assert stopper.best_epoch_ == first.best_epoch is not None
    noise = np.random.default_rng(0).normal(size=yv.shape)  # a target unrelated to X
    train(make_mlp(), X, y, Xv, noise, config=TrainConfig(max_epochs=2), callbacks=[stopper])
    assert stopper.best_epoch_ in (0, 1) and stopper.wait_ <= 1


def test_plateau_reduces_lr_by_factor_and_never_below_floor(make_problem, make_mlp):
    X, y, Xv, _ = make_problem()
    noise = np.random.default_rng(0).normal(size=(len(Xv), 1))  # nothing to learn: plateaus
    lr, factor, floor = 1e-2, 0.5, 1e-2 * 0.5**3 * 1.5  # the floor falls between two halvings
    config = TrainConfig(
        lr=lr, max_epochs=40, plateau_patience=1, plateau_factor=factor, lr_min=floor
    )
    lrs = np.array(train(make_mlp(), X, y, Xv, noise, config=config).history.lr)
    before, after = lrs[:-1], lrs[1:]
    reduced = after < before
    assert reduced.sum() >= 3
    np.testing.assert_allclose(
        after[reduced], np.maximum(before[reduced] * factor, floor), rtol=1e-12
    )
    assert lrs.min() >= floor and lrs[-1] == pytest.approx(floor)


def test_report_callback_reports_every_epoch(problem, make_mlp):
    reports = []
    result = train(
        make_mlp(),
        *problem,
        config=TrainConfig(max_epochs=4),
        callbacks=[ReportCallback(lambda value, epoch: reports.append((value, epoch)))],
    )
    assert reports == list(zip(result.history.val_metric, range(4), strict=True))


def test_should_stop_prunes_after_the_first_epoch(problem, make_mlp):
    reports = []
    pruner = ReportCallback(lambda value, epoch: reports.append(epoch), should_stop=lambda: True)
    with pytest.raises(TrainingPruned, match="pruned at epoch 0") as info:
        train(make_mlp(), *problem, config=TrainConfig(max_epochs=10), callbacks=[pruner])
    assert reports == [0]
    assert info.value.epoch == 0 and len(info.value.history) == 1


def test_a_callback_can_stop_training(problem, make_mlp):
    class StopAtTwo(Callback):
        def on_train_begin(self, trainer):
            self.ended_ = False

        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                raise StopTraining("enough at 2")

        def on_train_end(self):
            self.ended_ = True

    stopper = StopAtTwo()
    result = train(make_mlp(), *problem, config=TrainConfig(max_epochs=10), callbacks=[stopper])
    assert len(result.history) == 3 and result.stop_reason == "enough at 2" and stopper.ended_


def test_monitoring_a_missing_validation_loss_is_explained(problem, make_mlp):
    with pytest.raises(ValueError, match="'val_loss'.*X_val"):
        train(
            make_mlp(),
            *problem[:2],
            config=TrainConfig(max_epochs=2),
            callbacks=[EarlyStopping(2)],
        )


def test_built_in_callbacks_fall_back_to_train_loss_without_validation(problem, make_mlp):
    config = TrainConfig(max_epochs=3, early_stopping_patience=2, plateau_patience=1)
    result = train(make_mlp(), *problem[:2], config=config)
    assert result.history.val_loss == [None] * 3 and result.best_epoch is not None


def test_plateau_callback_wraps_torch_scheduler(problem, make_mlp):
    plateau = ReduceLROnPlateau(factor=0.1, patience=2, lr_min=1e-6)
    train(make_mlp(), *problem, config=TrainConfig(max_epochs=2), callbacks=[plateau])
    assert plateau.scheduler_.factor == 0.1 and plateau.scheduler_.min_lrs == [1e-6]
