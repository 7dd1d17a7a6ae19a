"""Fine-tuning a small network on the standards: units kept, layers frozen, epochs by CV."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from spectune.models import MLP
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._files import SavedModel
from spectune.training._network import SpectralNetwork, fit_network
from spectune.transfer import fine_tune, transfer_model


@pytest.fixture(scope="module")
def network_case(shift_case):
    """The shift scenario with a small MLP (SNV, 16 units) trained on instrument A instead."""
    a, cal = shift_case.a, shift_case.cal
    net = fit_network(a.flat_X()[cal], a.y[cal], preprocessing=PreprocessingSpec(("snv",)),
                      arch=MLP(units=(16,)), config=TrainConfig(lr=3e-3, max_epochs=150, seed=0))
    return replace(shift_case, model=SavedModel([net], np.ones(1), a.wavelengths, ["c0"]))


def _net(case) -> SpectralNetwork:
    return case.model.members[0]


@pytest.mark.parametrize("layers", ["output", "all"])
def test_a_vanishing_learning_rate_keeps_the_predictions(network_case, layers: str) -> None:
    """The network is trained in the fine-tuning targets' units and mapped back unchanged."""
    net = replace(_net(network_case), config=TrainConfig(lr=1e-12))
    standards = network_case.standards
    X = network_case.b.flat_X()[:8]
    tuned, watched = fine_tune(net, standards.slave, standards.y, layers=layers, epochs=2,
                               X_watch=X)
    np.testing.assert_allclose(tuned.predict(X), net.predict(X), rtol=1e-5, atol=1e-6)
    assert len(watched) == 2


def test_output_mode_trains_the_output_layer_only(network_case) -> None:
    net, standards = _net(network_case), network_case.standards
    tuned, _ = fine_tune(net, standards.slave, standards.y, layers="output", epochs=5)
    before, after = net.model.state_dict(), tuned.model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"output.weight", "output.bias"}
    everything, _ = fine_tune(net, standards.slave, standards.y, layers="all", epochs=5)
    assert any(not torch.equal(before[k], v) for k, v in everything.model.state_dict().items()
               if not k.startswith("output."))
    assert all(p.requires_grad for p in tuned.model.parameters())


def test_the_cv_shortcut_is_a_fresh_fine_tuning_of_that_many_epochs(network_case) -> None:
    net, standards = _net(network_case), network_case.standards
    X = network_case.b.flat_X()[:5]
    _, watched = fine_tune(net, standards.slave, standards.y, layers="all", epochs=6,
                           X_watch=X, seed=2)
    fresh, _ = fine_tune(net, standards.slave, standards.y, layers="all", epochs=4, seed=2)
    np.testing.assert_allclose(watched[3], fresh.predict(X), rtol=1e-6)


def test_fine_tuning_on_the_standards_moves_the_network(network_case) -> None:
    result = transfer_model(network_case.model, network_case.standards,
                            methods=["fine-tuning"], max_epochs=100)
    rows = {r["method"]: r for r in result.best_per_method()}
    tuned = rows["fine-tuning"]
    assert tuned["status"] == "ok" and tuned["setting"]["epochs"] <= 100
    assert tuned["cv_rmse"] < rows["none"]["cv_rmse"] / 3
    assert result.method == "fine-tuning"
    assert (network_case.rmse_on_b(result.model)
            < network_case.rmse_on_b(network_case.model) / 3)
    epochs = {r["setting"]["epochs"] for r in result.rows if r["method"] == "fine-tuning"}
    assert max(epochs) == 100 and min(epochs) == 1


def test_a_pls_residual_network_keeps_its_pls_part(shift_case) -> None:
    """Fine-tuning moves the network only; recalibration refits the PLS part only."""
    from spectune.transfer import Context
    from spectune.transfer._recalibrate import Recalibration

    a, cal, standards = shift_case.a, shift_case.cal, shift_case.standards
    net = fit_network(a.flat_X()[cal], a.y[cal], preprocessing=PreprocessingSpec(("raw",)),
                      arch=MLP(units=(8,)), config=TrainConfig(max_epochs=20, seed=0),
                      pls_residual=True)
    tuned, _ = fine_tune(net, standards.slave, standards.y, layers="all", epochs=3)
    assert tuned.linear is not None
    np.testing.assert_array_equal(tuned.linear.coef, net.linear.coef)
    model = SavedModel([net], np.ones(1), a.wavelengths, ["c0"])
    moved = Recalibration().fit(Context(model, a[cal]), standards,
                                {"weight": 3, "extra_components": 0}).members[0]
    assert not np.array_equal(moved.linear.coef, net.linear.coef)
    for name, value in net.model.state_dict().items():
        assert torch.equal(moved.model.state_dict()[name], value)
