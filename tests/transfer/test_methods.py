"""Each transfer method against a reference: chemotools, scikit-learn, a hand computation."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from chemotools.adaptation import (
    DirectStandardization,
    PiecewiseDirectStandardization,
    SpectralSpaceTransform,
)
from sklearn.linear_model import LinearRegression

from spectune.data import Spectra
from spectune.exceptions import DataError
from spectune.models import pls_pipeline
from spectune.transfer import Context, affine_map, match_standards
from spectune.transfer._methods import (
    NoCorrection,
    PiecewiseDirectStandardisation,
    SlopeBias,
)
from spectune.transfer._recalibrate import Recalibration


@pytest.mark.parametrize("transformer", [
    DirectStandardization(),
    PiecewiseDirectStandardization(window_length=3, n_components=2),
    SpectralSpaceTransform(n_components=3),
], ids=["ds", "pds", "sst"])
def test_the_stored_affine_map_is_the_chemotools_transform(transformer) -> None:
    rng = np.random.default_rng(0)
    slave = rng.normal(size=(15, 25))
    master = 1.1 * np.roll(slave, 1, axis=1) + 0.2 + 0.01 * rng.normal(size=slave.shape)
    transformer.fit(slave, X_source=master)
    new = rng.normal(size=(6, 25))
    moved = affine_map(transformer, 25)
    np.testing.assert_allclose(moved.to_master(new), transformer.transform(new), atol=1e-10)


def test_spectral_maps_move_the_model_and_nothing_else(shift_case) -> None:
    method = PiecewiseDirectStandardisation()
    moved = method.fit(Context(shift_case.model), shift_case.standards,
                       {"window": 2, "components": 2})
    reference = PiecewiseDirectStandardization(window_length=2, n_components=2).fit(
        shift_case.standards.slave, X_source=shift_case.standards.master)
    X = shift_case.b.flat_X()[shift_case.test]
    np.testing.assert_allclose(moved.predict(X),
                               shift_case.model.predict(reference.transform(X)), rtol=1e-8)
    assert moved.members is shift_case.model.members
    assert NoCorrection().fit(Context(shift_case.model), shift_case.standards, {}) is \
        shift_case.model


def test_slope_bias_is_a_least_squares_line_on_the_predictions(offset_case) -> None:
    standards, model = offset_case.standards, offset_case.model
    pred = model.predict(standards.slave)
    line = LinearRegression().fit(pred, standards.y[:, 0])
    moved = SlopeBias().fit(Context(model), standards, {"slope": True})
    assert moved.transfer.slope[0] == pytest.approx(line.coef_[0], rel=1e-8)
    assert moved.transfer.bias[0] == pytest.approx(line.intercept_, rel=1e-8)
    bias_only = SlopeBias().fit(Context(model), standards, {"slope": False})
    assert bias_only.transfer.bias[0] == pytest.approx(np.mean(standards.y[:, 0] - pred[:, 0]))
    X = offset_case.b.flat_X()[:4]
    np.testing.assert_allclose(bias_only.predict(X),
                               model.predict(X) + bias_only.transfer.bias, rtol=1e-10)


def test_recalibration_refits_the_pls_on_calibration_plus_weighted_standards(shift_case) -> None:
    a, standards, model = shift_case.a, shift_case.standards, shift_case.model
    calibration = a[shift_case.cal]
    pls = model.members[0]
    moved = Recalibration().fit(Context(model, calibration), standards,
                                {"weight": 3, "extra_components": 1})
    X = np.vstack([calibration.flat_X().astype(np.float64), *[standards.slave] * 3])
    Y = np.vstack([calibration.y, *[standards.y] * 3])
    reference = pls_pipeline("raw", pls.settings["n_components"] + 1).fit(X, Y)
    new = shift_case.b.flat_X()[shift_case.test].astype(np.float64)
    np.testing.assert_allclose(moved.predict(new), reference.predict(new), rtol=1e-6, atol=1e-9)
    assert moved.members[0].settings["n_components"] == pls.settings["n_components"] + 1
    assert model.members[0] is pls  # the source model is left as it was
    assert Recalibration().unavailable(Context(model)) is not None


def _spectra(ids: list[str], X: np.ndarray, y: np.ndarray | None = None,
             source: str = "a.csv") -> Spectra:
    return Spectra(X, np.arange(X.shape[1], dtype=float), y, ("c0",) if y is not None else (),
                   ids=np.array(ids), source=source)


def test_standards_are_paired_by_id_not_by_row() -> None:
    X = np.arange(12, dtype=float).reshape(3, 4)
    master = _spectra(["s1", "s2", "s3"], X)
    slave = _spectra(["s3", "s1", "s2"], X[[2, 0, 1]] + 100, np.array([3.0, 1.0, 2.0]), "b.csv")
    standards = match_standards(master, slave)
    np.testing.assert_array_equal(standards.slave, X + 100)
    np.testing.assert_array_equal(standards.y[:, 0], [1.0, 2.0, 3.0])
    changed = match_standards(master, replace(slave, y=np.array([3.0, 1.0, 2.5])))
    assert changed.checksum != standards.checksum
    assert match_standards(master, slave).checksum == standards.checksum


@pytest.mark.parametrize("ids_a, ids_b, message", [
    (["s1", "s2", "s3"], ["s1", "s2", "s9"],
     ("a.csv and b.csv hold different standards: 1 ids only in the first (first: s3), 1 only "
      "in the second (first: s9)")),
    (["s1", "s1", "s3"], ["s1", "s2", "s3"], "a.csv: sample id 's1' appears 2 times"),
    (None, ["s1", "s2", "s3"], "a.csv: no sample ids; give --id-column"),
])
def test_unpaired_standards_are_refused(ids_a, ids_b, message: str) -> None:
    X = np.ones((3, 4))
    master = Spectra(X, np.arange(4.0), ids=None if ids_a is None else np.array(ids_a),
                     source="a.csv")
    with pytest.raises(DataError, match=re.escape(message)):
        match_standards(master, _spectra(ids_b, X, source="b.csv"))


def test_every_public_name_resolves() -> None:
    from spectune import transfer

    assert sorted(transfer.__all__) == sorted(set(transfer.__all__))
    for name in transfer.__all__:
        assert getattr(transfer, name) is not None
