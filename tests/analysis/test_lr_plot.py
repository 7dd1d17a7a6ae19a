"""The LR range plot: its data computed from a result (or its JSON), and a thin drawing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from spectune.analysis._lr_plot import _get_lr_range_info, plot_lr_range
from spectune.training import LRRangeResult


@pytest.fixture
def result() -> LRRangeResult:
    # 8 recorded steps, the last one diverged to inf: 7 smoothed values, as lr_range_test gives
    lrs = np.geomspace(1e-6, 1e-1, 8)
    losses = np.array([1.0, 0.98, 0.9, 0.6, 0.3, 0.2, 0.5, math.inf])
    smoothed = np.array([0.99, 0.96, 0.85, 0.6, 0.35, 0.25, 0.45])
    return LRRangeResult(lrs, losses, smoothed, float(lrs[2]), float(lrs[5]) / 3, float(lrs[7]))


def test_info_marks_both_rates_and_drops_the_diverged_loss(result: LRRangeResult) -> None:
    info = _get_lr_range_info(result)
    np.testing.assert_array_equal(info.lrs, result.lrs)
    np.testing.assert_array_equal(info.losses[:-1], result.losses[:-1])
    assert math.isnan(info.losses[-1])  # inf is not drawn
    np.testing.assert_array_equal(info.smoothed_lrs, result.lrs[:7])
    np.testing.assert_array_equal(info.smoothed, result.smoothed)
    labels, positions = zip(*info.markers, strict=True)
    assert positions == (result.lr_min, result.lr_max)
    assert labels[0].startswith("LR_min") and labels[1].startswith("LR_max")
    assert f"{result.lr_max:.3g}" in labels[1]
    assert info.diverged_at == result.diverged_at
    # y axis: from the lowest finite loss to the highest one (below 4x the smoothed maximum)
    assert info.y_limits == (0.2, 1.0)


def test_y_limits_cap_a_huge_last_loss(result: LRRangeResult) -> None:
    losses = result.losses.copy()
    losses[-1] = 1e6
    info = _get_lr_range_info(LRRangeResult(result.lrs, losses, result.smoothed,
                                            result.lr_min, result.lr_max, None))
    assert info.y_limits == (0.2, 4 * 0.99)
    assert info.diverged_at is None


def test_info_from_the_saved_json_equals_info_from_the_result(result: LRRangeResult) -> None:
    saved = json.loads(json.dumps(result.as_dict()))
    assert saved["losses"][-1] is None
    from_json, direct = _get_lr_range_info(saved), _get_lr_range_info(result)
    for got, expected in zip(from_json, direct, strict=True):
        if isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(got, expected)
        else:
            assert got == expected


def test_inconsistent_lengths_are_refused(result: LRRangeResult) -> None:
    data = result.as_dict()
    data["losses"] = data["losses"][:-2]
    with pytest.raises(ValueError, match="8 lrs, 6 losses"):
        _get_lr_range_info(data)


def test_figure_has_log_axes_and_labelled_vertical_lines(result: LRRangeResult, tmp_path) -> None:
    figure = plot_lr_range(result, ylabel="validation MSE")
    (ax,) = figure.axes
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "validation MSE"
    lines = {line.get_label(): line for line in ax.lines}
    for label, lr in _get_lr_range_info(result).markers:
        x = lines[label].get_xdata()
        assert x[0] == x[1] == lr  # a vertical line at the rate
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert [t[:6] for t in legend[2:]] == ["LR_min", "LR_max"]
    assert to_rgba(lines[legend[2]].get_color()) != to_rgba(lines[legend[3]].get_color())
    figure.savefig(tmp_path / "curve.png")
    figure.savefig(tmp_path / "curve.svg")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "curve.svg").read_text()
