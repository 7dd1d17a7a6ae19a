"""T2-vs-Q figure data against the domain's own scores; the drawer writes PNG and SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from spectune.analysis import get_domain_info, plot_domain
from spectune.data import make_synthetic
from spectune.models import ApplicabilityDomain


@pytest.fixture(scope="module")
def sets() -> tuple[ApplicabilityDomain, dict[str, np.ndarray]]:
    X = make_synthetic(70, 60, random_state=0)[0].flat_X()
    band = 0.2 * np.exp(-0.5 * ((np.arange(60) - 15) / 2.0) ** 2)
    parts = {"calibration": X[:40], "tuning": X[40:55], "test": X[55:] + band}
    return ApplicabilityDomain("snv").fit(parts["calibration"]), parts


def test_info_holds_the_domain_scores_and_limits(sets) -> None:
    domain, parts = sets
    info = get_domain_info(domain, parts)
    assert list(info.t2) == ["calibration", "tuning", "test"]
    for name, X in parts.items():
        scores = domain.score(X)
        np.testing.assert_array_equal(info.t2[name], scores.t2)
        np.testing.assert_array_equal(info.q[name], scores.q)
        np.testing.assert_array_equal(info.in_domain[name], scores.in_domain)
    assert (info.t2_limit, info.q_limit) == (domain.t2_limit_, domain.q_limit_)
    assert info.n_components == domain.n_components_ and info.preprocessing == "snv"
    assert info.log_axes and not info.in_domain["test"].any()
    with pytest.raises(ValueError, match="sets is empty"):
        get_domain_info(domain, {})


def test_linear_axes_when_a_value_is_zero(sets) -> None:
    raw = ApplicabilityDomain("raw").fit(sets[1]["calibration"])
    mean = raw.pca_.mean_[None, :]  # the calibration mean: T2 = 0 and Q = 0
    info = get_domain_info(raw, {"mean": mean})
    assert info.t2["mean"][0] == pytest.approx(0, abs=1e-12) and not info.log_axes


def test_drawer_writes_png_and_svg(sets, tmp_path: Path) -> None:
    domain, parts = sets
    png, svg = plot_domain(get_domain_info(domain, parts), tmp_path / "domain.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ET.parse(svg).getroot().tag.endswith("svg")
