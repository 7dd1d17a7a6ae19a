"""Shared fixtures: deterministic seeds and one thread, so tests are repeatable on a 2-core CPU."""

from __future__ import annotations

import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def seeds_fixed() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def no_report_by_default(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The faces end a tuning run with report.html (10-15 s); tests that check it are marked
    ``report``."""
    if request.node.get_closest_marker("report") is not None:
        return
    try:
        from spectune import _api
        from spectune.cli import _finish, _tune
    except ImportError:  # pragma: no cover
        return
    for face in (_api, _finish, _tune):
        monkeypatch.setattr(face, "write_report", lambda *args, **kwargs: "(no report in tests)")
