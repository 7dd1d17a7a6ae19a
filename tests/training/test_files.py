"""Model folders: save -> load predicts the same, damaged folders are refused, no pickle."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from spectune.data import make_synthetic
from spectune.estimators import SpectralCNNRegressor
from spectune.exceptions import ModelFileError
from spectune.models import MLP, ApplicabilityDomain, PassosCNN, ShenCNN
from spectune.preprocess import PreprocessingSpec
from spectune.training import TrainConfig
from spectune.training._files import SavedModel, load_model, save_model
from spectune.training._network import SpectralNetwork, fit_network

CONFIG = TrainConfig(max_epochs=3, batch_size=16, seed=0)


def _regression(n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    spectra, _ = make_synthetic(48, 40, n_targets=n_targets, n_components=3, random_state=0)
    return spectra.flat_X(), spectra.y[:, 0] if n_targets == 1 else spectra.y


def _string_classes() -> tuple[np.ndarray, np.ndarray]:
    spectra, _ = make_synthetic(48, 40, task="classification", random_state=1)
    return spectra.flat_X(), np.array(["apple", "bean", "corn"])[spectra.y]


def _two_channels() -> tuple[np.ndarray, np.ndarray]:
    spectra, _ = make_synthetic(48, 40, random_state=2)
    X = spectra.flat_X()
    return np.stack([X, np.gradient(X, axis=1)], axis=1), spectra.y[:, 0]


# name -> (data, preprocessing, arch, task)
CASES: dict[str, tuple[Callable[[], tuple[np.ndarray, np.ndarray]], PreprocessingSpec, object,
                       str]] = {
    "one target": (lambda: _regression(1), PreprocessingSpec(("snv",)), PassosCNN(), "regression"),
    "three targets": (lambda: _regression(3), PreprocessingSpec(("raw",)), MLP(units=(16,)),
                      "regression"),
    "string classes": (_string_classes, PreprocessingSpec(("snv+sg1",)), PassosCNN(),
                       "classification"),
    "stacked channels": (_two_channels, PreprocessingSpec(("raw", "snv"), "stack"),
                         ShenCNN(filters=(4,), units=(8,)), "regression"),
    "passos concat": (lambda: _regression(1), PreprocessingSpec.passos(), PassosCNN(),
                      "regression"),
}


def _fit(case: str) -> tuple[SpectralNetwork, np.ndarray]:
    make, preprocessing, arch, task = CASES[case]
    X, y = make()
    net = fit_network(X[:36], y[:36], preprocessing=preprocessing, arch=arch, config=CONFIG,
                      task=task, X_val=X[36:], y_val=y[36:])
    return net, X


def _save(folder: Path, net: SpectralNetwork, X: np.ndarray, **options: object) -> Path:
    names = [f"t{i}" for i in range(1 if net.y_mean is None else len(net.y_mean))]
    save_model(folder, [net], wavelengths=np.linspace(1000, 2500, X.shape[-1]),
               target_names=names, **options)  # type: ignore[arg-type]
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[SpectralNetwork, np.ndarray, Path]:
    """One fitted network (Passos CNN, SNV) in a folder; tests that damage it copy it first."""
    net, X = _fit("one target")
    return net, X, _save(tmp_path_factory.mktemp("model"), net, X)


@pytest.mark.parametrize("case", list(CASES))
def test_save_load_gives_identical_predictions(case: str, tmp_path: Path) -> None:
    net, X = _fit(case)
    loaded = load_model(_save(tmp_path / "model", net, X))
    (member,) = loaded.members
    np.testing.assert_array_equal(member.predict(X), net.predict(X))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert member.arch == net.arch and member.preprocessing == net.preprocessing
    assert member.in_shape == net.in_shape and member.config == net.config
    assert member.history.as_dict() == net.history.as_dict()
    assert member.best_epoch == net.best_epoch
    if net.task == "classification":
        np.testing.assert_array_equal(loaded.classes, ["apple", "bean", "corn"])
        np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
        assert set(loaded.predict(X)) <= {"apple", "bean", "corn"}
    else:
        np.testing.assert_array_equal(member.y_mean, net.y_mean)
        np.testing.assert_array_equal(member.y_std, net.y_std)


def test_folder_holds_json_and_safetensors_only(saved) -> None:
    net, X, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]
    # strict JSON: NaN or inf would not parse in other languages
    meta = json.loads((folder / "model.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert meta["format"] == "spectune-model" and meta["target_names"] == ["t0"]
    np.testing.assert_allclose(meta["wavelengths"], np.linspace(1000, 2500, X.shape[-1]))
    tensors = load_file(str(folder / "model.safetensors"))
    assert {k: list(v.shape) for k, v in tensors.items()} == meta["tensors"]
    # the fitted preprocessing travels as arrays: the column standardiser's calibration mean
    mean = tensors["m0.pre.standardise.mean_"]
    np.testing.assert_array_equal(mean, net.transformer.named_steps["standardise"].mean_)


def test_loading_never_unpickles(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    net, X, folder = saved

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_model must not unpickle")

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"),
                         (torch, "load")):
        monkeypatch.setattr(module, name, forbidden)
    loaded = load_model(folder)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_ensemble_predicts_the_weighted_mean(saved, tmp_path: Path) -> None:
    net, X, _ = saved
    other, _ = _fit("passos concat")
    save_model(tmp_path, [net, other], wavelengths=np.arange(X.shape[1]), target_names=["y"],
               weights=[0.25, 0.75])
    loaded = load_model(tmp_path)
    assert isinstance(loaded, SavedModel) and len(loaded.members) == 2
    expected = 0.25 * net.predict(X) + 0.75 * other.predict(X)
    np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-6)


def _copy(folder: Path, to: Path) -> Path:
    to.mkdir()
    for path in folder.iterdir():
        (to / path.name).write_bytes(path.read_bytes())
    return to


def _edit_json(folder: Path, edit: Callable[[dict], None]) -> None:
    meta = json.loads((folder / "model.json").read_text())
    edit(meta)
    (folder / "model.json").write_text(json.dumps(meta))


def test_json_listing_a_wrong_shape_is_refused(saved, tmp_path: Path) -> None:
    folder = _copy(saved[2], tmp_path / "m")
    _edit_json(folder, lambda meta: meta["tensors"].update({"m0.model.conv.0.conv.weight": [9]}))
    with pytest.raises(ModelFileError, match=r"disagree on 1 tensors \(first: m0\.model\.conv"):
        load_model(folder)


def test_a_replaced_tensor_of_another_shape_is_refused(saved, tmp_path: Path) -> None:
    folder = _copy(saved[2], tmp_path / "m")
    tensors = load_file(str(folder / "model.safetensors"))
    name = next(k for k in tensors if k.startswith("m0.model.") and k.endswith("weight"))
    tensors[name] = np.zeros((2, *tensors[name].shape), dtype=tensors[name].dtype)
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(ModelFileError, match=rf"disagree on 1 tensors \(first: {name}\)"):
        load_model(folder)


def test_consistent_files_that_do_not_fit_the_architecture_are_refused(saved,
                                                                        tmp_path: Path) -> None:
    # JSON and tensors agree with each other, but the weights do not fit the saved arch
    folder = _copy(saved[2], tmp_path / "m")
    tensors = load_file(str(folder / "model.safetensors"))
    name = next(k for k in tensors if k.startswith("m0.model.") and k.endswith("weight"))
    tensors[name] = np.zeros((2, *tensors[name].shape), dtype=tensors[name].dtype)
    save_file(tensors, str(folder / "model.safetensors"))
    _edit_json(folder, lambda meta: meta["tensors"].update({name: list(tensors[name].shape)}))
    param = name.removeprefix("m0.model.").replace(".", r"\.")
    with pytest.raises(ModelFileError, match=rf"cannot be rebuilt: .*size mismatch for {param}"):
        load_model(folder)


def test_preprocessing_arrays_of_the_wrong_length_are_refused(saved, tmp_path: Path) -> None:
    folder = _copy(saved[2], tmp_path / "m")
    tensors = load_file(str(folder / "model.safetensors"))
    name = "m0.pre.standardise.mean_"
    tensors[name] = np.zeros(tensors[name].size + 1)
    save_file(tensors, str(folder / "model.safetensors"))
    _edit_json(folder, lambda meta: meta["tensors"].update({name: list(tensors[name].shape)}))
    with pytest.raises(ModelFileError, match=r"standardise\.mean_ has shape \(41,\), expected"):
        load_model(folder)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "model.json").unlink(), r"no model\.json; is this a spectune model"),
        (lambda f: (f / "model.json").write_text('{"format": "spectune-model", '),
         r"model\.json: not valid JSON"),
        (lambda f: _edit_json(f, lambda meta: meta.update(format_version=99)),
         r"version 99; this spectune reads 'spectune-model' version 2"),
        (lambda f: (f / "model.safetensors").unlink(), r"model\.safetensors: cannot be read"),
        (lambda f: (f / "model.safetensors").write_bytes(b"\x00garbage"),
         r"model\.safetensors: cannot be read"),
    ],
    ids=["no json", "garbled json", "other version", "no tensors", "garbled tensors"],
)
def test_missing_or_garbled_files_are_refused(saved, tmp_path: Path, damage, message: str) -> None:
    folder = _copy(saved[2], tmp_path / "m")
    damage(folder)
    with pytest.raises(ModelFileError, match=message):
        load_model(folder)


def test_estimator_save_writes_a_folder_that_load_model_reads(tmp_path: Path) -> None:
    X, y = _regression(1)
    estimator = SpectralCNNRegressor(MLP(units=(8,)), max_epochs=2, random_state=0).fit(X, y)
    estimator.save(tmp_path / "m", wavelengths=np.linspace(1000, 2500, 40), target_names=["c0"])
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X)[:, 0], estimator.predict(X))
    assert loaded.target_names == ["c0"] and loaded.wavelengths[-1] == 2500


def test_the_applicability_domain_travels_with_the_model(saved, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    net, X, _ = saved
    domain = ApplicabilityDomain("snv").fit(X[:36])
    folder = _save(tmp_path / "m", net, X, domain=domain)
    assert {"domain.json", "domain.safetensors"} <= {p.name for p in folder.iterdir()}
    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("unpickled"))
    loaded = load_model(folder).domain
    for before, after in zip(domain.score(X), loaded.score(X), strict=True):
        np.testing.assert_allclose(after, before, rtol=1e-9)
    _save(folder, net, X)  # saved again without a domain: no stale domain stays behind
    assert load_model(folder).domain is None and not (folder / "domain.json").exists()


def test_a_damaged_domain_refuses_the_folder_in_one_line(saved, tmp_path: Path) -> None:
    net, X, _ = saved
    folder = _save(tmp_path / "m", net, X, domain=ApplicabilityDomain().fit(X[:36]))
    (folder / "domain.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"applicability domain .* cannot be read") as error:
        load_model(folder)
    assert "\n" not in str(error.value)


def test_a_domain_of_other_spectra_is_refused_before_writing(saved, tmp_path: Path) -> None:
    net, X, _ = saved
    with pytest.raises(ValueError, match=r"fitted on spectra of \(1, 30\)"):
        _save(tmp_path / "m", net, X, domain=ApplicabilityDomain().fit(X[:36, :30]))
    assert not (tmp_path / "m" / "model.json").exists()
