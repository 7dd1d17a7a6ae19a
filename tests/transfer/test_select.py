"""The CV over the standards chooses the method the simulated instrument difference calls for."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spectune.data import InstrumentResponse, kennard_stone, make_instrument_pair
from spectune.exceptions import DataError
from spectune.models import ApplicabilityDomain
from spectune.training._files import SavedModel
from spectune.training._residual import fit_pls_baseline
from spectune.training._transfer_map import TransferMap
from spectune.transfer import METHODS, Standards, match_standards, transfer_model

SPECTRAL_MAPS = {"ds", "pds", "sst"}


@pytest.mark.parametrize("seed", [0, 1])
def test_pure_offset_slope_bias_wins(case_factory, seed: int) -> None:
    case = case_factory(InstrumentResponse(offset=0.05), seed=seed)
    result = transfer_model(case.model, case.standards, random_state=seed)
    assert result.method == "slope-bias"
    assert result.setting == {"slope": False}  # a constant offset needs a bias, not a slope
    simplest = transfer_model(case.model, case.standards, random_state=seed, one_se=True)
    assert simplest.method == "slope-bias"
    assert case.rmse_on_b(result.model) < 0.1 * case.rmse_on_b(case.model)


@pytest.mark.parametrize("seed", [0, 1])
def test_wavelength_shift_ds_or_pds_wins(case_factory, seed: int) -> None:
    case = case_factory(InstrumentResponse(shift=40.0), seed=seed)
    issue = transfer_model(case.model, case.standards, random_state=seed,
                           methods=["slope-bias", "ds", "pds"])
    assert issue.method in {"ds", "pds"}
    every = transfer_model(case.model, case.standards, random_state=seed)
    assert every.method in SPECTRAL_MAPS
    rows = {r["method"]: r for r in every.best_per_method()}
    assert rows["slope-bias"]["cv_rmse"] > 5 * rows[every.method]["cv_rmse"]
    assert case.rmse_on_b(every.model) < 0.1 * case.rmse_on_b(case.model)


def test_every_method_is_reported_beside_the_choice(shift_case) -> None:
    result = transfer_model(shift_case.model, shift_case.standards)
    rows = {r["method"]: r for r in result.best_per_method()}
    assert list(rows) == list(METHODS)
    assert rows["recalibration"]["status"] == "skipped"
    assert "--calibration" in rows["recalibration"]["reason"]
    assert "no network" in rows["fine-tuning"]["reason"]
    scored = [r for r in result.rows if r["status"] == "ok"]
    assert {r["method"] for r in scored} == {"none", "slope-bias", "ds", "pds", "sst"}
    for name in ("pds", "sst"):  # each method's best is the lowest of its settings
        assert rows[name]["cv_nrmse"] == min(r["cv_nrmse"] for r in scored if r["method"] == name)
    lowest = min(scored, key=lambda r: r["cv_nrmse"])
    assert (result.method, result.setting) == (lowest["method"], lowest["setting"])
    assert result.as_dict()["methods"] == result.best_per_method()
    # one-SE: the first method (simplest) within one SE of the lowest, with its best setting
    simplest = transfer_model(shift_case.model, shift_case.standards, one_se=True)
    limit = lowest["cv_nrmse"] + lowest["cv_nrmse_se"]
    within = [name for name in METHODS if name in rows and rows[name].get("cv_nrmse", 9) <= limit]
    assert simplest.method == within[0]
    assert simplest.setting == rows[within[0]]["setting"]


def test_held_out_standards_never_teach_their_own_prediction(offset_case) -> None:
    """Leave-one-out: a standard's reference or master spectrum changes only others' CV."""
    standards, n = offset_case.standards, len(offset_case.standards)
    base = transfer_model(offset_case.model, standards, cv=n, methods=["slope-bias"])
    y = standards.y.copy()
    y[3] += 1.0
    changed = transfer_model(offset_case.model, replace(standards, y=y), cv=n,
                             methods=["slope-bias"])
    before = np.asarray(base.held_out["predictions"]["slope-bias"])
    after = np.asarray(changed.held_out["predictions"]["slope-bias"])
    assert after[3] == pytest.approx(before[3], abs=1e-12)
    assert np.abs(np.delete(after - before, 3)).min() > 0.01

    master = standards.master.copy()
    master[5] += 0.5
    ds = [transfer_model(offset_case.model, s, cv=n, methods=["ds"])
          for s in (standards, replace(standards, master=master))]
    before, after = (np.asarray(r.held_out["predictions"]["ds"]) for r in ds)
    assert after[5] == pytest.approx(before[5], abs=1e-9)
    assert np.abs(np.delete(after - before, 5)).max() > 1e-3


def test_without_references_the_model_on_its_instrument_is_the_reference(shift_case) -> None:
    standards = replace(shift_case.standards, y=None)
    result = transfer_model(shift_case.model, standards)
    rows = {r["method"]: r for r in result.best_per_method()}
    for name in ("slope-bias", "recalibration", "fine-tuning"):
        assert rows[name]["status"] == "skipped"
    assert "reference values" in rows["slope-bias"]["reason"]
    assert result.method in SPECTRAL_MAPS
    expected = shift_case.model.predict(standards.master)
    np.testing.assert_allclose(result.held_out["reference"], expected)
    assert result.cv["reference"].startswith("the model's predictions")


def test_the_moved_model_records_where_it_came_from(shift_case) -> None:
    source = {"path": "model", "sha256": "abc"}
    result = transfer_model(shift_case.model, shift_case.standards, source=source)
    record = result.model.transfer.record
    assert record["method"] == result.method and record["setting"] == result.setting
    assert record["standards"] == {"n": 12, "sha256": shift_case.standards.checksum,
                                   "references": True}
    assert record["source_model"] == source
    assert result.model.conformal is None


def test_same_seed_same_choice_and_errors(shift_case) -> None:
    runs = [transfer_model(shift_case.model, shift_case.standards, random_state=3)
            for _ in range(2)]
    assert runs[0].rows == runs[1].rows
    X = shift_case.b.flat_X()[:5]
    np.testing.assert_array_equal(runs[0].model.predict(X), runs[1].model.predict(X))


def test_too_few_standards_for_a_named_method_is_refused(shift_case) -> None:
    three = shift_case.standards.subset(np.arange(3))
    with pytest.raises(DataError, match="'pds' needs at least 4 standards; there are 3"):
        transfer_model(shift_case.model, three, methods=["pds"])
    by_default = transfer_model(shift_case.model, three)  # skipped, with the reason shown
    assert {r["method"]: r["status"] for r in by_default.rows}["pds"] == "skipped"
    with pytest.raises(DataError, match="2 transfer standards; cross-validation needs at least 3"):
        transfer_model(shift_case.model, shift_case.standards.subset(np.arange(2)))
    with pytest.raises(DataError, match="'recalibration' needs the model's calibration data"):
        transfer_model(shift_case.model, shift_case.standards, methods=["recalibration"])


def test_models_that_cannot_be_transferred_are_refused(shift_case) -> None:
    moved = replace(shift_case.model, transfer=TransferMap({"method": "ds"}))
    with pytest.raises(DataError, match="model: already moved to another instrument"):
        transfer_model(moved, shift_case.standards)
    standards: Standards = shift_case.standards
    two_targets = replace(standards, y=np.column_stack([standards.y, standards.y]))
    with pytest.raises(DataError, match="2 reference columns; the model predicts 1"):
        transfer_model(shift_case.model, two_targets)


def test_several_targets_are_scored_each_and_chosen_together() -> None:
    a, b, _ = make_instrument_pair(60, 30, second=InstrumentResponse(offset=0.05),
                                   n_targets=2, random_state=0, scatter=0.0, baseline=0.0)
    pls = fit_pls_baseline(a.flat_X()[:50], a.y[:50], routes=("raw",)).linear
    model = SavedModel([pls], np.ones(1), a.wavelengths, list(a.target_names))
    chosen = kennard_stone(a.flat_X()[:50], 8)
    result = transfer_model(model, match_standards(a[chosen], b[chosen]),
                            methods=["slope-bias", "ds"])
    for row in (r for r in result.rows if r["status"] == "ok"):
        assert len(row["cv_rmse"]) == 2
        sd = np.asarray(result.held_out["reference"]).std(axis=0)
        assert row["cv_nrmse"] == pytest.approx(np.mean(np.asarray(row["cv_rmse"]) / sd))
    assert result.model.predict(b.flat_X()[50:]).shape == (10, 2)
    if result.method == "slope-bias":
        assert result.model.transfer.bias.shape == (2,)


def test_the_domain_judges_the_spectra_the_members_see(shift_case) -> None:
    a, b, cal, test = shift_case.a, shift_case.b, shift_case.cal, shift_case.test
    domain = ApplicabilityDomain("raw").fit(a.flat_X()[cal])
    model = replace(shift_case.model, domain=domain)
    moved = transfer_model(model, shift_case.standards, methods=["ds"]).model
    assert moved.transfer.matrix is not None and moved.domain is domain
    new = b.flat_X()[test]
    assert domain.score(a.flat_X()[test]).in_domain.mean() > 0.9  # instrument A: inside
    assert domain.score(new).in_domain.mean() < 0.2  # B as measured: outside
    assert domain.score(moved.to_master(new)).in_domain.mean() > 0.8  # B moved onto A


def test_recalibration_refits_the_domain_on_what_it_calibrates_on(shift_case) -> None:
    a, cal = shift_case.a, shift_case.cal
    domain = ApplicabilityDomain("raw").fit(a.flat_X()[cal])
    model = replace(shift_case.model, domain=domain)
    moved = transfer_model(model, shift_case.standards, methods=["recalibration"],
                           calibration=a[cal]).model
    assert moved.transfer.matrix is None
    assert moved.domain is not domain and domain.n_samples_ == len(cal)
    assert moved.domain.n_samples_ == len(cal) + len(shift_case.standards)
    assert moved.domain.get_params() == domain.get_params()
