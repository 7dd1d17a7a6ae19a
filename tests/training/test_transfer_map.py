"""Transfer corrections in a model folder: applied at predict time, saved, loaded, checked."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from spectune.data import make_synthetic
from spectune.exceptions import ModelFileError
from spectune.models import MLP
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._files import SavedModel, load_model, save_model
from spectune.training._network import SpectralNetwork, fit_network
from spectune.training._transfer_map import TransferMap

POINTS = 30


@pytest.fixture(scope="module")
def model() -> SavedModel:
    spectra, _ = make_synthetic(40, POINTS, n_targets=2, random_state=0)
    net = fit_network(spectra.flat_X(), spectra.y, preprocessing=PreprocessingSpec(("raw",)),
                      arch=MLP(units=(8,)), config=TrainConfig(max_epochs=2, seed=0))
    return SavedModel([net], np.ones(1), spectra.wavelengths, ["c0", "c1"])


def _map() -> TransferMap:
    rng = np.random.default_rng(1)
    return TransferMap({"method": "test", "setting": {"k": 1}},
                       matrix=np.eye(POINTS) + 0.01 * rng.normal(size=(POINTS, POINTS)),
                       offset=0.01 * rng.normal(size=POINTS), slope=np.array([1.1, 0.9]),
                       bias=np.array([0.05, -0.02]))


def test_predict_maps_the_spectra_in_and_corrects_the_output(model: SavedModel) -> None:
    transfer = _map()
    X = make_synthetic(7, POINTS, random_state=2)[0].flat_X()
    net: SpectralNetwork = model.members[0]
    by_hand = net.predict(X.astype(np.float64) @ transfer.matrix + transfer.offset)
    by_hand = by_hand * transfer.slope + transfer.bias
    moved = replace(model, transfer=transfer)
    np.testing.assert_allclose(moved.predict(X), by_hand, rtol=1e-6)
    np.testing.assert_allclose(moved.predict(X[:, None, :]), by_hand, rtol=1e-6)
    np.testing.assert_allclose(moved.to_master(X), X @ transfer.matrix + transfer.offset)


def test_a_record_alone_changes_nothing(model: SavedModel) -> None:
    X = make_synthetic(5, POINTS, random_state=3)[0].flat_X()
    moved = replace(model, transfer=TransferMap({"method": "fine-tuning"}))
    np.testing.assert_array_equal(moved.predict(X), model.predict(X))


def test_save_load_keeps_the_corrections(model: SavedModel, tmp_path: Path) -> None:
    transfer = _map()
    net = model.members[0]
    save_model(tmp_path, [net], wavelengths=model.wavelengths, target_names=["c0", "c1"],
               transfer=transfer)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["transfer"]["record"] == {"method": "test", "setting": {"k": 1}}
    assert meta["transfer"]["arrays"] == ["bias", "matrix", "offset", "slope"]
    loaded = load_model(tmp_path)
    for name, array in transfer.arrays().items():
        np.testing.assert_array_equal(getattr(loaded.transfer, name), array)
    X = make_synthetic(6, POINTS, random_state=4)[0].flat_X()
    np.testing.assert_allclose(loaded.predict(X), replace(model, transfer=transfer).predict(X),
                               rtol=1e-6)


def test_a_map_of_another_grid_or_other_targets_is_refused(model: SavedModel,
                                                           tmp_path: Path) -> None:
    net = model.members[0]
    with pytest.raises(ValueError, match="maps 5 points; the model reads 30"):
        save_model(tmp_path, [net], wavelengths=model.wavelengths, target_names=["c0", "c1"],
                   transfer=TransferMap(matrix=np.eye(5)))
    with pytest.raises(ValueError, match="slope has 1 values for 2 targets"):
        save_model(tmp_path, [net], wavelengths=model.wavelengths, target_names=["c0", "c1"],
                   transfer=TransferMap(slope=np.ones(1)))


@pytest.mark.parametrize("damage, message", [
    ("drop matrix", "disagree on 1 tensors"),
    ("unlisted array", "transfer part cannot be used"),
    ("no transfer entry", "belong to no part"),
])
def test_damaged_transfer_parts_are_refused(model: SavedModel, tmp_path: Path, damage: str,
                                            message: str) -> None:
    save_model(tmp_path, model.members, wavelengths=model.wavelengths,
               target_names=["c0", "c1"], transfer=_map())
    meta = json.loads((tmp_path / "model.json").read_text())
    if damage == "drop matrix":
        tensors = load_file(str(tmp_path / "model.safetensors"))
        del tensors["transfer.matrix"]
        save_file(tensors, str(tmp_path / "model.safetensors"))
    elif damage == "unlisted array":
        meta["transfer"]["arrays"].remove("slope")
    else:
        del meta["transfer"]
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=message):
        load_model(tmp_path)
