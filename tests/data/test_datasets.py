"""Built-in datasets: what the dependencies ship, matched and exported as user tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from chemotools.datasets import load_coffee, load_fermentation_test, load_fermentation_train

from spectune.data import Spectra, dataset_names, export_dataset, load_dataset, read_table


@pytest.fixture(scope="module")
def loaded() -> dict[str, tuple[Spectra, Spectra | None]]:
    return {name: load_dataset(name) for name in dataset_names()}


def test_names() -> None:
    assert set(dataset_names()) == {"fermentation", "coffee", "spectrapepper"}
    with pytest.raises(ValueError, match=r"unknown dataset 'wine'; choose one of fermentation"):
        load_dataset("wine")


def test_fermentation_train(loaded: dict) -> None:
    train, _ = loaded["fermentation"]
    spectra, hplc = load_fermentation_train()
    np.testing.assert_array_equal(train.X[:, 0], spectra.to_numpy(dtype=np.float32))
    np.testing.assert_array_equal(train.y[:, 0], hplc["glucose"])
    assert train.n_points == 1047 and train.wavelengths[[0, -1]].tolist() == [428.0, 1833.0]


def test_fermentation_test_matches_hplc_by_time(loaded: dict) -> None:
    _, test = loaded["fermentation"]
    online, hplc = load_fermentation_test()
    assert test.n_samples == len(hplc) == 34
    np.testing.assert_array_equal(test.y[:, 0], hplc["glucose"])
    # one on-line spectrum every 1.25 min: t hours -> spectrum t * 60 / 1.25
    index = [round(t * 60 / 1.25) for t in hplc["time"]]
    assert index[-1] < len(online) == 1629  # the last HPLC time still has its spectrum
    np.testing.assert_array_equal(test.X[:, 0], online.to_numpy(dtype=np.float32)[index])
    np.testing.assert_allclose(test.ids.astype(float), hplc["time"], rtol=1e-5)
    np.testing.assert_array_equal(test.wavelengths, loaded["fermentation"][0].wavelengths)


def test_coffee_is_three_classes(loaded: dict) -> None:
    train, test = loaded["coffee"]
    spectra, labels = load_coffee()
    assert test is None and train.task == "classification" and train.n_samples == 60
    np.testing.assert_array_equal(train.y, labels["labels"])
    np.testing.assert_array_equal(train.classes, sorted(set(labels["labels"])))
    np.testing.assert_array_equal(train.X[:, 0], spectra.to_numpy(dtype=np.float32))


def test_spectrapepper(loaded: dict) -> None:
    import spectrapepper

    train, test = loaded["spectrapepper"]
    axis, spectra = spectrapepper.load_spectras()
    assert test is None and train.X.shape == (196, 1, 1024) and train.target_names == ("y",)
    np.testing.assert_array_equal(train.wavelengths, axis)
    np.testing.assert_array_equal(train.X[:, 0], np.asarray(spectra, dtype=np.float32))
    np.testing.assert_array_equal(train.y[:, 0], spectrapepper.load_targets())


@pytest.mark.parametrize("name", ["fermentation", "coffee", "spectrapepper"])
def test_export_then_read_equals_load(tmp_path: Path, loaded: dict, name: str) -> None:
    paths = export_dataset(name, tmp_path)
    for path, part in zip(paths, [p for p in loaded[name] if p is not None], strict=True):
        assert path.read_text().split(",", 2)[:2] == ["sample", part.target_names[0]]
        read = read_table(path, target=part.target_names[0], id_column="sample")
        np.testing.assert_array_equal(read.X, part.X)
        np.testing.assert_array_equal(read.y, part.y)
        np.testing.assert_array_equal(read.wavelengths, part.wavelengths)
        assert list(read.ids) == list(part.ids) and read.task == part.task
    assert len(paths) == (2 if name == "fermentation" else 1)


def test_export_refuses_to_overwrite(tmp_path: Path) -> None:
    (path,) = export_dataset("coffee", tmp_path)
    path.write_text("mine")
    with pytest.raises(FileExistsError, match=r"coffee_train\.csv already exist; pass overwrite"):
        export_dataset("coffee", tmp_path)
    assert path.read_text() == "mine"
    export_dataset("coffee", tmp_path, overwrite=True)
    assert path.read_text().startswith("sample,labels,0.0,1.0")
