"""Fixtures of the shared-study tests: small tables and space files, and the PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from spectune.data import make_synthetic

#: One dense layer and a learning rate on 40-point spectra: a trial trains in a fraction of
#: a second, so a study of dozens of trials fits a test.
TINY_SPACE = {"parameters": {
    "units": {"type": "int", "low": 4, "high": 12},
    "lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
    "batch_size": 16,
}}


def write_spectra_table(path: Path, *, seed: int, n_samples: int) -> Path:
    """A CSV of synthetic spectra (40 wavelength columns) and target ``y``."""
    spectra = make_synthetic(n_samples=n_samples, n_points=40, random_state=seed)[0]
    X = spectra.flat_X()
    columns = {f"{w:.2f}": X[:, j] for j, w in enumerate(spectra.wavelengths)}
    pd.DataFrame({"y": spectra.y[:, 0], **columns}).to_csv(path, index=False)
    return path


#: PLS and Ridge on the raw route with at most 4 latent variables: the linear models have
#: tests of their own, and the final stage cross-fits them several times.
QUICK_LINEAR = ["--routes", "raw", "--max-components", "4"]


@pytest.fixture(scope="module")
def quick_refit() -> Iterator[None]:
    """In-process runs: no ``gc.collect`` after each trial (it frees memory, it changes no
    result)."""
    patch = pytest.MonkeyPatch()
    patch.setattr("optuna.study._optimize.gc", SimpleNamespace(collect=int))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def study_files(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """train.csv (60 spectra), other.csv (58 other spectra) and the tiny space as YAML."""
    folder = tmp_path_factory.mktemp("shared_study")
    (folder / "space.yaml").write_text(yaml.safe_dump(TINY_SPACE))
    return SimpleNamespace(
        folder=folder, space=folder / "space.yaml",
        train=write_spectra_table(folder / "train.csv", seed=0, n_samples=60),
        other=write_spectra_table(folder / "other.csv", seed=1, n_samples=58),
    )


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL database for the workers' tests: ``eval "$(scripts/postgres.sh)"`` starts
    one on 127.0.0.1 and exports its URL."""
    url = os.environ.get("SPECTUNE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("SPECTUNE_TEST_POSTGRES_URL is not set: run eval \"$(scripts/postgres.sh)\" "
                    "to start a throwaway PostgreSQL server for these tests")
    return url
