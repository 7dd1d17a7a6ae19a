"""The Auto* estimators: a whole study inside fit, its progress shown when ``verbose``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from spectune.data import make_synthetic
from spectune.estimators import AutoSpectralRegressor


@pytest.mark.parametrize("verbose", [False, True])
def test_auto_regressor_shows_its_trials_only_when_verbose(
    verbose: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"parameters": {
        "units": {"type": "int", "low": 4, "high": 8}, "lr": 0.01, "batch_size": 16}}))
    spectra = make_synthetic(n_samples=50, n_points=30, random_state=0)[0]
    model = AutoSpectralRegressor(str(space), n_trials=2, max_epochs=3, pruner="none",
                                  sampler="random", verbose=verbose, out=str(tmp_path / "run"))
    assert model.get_params()["verbose"] is verbose
    model.fit(spectra.flat_X(), spectra.y[:, 0])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trial ")]
    assert len(lines) == (2 if verbose else 0)  # one line per finished trial (not a terminal)
    assert np.shape(model.predict(spectra.flat_X())) == (50,)
