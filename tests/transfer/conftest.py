"""Transfer scenarios with known truth: a raw-spectrum PLS model on instrument A, and B.

The target band overlaps another component's, so the model reads a contrast of bands: a
wavelength shift then moves each prediction by an amount that depends on the interferent
(what slope/bias cannot fix), while a pure offset moves every prediction by the same amount.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from spectune.data import InstrumentResponse, Spectra, kennard_stone, make_instrument_pair
from spectune.training._files import SavedModel
from spectune.training._residual import fit_pls_baseline
from spectune.transfer import Standards, match_standards

N_CAL, N_TEST = 70, 30
OFFSET = InstrumentResponse(offset=0.05)
SHIFT = InstrumentResponse(shift=40.0)  # about one point of the 40-point grid (38.5 nm steps)


@dataclass
class Case:
    """A model on A, its standards, and both instruments' spectra of every sample."""

    model: SavedModel
    standards: Standards
    a: Spectra
    b: Spectra
    cal: np.ndarray
    test: np.ndarray

    def rmse_on_b(self, model: SavedModel) -> float:
        """RMSE of ``model`` on instrument B's test spectra (never seen by any choice)."""
        pred = model.predict(self.b.flat_X()[self.test]).ravel()
        return float(np.sqrt(np.mean((pred - self.b.y[self.test, 0]) ** 2)))


def make_case(response: InstrumentResponse, *, seed: int = 0, n_standards: int = 12,
              points: int = 40) -> Case:
    """A PLS model on A's calibration spectra, standards chosen by Kennard-Stone among them."""
    a, b, _ = make_instrument_pair(N_CAL + N_TEST, points, second=response, random_state=seed,
                                       scatter=0.0, baseline=0.0, signal_band=(1550.0, 1850.0))
    cal, test = np.arange(N_CAL), np.arange(N_CAL, N_CAL + N_TEST)
    pls = fit_pls_baseline(a.flat_X()[cal], a.y[cal], routes=("raw",), random_state=seed).linear
    model = SavedModel([pls], np.ones(1), a.wavelengths, list(a.target_names))
    chosen = cal[kennard_stone(a.flat_X()[cal], n_standards)]
    return Case(model, match_standards(a[chosen], b[chosen]), a, b, cal, test)


@pytest.fixture(scope="session")
def case_factory() -> Callable[..., Case]:
    return make_case


@pytest.fixture(scope="session")
def offset_case() -> Case:
    return make_case(OFFSET)


@pytest.fixture(scope="session")
def shift_case() -> Case:
    return make_case(SHIFT)
