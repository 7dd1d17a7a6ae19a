"""make_route parsing, route_names, and the Passos & Mishra / Shen & Viscarra Rossel presets."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from spectune.preprocess import (
    Absorbance,
    BaselineCorrection,
    ConcatenateRoutes,
    Detrend,
    Identity,
    MultiplicativeScatterCorrection,
    SavitzkyGolay,
    StackRoutes,
    StandardNormalVariate,
    make_route,
    passos_concat,
    route_names,
    shen_channels,
)

SINGLE = {
    "abs": Absorbance,
    "snv": StandardNormalVariate,
    "msc": MultiplicativeScatterCorrection,
    "sg": SavitzkyGolay,
    "sg1": SavitzkyGolay,
    "sg2": SavitzkyGolay,
    "detrend": Detrend,
    "asls": BaselineCorrection,
    "arpls": BaselineCorrection,
    "airpls": BaselineCorrection,
    "modpoly": BaselineCorrection,
}


def test_route_names_lists_every_token() -> None:
    assert set(route_names()) == {*SINGLE, "raw", "refl"}


@pytest.mark.parametrize("token", sorted(SINGLE))
def test_single_token_is_a_one_step_pipeline(token) -> None:
    route = make_route(token)
    assert isinstance(route, Pipeline)
    [(name, step)] = route.steps
    assert name == token and type(step) is SINGLE[token]


@pytest.mark.parametrize(("token", "deriv"), [("sg", 0), ("sg1", 1), ("sg2", 2)])
def test_savgol_tokens_and_settings(token, deriv) -> None:
    step = make_route(token, window_length=15, polyorder=3).steps[0][1]
    assert (
        step.get_params().items() >= {"window_length": 15, "polyorder": 3, "deriv": deriv}.items()
    )
    default = make_route(token).steps[0][1]
    assert default.get_params().items() >= {"window_length": 11, "polyorder": 2}.items()


@pytest.mark.parametrize("method", ["asls", "arpls", "airpls", "modpoly"])
def test_baseline_tokens_pick_the_method(method) -> None:
    assert make_route(method).steps[0][1].method == method


@pytest.mark.parametrize("name", ["raw", "refl", " RAW ", "raw+refl"])
def test_raw_is_identity(name) -> None:
    assert isinstance(make_route(name), Identity)


def test_tokens_apply_left_to_right(calibration) -> None:
    route = make_route(" SNV + sg1 ")
    assert [name for name, _ in route.steps] == ["snv", "sg1"]
    expected = SavitzkyGolay(deriv=1).fit_transform(
        StandardNormalVariate().fit_transform(calibration)
    )
    np.testing.assert_allclose(route.fit_transform(calibration), expected)
    assert [name for name, _ in make_route("raw+abs+snv").steps] == ["abs", "snv"]


def test_repeated_tokens_get_numbered_steps() -> None:
    assert [name for name, _ in make_route("sg+sg+snv+sg").steps] == ["sg", "sg-2", "snv", "sg-3"]


@pytest.mark.parametrize(
    ("name", "bad"), [("snv+sg3", r"\['sg3'\]"), ("snv++sg1", r"\[''\]"), ("", r"\[''\]")]
)
def test_unknown_token_lists_valid_ones(name, bad) -> None:
    with pytest.raises(
        ValueError,
        match=rf"Unknown preprocessing token\(s\) {bad}.*valid tokens are raw, refl, abs, snv",
    ):
        make_route(name)


def test_passos_concat(calibration) -> None:
    union = passos_concat(window_length=7)
    assert isinstance(union, ConcatenateRoutes)
    assert [name for name, _ in union.routes] == ["raw", "snv", "sg1", "sg2", "snv+sg1", "snv+sg2"]
    out = union.fit_transform(calibration)
    assert out.shape == (30, 6 * 64)
    snv = StandardNormalVariate().fit_transform(calibration)
    start, stop = union.segments_[5][1:]
    expected = SavitzkyGolay(7, deriv=2).fit_transform(snv)
    np.testing.assert_allclose(out[:, start:stop], expected)


def test_shen_channels(calibration) -> None:
    stack = shen_channels()
    assert isinstance(stack, StackRoutes)
    assert [name for name, _ in stack.routes] == ["refl", "abs", "abs+sg1", "abs+sg2", "abs+snv"]
    out = stack.fit_transform(calibration)
    assert out.shape == (30, 5, 64)
    np.testing.assert_allclose(
        out[:, 4], StandardNormalVariate().fit_transform(-np.log10(calibration))
    )
    assert shen_channels(("abs", "abs+sg2")).fit_transform(calibration).shape == (30, 2, 64)


@pytest.mark.parametrize("names", [(), "abs"])
def test_shen_channels_needs_a_sequence_of_names(names) -> None:
    with pytest.raises(
        ValueError, match="shen_channels needs a non-empty sequence of route names"
    ):
        shen_channels(names)
