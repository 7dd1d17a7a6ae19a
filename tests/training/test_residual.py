"""PLS-residual networks: residual targets from out-of-fold PLS, predict = PLS + network, files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import KFold, cross_val_predict

import spectune.training._network as network_module
from spectune.data import make_synthetic
from spectune.exceptions import ModelFileError
from spectune.models import MLP
from spectune.models._pls_cv import pls_pipeline
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig, predict
from spectune.training._files import load_model, save_model
from spectune.training._network import fit_network
from spectune.training._residual import PLSBaseline, fit_pls_baseline

CONFIG = TrainConfig(max_epochs=4, batch_size=16, seed=3)
ROUTES = ("raw", "snv", "msc", "sg1", "snv+sg2")


def _data(n: int = 70, kind: str = "linear", n_targets: int = 1, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    spectra, _ = make_synthetic(n, 40, target_kind=kind, n_targets=n_targets, n_components=3,
                                random_state=seed)
    return spectra.flat_X(), spectra.y


def _small(X: np.ndarray, y: np.ndarray) -> PLSBaseline:
    """A cheap baseline on the first 50 spectra: 3 routes, up to 5 components, 5 folds."""
    return fit_pls_baseline(X[:50], y[:50], max_components=5, routes=("raw", "snv", "sg1"),
                            random_state=CONFIG.seed)


def _fit(X: np.ndarray, y: np.ndarray, pls_residual: bool | PLSBaseline, **kw: object):
    return fit_network(X[:50], y[:50], preprocessing=PreprocessingSpec(("snv",)),
                       arch=MLP(units=(8,)), config=CONFIG, X_val=X[50:], y_val=y[50:],
                       pls_residual=pls_residual, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def residual_net():
    """One PLS-residual MLP on the first 50 spectra (the rest: validation and new spectra)."""
    X, y = _data()
    return _fit(X, y, _small(X, y)), X, y


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("n_targets", [1, 2])
def test_linear_part_equals_sklearn_pls_predict(route: str, n_targets: int) -> None:
    X, y = _data(n_targets=n_targets)
    X64 = X.astype(np.float64)
    folds = KFold(4, shuffle=True, random_state=0)
    baseline = fit_pls_baseline(X[:50], y[:50], max_components=4, routes=[route], cv=folds)
    k = baseline.linear.settings["n_components"]
    reference = pls_pipeline(route, k).fit(X64[:50], y[:50]).predict(X64[50:])
    np.testing.assert_allclose(baseline.linear.predict(X[50:]), reference.reshape(20, -1),
                               rtol=0, atol=1e-10)
    assert baseline.linear.coef.shape == (40, n_targets)
    assert baseline.linear.preprocessing == PreprocessingSpec((route,), standardise=False)


def test_residual_targets_are_y_minus_out_of_fold_pls(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _data()
    seen: dict[str, np.ndarray] = {}
    real_train = network_module.train

    def spy(model, X_train, y_train, X_val, y_val, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(train=np.asarray(y_train), val=np.asarray(y_val))
        return real_train(model, X_train, y_train, X_val, y_val, **kwargs)

    monkeypatch.setattr(network_module, "train", spy)
    net = _fit(X, y, _small(X, y))
    route, k = net.linear.preprocessing.routes[0], net.linear.settings["n_components"]
    # by hand: the chosen setting's out-of-fold predictions on PLSRegressionCV's folds (an int
    # cv is a shuffled KFold seeded by random_state)
    folds = KFold(5, shuffle=True, random_state=CONFIG.seed)
    X64 = X.astype(np.float64)
    oof = cross_val_predict(pls_pipeline(route, k), X64[:50], y[:50], cv=folds)
    refit = pls_pipeline(route, k).fit(X64[:50], y[:50]).predict(X64[50:])
    np.testing.assert_allclose(seen["train"], y[:50] - oof, rtol=0, atol=1e-10)
    np.testing.assert_allclose(seen["val"], y[50:] - refit, rtol=0, atol=1e-10)
    # out-of-fold residuals are larger than PLS's in-sample ones: the optimism is not learned
    in_sample = pls_pipeline(route, k).fit(X64[:50], y[:50]).predict(X64[:50])
    assert np.abs(seen["train"]).mean() > np.abs(y[:50] - in_sample).mean()


def test_prediction_is_pls_plus_network(residual_net) -> None:
    net, X, _ = residual_net
    assert net.y_mean is None  # the residuals' mean lives in the output bias
    network_part = predict(net.model, net.transform(X), y_std=net.y_std)
    np.testing.assert_allclose(net.predict(X), net.linear.predict(X) + network_part,
                               rtol=1e-12, atol=1e-12)
    assert np.abs(network_part).max() > 0  # the network does add something


def test_a_network_with_a_zero_output_layer_predicts_exactly_pls(residual_net) -> None:
    net, X, y = residual_net
    zeroed = fit_network(X[:50], y[:50], preprocessing=PreprocessingSpec(("snv",)),
                         arch=MLP(units=(8,)), config=CONFIG, pls_residual=_small(X, y))
    with torch.no_grad():
        zeroed.model.output.weight.zero_()
        zeroed.model.output.bias.zero_()
    route, k = net.linear.preprocessing.routes[0], net.linear.settings["n_components"]
    X64 = X.astype(np.float64)
    sklearn_pls = pls_pipeline(route, k).fit(X64[:50], y[:50]).predict(X64)
    np.testing.assert_array_equal(zeroed.predict(X), zeroed.linear.predict(X))
    np.testing.assert_allclose(zeroed.predict(X), sklearn_pls, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("kind", "bound"), [("linear", 1.03), ("quadratic", 0.75)])
def test_residual_network_against_pls_on_held_out_spectra(kind: str, bound: float) -> None:
    """Test RMSE over PLS's, mean of 3 data sets: linear truth about 1 (the network adds a few
    per cent of variance on some sets, none on others); quadratic truth: well below 1."""
    ratios = []
    for seed in range(3):
        X, y = _data(400, kind, seed=seed)
        cal, val, test = slice(0, 150), slice(150, 200), slice(200, 400)
        baseline = fit_pls_baseline(X[cal], y[cal], max_components=8, routes=("raw", "snv"))
        config = TrainConfig(max_epochs=150, batch_size=32, lr=3e-3, l2=1e-3,
                             early_stopping_patience=20, plateau_patience=None, seed=0)
        net = fit_network(X[cal], y[cal], preprocessing=PreprocessingSpec(("raw",)),
                          arch=MLP(units=(16,)), config=config, X_val=X[val], y_val=y[val],
                          pls_residual=baseline)
        pls_pred = baseline.cv.predict(X[test]).reshape(-1, 1)  # the same CV-chosen PLS
        ratios.append(root_mean_squared_error(y[test], net.predict(X[test]))
                      / root_mean_squared_error(y[test], pls_pred))
    assert np.mean(ratios) <= bound, ratios


def test_a_baseline_fitted_once_gives_the_same_network_as_pls_residual_true() -> None:
    """True runs the default grid (7 routes, 20 components) with the config's seed."""
    X, y = _data()
    baseline = fit_pls_baseline(X[:50], y[:50], random_state=CONFIG.seed)
    first, second = _fit(X, y, True), _fit(X, y, baseline)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def test_save_load_gives_identical_predictions(residual_net, tmp_path: Path) -> None:
    net, X, _ = residual_net
    save_model(tmp_path, [net], wavelengths=np.arange(X.shape[1]), target_names=["c0"])
    (member,) = load_model(tmp_path).members
    np.testing.assert_array_equal(member.predict(X), net.predict(X))
    np.testing.assert_array_equal(member.linear.coef, net.linear.coef)
    assert member.linear.preprocessing == net.linear.preprocessing
    assert member.linear.settings["n_components"] == net.linear.settings["n_components"] and member.y_mean is None
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["members"][0]["pls"]["settings"]["n_components"] == net.linear.settings["n_components"]
    assert {"m0.pls.coef", "m0.pls.intercept"} <= set(meta["tensors"])


def _edit(folder: Path, edit) -> None:  # type: ignore[no-untyped-def]
    meta = json.loads((folder / "model.json").read_text())
    edit(meta["members"][0])
    (folder / "model.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda member: member.update(pls=None),
         r"tensors \(first: m0\.pls\.coef\) belong to no part that model\.json describes"),
        (lambda member: member["pls"].update(n_outputs=2),
         r"member 0 cannot be rebuilt: linear coefficients of shape \(40, 1\) .* 2 outputs"),
    ],
    ids=["pls entry deleted", "pls shape edited"],
)
def test_a_pls_part_that_disagrees_with_the_json_is_refused(residual_net, tmp_path: Path, edit,
                                                            message: str) -> None:
    net, X, _ = residual_net
    save_model(tmp_path, [net], wavelengths=np.arange(X.shape[1]), target_names=["c0"])
    _edit(tmp_path, edit)
    with pytest.raises(ModelFileError, match=message):
        load_model(tmp_path)


def test_bad_uses_are_refused() -> None:
    X, y = _data()
    with pytest.raises(ValueError, match=r"pls_residual is for regression; got task='class"):
        fit_network(X, (y[:, 0] > 0.5).astype(int), preprocessing=PreprocessingSpec(),
                    arch=MLP(units=(4,)), config=CONFIG, task="classification",
                    pls_residual=True)
    baseline = fit_pls_baseline(X[:40], y[:40], max_components=3, routes=["raw"])
    with pytest.raises(ValueError, match=r"PLSBaseline was fitted on other spectra"):
        _fit(X, y, baseline)
    with pytest.raises(ValueError, match=r"needs one-channel spectra; got 2 channels"):
        fit_pls_baseline(np.stack([X, X], axis=1), y)
    with pytest.raises(TypeError, match=r"must be True, False or a PLSBaseline; got 'yes'"):
        _fit(X, y, "yes")  # type: ignore[arg-type]
