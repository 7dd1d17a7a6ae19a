"""ApplicabilityDomain: T2 and Q against a hand computation, limits against SciPy, the component
rule, the in-domain flag, storage, and coverage on real data (issue 16's Done-when)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import KFold, train_test_split

from spectune.data import load_dataset, make_synthetic
from spectune.exceptions import DataError, ModelFileError
from spectune.models import (
    DEFAULT_ROUTES,
    ApplicabilityDomain,
    outside_warning,
    read_domain,
    write_domain,
)
from spectune.preprocess import PreprocessingSpec


@pytest.fixture(scope="module")
def spectra() -> np.ndarray:
    return make_synthetic(50, 80, n_components=3, random_state=0)[0].flat_X().astype(np.float64)


def _pca_by_hand(Z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, loadings ``[p, k]`` and score variances (n - 1) from numpy's SVD."""
    mean = Z.mean(axis=0)
    _, s, vt = np.linalg.svd(Z - mean, full_matrices=False)
    return mean, vt[:k].T, s[:k] ** 2 / (len(Z) - 1)


def _t2_q_by_hand(Z: np.ndarray, mean: np.ndarray, P: np.ndarray, lam: np.ndarray):
    centred = Z - mean
    scores = centred @ P
    return (scores**2 / lam).sum(axis=1), ((centred - scores @ P.T) ** 2).sum(axis=1)


def test_t2_and_q_equal_the_textbook_formulas(spectra) -> None:
    # Arrange
    cal, new = spectra[:40], spectra[40:] + np.linspace(0, 0.01, spectra.shape[1])
    domain = ApplicabilityDomain("raw").fit(cal)
    k = domain.n_components_
    # Act
    scores = domain.score(new)
    # Assert: T2 = sum t_a^2 / lambda_a, Q = ||x - x_hat||^2 with numpy's own PCA
    t2, q = _t2_q_by_hand(new, *_pca_by_hand(cal, k))
    np.testing.assert_allclose(scores.t2, t2, rtol=1e-6)
    np.testing.assert_allclose(scores.q, q, rtol=1e-6)
    np.testing.assert_array_equal(scores.in_domain,
                                  (t2 <= domain.t2_limit_) & (q <= domain.q_limit_))


def test_limits_match_scipy(spectra) -> None:
    # Arrange
    domain = ApplicabilityDomain("raw", confidence=0.95, cv=5, random_state=3).fit(spectra)
    n, k = len(spectra), domain.n_components_
    # Act: out-of-fold Q by hand, on the same folds
    q = np.empty(n)
    for train, held_out in KFold(5, shuffle=True, random_state=3).split(spectra):
        q[held_out] = _t2_q_by_hand(spectra[held_out], *_pca_by_hand(spectra[train], k))[1]
    m, v = q.mean(), q.var(ddof=1)
    # Assert: T2 ~ k (n - 1) / (n - k) F(k, n - k); Q ~ g chi2(h), g = v / 2m, h = 2 m^2 / v
    np.testing.assert_allclose(domain.cv_q_, q, rtol=1e-6)
    assert domain.t2_limit_ == pytest.approx(
        k * (n - 1) / (n - k) * stats.f.ppf(0.95, k, n - k), rel=1e-9)
    assert domain.q_limit_ == pytest.approx(
        v / (2 * m) * stats.chi2.ppf(0.95, 2 * m * m / v), rel=1e-6)


def test_components_reach_the_explained_variance_within_the_caps(spectra) -> None:
    ratio = np.linalg.svd(spectra - spectra.mean(axis=0), compute_uv=False) ** 2
    cumulative = np.cumsum(ratio / ratio.sum())
    for target in (0.5, 0.9, 0.99, 0.999):
        wanted = int(np.argmax(cumulative >= target)) + 1
        found = ApplicabilityDomain("raw", explained_variance=target).fit(spectra)
        assert found.n_components_ == min(wanted, 20)  # 20: max_components
    assert ApplicabilityDomain("raw", max_components=2, explained_variance=1.0) \
        .fit(spectra).n_components_ == 2
    # 6 spectra in 6 folds: every fold trains on 5, so at most 4 components leave a residual
    assert ApplicabilityDomain("raw", explained_variance=1.0).fit(spectra[:6]).n_components_ == 4
    assert ApplicabilityDomain("raw", explained_variance=1.0).fit(spectra[:, :3]) \
        .n_components_ == 2  # 3 points: at most 2


def test_t2_flags_extrapolation_and_q_flags_new_variation(spectra) -> None:
    domain = ApplicabilityDomain("raw").fit(spectra)
    pca = domain.pca_
    far = pca.inverse_transform(6 * pca.transform(spectra[:1]))[0]  # in the model, far out
    band = np.exp(-0.5 * ((np.arange(spectra.shape[1]) - 20) / 2.0) ** 2)
    foreign = spectra[1] + 0.2 * band  # a band no calibration spectrum has
    scores = domain.score(np.stack([far, foreign, spectra[2]]))
    assert scores.t2[0] > domain.t2_limit_ and scores.q[0] <= domain.q_limit_
    assert scores.q[1] > domain.q_limit_
    np.testing.assert_array_equal(scores.in_domain, [False, False, True])


def test_preprocessing_spec_and_channels(spectra) -> None:
    two = np.stack([spectra, np.gradient(spectra, axis=1)], axis=1)
    spec = PreprocessingSpec(("snv", "sg1"), "concat", standardise=False)
    domain = ApplicabilityDomain(spec).fit(two)
    assert domain.in_shape_ == (2, 80) and domain.pca_.n_features_in_ == 2 * 2 * 80
    assert domain.score(two).in_domain.mean() > 0.9
    with pytest.raises(DataError, match="1 channel.* x 80 points; .* fitted on 2 x 80"):
        domain.score(spectra)
    # [n, 1, points] and [n, points] are the same spectra
    one = ApplicabilityDomain("snv").fit(spectra[:, None, :])
    np.testing.assert_allclose(one.score(spectra).t2, one.score(spectra[:, None, :]).t2)


@pytest.mark.parametrize(("params", "message"), [
    ({"confidence": 1.0}, r"confidence must lie in \(0, 1\); got confidence=1.0"),
    ({"explained_variance": 0}, r"explained_variance must lie in \(0, 1\]"),
    ({"max_components": 0}, "max_components must be an integer >= 1"),
    ({"cv": 1}, "cv must be an integer >= 2"),
])
def test_bad_parameters_are_refused(spectra, params, message) -> None:
    with pytest.raises(ValueError, match=message):
        ApplicabilityDomain(**params).fit(spectra)


def test_too_few_or_identical_spectra_are_refused(spectra) -> None:
    with pytest.raises(DataError, match="at least 3 calibration spectra; got 2"):
        ApplicabilityDomain().fit(spectra[:2])
    with pytest.raises(DataError, match="do not vary"):
        ApplicabilityDomain().fit(np.tile(spectra[0], (5, 1)))


def test_summary_and_warning(spectra) -> None:
    domain = ApplicabilityDomain("raw").fit(spectra)
    shifted = spectra[:10] + 0.2 * np.exp(-0.5 * ((np.arange(spectra.shape[1]) - 60) / 2) ** 2)
    both = np.concatenate([spectra[:30], shifted])
    summary = domain.summary(both)
    scores = domain.score(both)
    assert summary["n"] == 40 and summary["n_outside"] == int((~scores.in_domain).sum())
    assert summary["n_outside"] >= 10 and summary["fraction_outside"] == summary["n_outside"] / 40
    assert summary["t2_limit"] == domain.t2_limit_ and summary["confidence"] == 0.99
    json.dumps(summary)  # goes into metrics.json as is
    line = outside_warning(summary, what="test spectra")
    assert line.startswith(f"{summary['n_outside']} of 40 test spectra") and "\n" not in line
    assert outside_warning(domain.summary(spectra[:30]), above=0.1) is None


def test_clone_keeps_the_parameters() -> None:
    domain = ApplicabilityDomain("snv", confidence=0.95, max_components=5)
    assert clone(domain).get_params() == domain.get_params()


# --- storage --------------------------------------------------------------------------------

def test_storage_round_trip_scores_the_same(spectra, tmp_path: Path) -> None:
    domain = ApplicabilityDomain(PreprocessingSpec(("snv+sg1",), standardise=True)).fit(spectra)
    write_domain(tmp_path, domain, (1, 80))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["domain.json", "domain.safetensors"]
    loaded = read_domain(tmp_path, (1, 80))
    new = spectra[::-1] * 1.1
    for a, b in zip(domain.score(new), loaded.score(new), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    assert loaded.summary(new) == domain.summary(new)
    write_domain(tmp_path, None)
    assert list(tmp_path.iterdir()) == [] and read_domain(tmp_path) is None


def _damage_json(folder: Path, **changes: object) -> None:
    meta = json.loads((folder / "domain.json").read_text())
    (folder / "domain.json").write_text(json.dumps({**meta, **changes}))


@pytest.mark.parametrize("damage", [
    lambda f: _damage_json(f, q_limit="abc"),
    lambda f: _damage_json(f, t2_limit=-1.0),
    lambda f: _damage_json(f, n_components=1000),
    lambda f: _damage_json(f, format_version=99),
    lambda f: _damage_json(f, preprocessing={"routes": ["nope"]}),
    lambda f: (f / "domain.json").write_text("{not json"),
    lambda f: (f / "domain.safetensors").unlink(),
    lambda f: (f / "domain.safetensors").write_bytes(b"garbage"),
    lambda f: save_file({k: v[..., :-1] if k == "pca.mean" else v for k, v in
                         load_file(str(f / "domain.safetensors")).items()},
                        str(f / "domain.safetensors")),
])
def test_a_damaged_domain_is_refused_in_one_line(spectra, tmp_path: Path, damage) -> None:
    write_domain(tmp_path, ApplicabilityDomain("snv").fit(spectra))
    damage(tmp_path)
    with pytest.raises(ModelFileError, match="applicability domain") as error:
        read_domain(tmp_path)
    assert "\n" not in str(error.value)


def test_a_domain_of_another_shape_is_refused(spectra, tmp_path: Path) -> None:
    domain = ApplicabilityDomain().fit(spectra)
    with pytest.raises(ValueError, match=r"fitted on spectra of \(1, 80\).*takes \(1, 81\)"):
        write_domain(tmp_path, domain, (1, 81))
    write_domain(tmp_path, domain)
    with pytest.raises(ModelFileError, match="1 x 80 but the model takes 2 x 80"):
        read_domain(tmp_path, (2, 80))


# --- real data: issue 16's Done-when --------------------------------------------------------

@pytest.fixture(scope="module")
def fermentation() -> tuple[np.ndarray, np.ndarray]:
    train, test = load_dataset("fermentation")  # full range: off-line calibration, on-line test
    return train.flat_X(), test.flat_X()


@pytest.mark.parametrize("route", DEFAULT_ROUTES)
def test_random_splits_of_the_calibration_are_almost_all_inside(fermentation, route) -> None:
    X, _ = fermentation
    outside = []
    for seed in range(5):  # 5 random 14/7 splits of the 21 off-line spectra, pooled
        cal, held_out = train_test_split(X, test_size=7, random_state=seed)
        outside.append(~ApplicabilityDomain(route).fit(cal).score(held_out).in_domain)
    assert np.mean(outside) <= 0.10


@pytest.mark.parametrize("route", ["raw", "snv", "sg1"])
def test_on_line_spectra_lie_outside_the_off_line_calibration(fermentation, route) -> None:
    X, online = fermentation
    summary = ApplicabilityDomain(route).fit(X).summary(online)
    assert summary["n"] == 34 and summary["fraction_outside"] >= 0.9

