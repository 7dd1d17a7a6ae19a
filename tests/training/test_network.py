"""fit_network: preprocessing and y scaling from calibration data only; seeded, repeatable."""

from __future__ import annotations

import numpy as np
import pytest

from spectune.data import make_synthetic
from spectune.models import MLP, PassosCNN
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._network import fit_network


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    spectra, _ = make_synthetic(60, 50, random_state=0)
    X, y = spectra.flat_X(), spectra.y[:, 0]
    # validation spectra and targets far from the calibration ones: any leak shows in the means
    return X[:40], y[:40], X[40:] + 3.0, y[40:] + 10.0


def _fit(data, seed: int = 0, routes: tuple[str, ...] = ("raw",), arch: object = None):
    X, y, X_val, y_val = data
    config = TrainConfig(max_epochs=4, batch_size=8, seed=seed)
    return fit_network(X, y, preprocessing=PreprocessingSpec(routes), config=config,
                       arch=arch or PassosCNN(dropout=0.2), X_val=X_val, y_val=y_val)


def test_preprocessing_is_fitted_on_calibration_data_only(data) -> None:
    net = _fit(data)
    standardiser = net.transformer.named_steps["standardise"]
    X, _, X_val, _ = data
    np.testing.assert_allclose(standardiser.mean_, X.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(standardiser.scale_, X.std(axis=0), rtol=1e-5)
    both = np.concatenate([X, X_val])
    assert not np.allclose(standardiser.mean_, both.mean(axis=0), atol=0.1)


def test_route_then_standardiser_both_use_calibration_statistics(data) -> None:
    net = _fit(data, routes=("snv",))
    X = data[0].astype(np.float64)
    snv = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)  # by hand, ddof=0
    standardiser = net.transformer.named_steps["standardise"]
    np.testing.assert_allclose(standardiser.mean_, snv.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(standardiser.scale_, snv.std(axis=0), rtol=1e-4)


def test_target_scaling_uses_calibration_targets_only(data) -> None:
    net = _fit(data)
    y = data[1]
    np.testing.assert_allclose(net.y_mean, [y.mean()])
    np.testing.assert_allclose(net.y_std, [y.std()])


def test_same_seed_gives_identical_predictions(data) -> None:
    X_new = data[2]
    first, second = _fit(data, seed=7), _fit(data, seed=7)
    np.testing.assert_array_equal(first.predict(X_new), second.predict(X_new))
    assert first.history.train_loss == second.history.train_loss


def test_different_seed_gives_different_predictions(data) -> None:
    X_new = data[2]
    first, second = _fit(data, seed=7), _fit(data, seed=8)
    assert not np.array_equal(first.predict(X_new), second.predict(X_new))


def test_classification_encodes_the_sorted_labels_and_refuses_unseen_ones(data) -> None:
    X, _, X_val, _ = data
    labels = np.array(["b", "a", "c", "a"] * 10)
    config = TrainConfig(max_epochs=2, seed=0)
    net = fit_network(X, labels, preprocessing=PreprocessingSpec(), arch=MLP(units=(8,)),
                      config=config, task="classification")
    np.testing.assert_array_equal(net.classes, ["a", "b", "c"])
    assert net.arch.n_outputs == 3
    assert set(net.predict(X_val)) <= {"a", "b", "c"}
    np.testing.assert_allclose(net.predict_proba(X_val).sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match=r"labels \['z'\] are not among the classes"):
        fit_network(X, labels, preprocessing=PreprocessingSpec(), arch=MLP(units=(8,)),
                    config=config, task="classification", X_val=X_val[:2],
                    y_val=np.array(["a", "z"]))
