"""The report in a real browser: headless Chromium renders every section and every image.

Chromium runs offline (no network features, a throwaway profile). The DOM check runs on a
copy of the report with a small inline script added, which records after the page's load event
whether each image decoded (``naturalWidth > 0``); the report itself has no script. The
screenshot is kept under the test's temporary folder and its path printed (``pytest -s``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from spectune.analysis._report import write_report
from spectune.data import make_synthetic
from spectune.tuning import TuneSettings
from spectune.tuning._run import tune

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1280, 4000)
OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Added to the test copy only: after load, count the images that did not decode.
CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var titles = Array.prototype.map.call(document.querySelectorAll("section > h2"),
                                        function (h) { return h.textContent; });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-broken", String(broken.length));
  document.body.setAttribute("data-sections", titles.join("|"));
});
</script>"""
SPACE = {"parameters": {
    "n_conv": 1, "filters_1": {"type": "int", "low": 2, "high": 4}, "kernel_size": 5,
    "pool": "max", "pool_size": 2, "n_fc": 1, "units_1": 6,
    "lr": {"type": "float", "low": 3.0e-3, "high": 3.0e-2, "log": True}, "batch_size": 16,
}}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium) to "
           "check the report in a browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small regression run's report (don't modify it: both tests read it)."""
    out = tmp_path_factory.mktemp("report_browser") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("optuna.study._optimize.gc", SimpleNamespace(collect=lambda: 0))
        tune(make_synthetic(n_samples=50, n_points=40, random_state=1)[0], out,
             TuneSettings(space=SPACE, n_trials=3, max_epochs=3, pruner="none",
                          sampler="random", show_progress=False, linear_routes=("raw",),
                          max_components=4, jobs=1))
    return write_report(out)


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHROMIUM), *OFFLINE, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=True)


def test_every_section_and_image_renders(report: Path, tmp_path: Path) -> None:
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    dom = _chromium(tmp_path / "profile", "--run-all-compositor-stages-before-draw",
                    "--virtual-time-budget=5000", "--dump-dom", checked.as_uri()).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    expected = re.findall(r"<section id=\"\w+\"><h2>([^<]*)</h2>", report.read_text())
    assert len(expected) == 7
    assert attrs["sections"].split("|") == expected
    n_png = len(list((report.parent / "figures").glob("*.png")))
    assert int(attrs["images"]) == n_png >= 10
    assert attrs["broken"] == "0"


def test_screenshot_shows_the_report(report: Path, tmp_path_factory: pytest.TempPathFactory
                                     ) -> None:
    folder = tmp_path_factory.mktemp("report_screenshot")
    shot = folder / "report.png"
    _chromium(folder / "profile", f"--screenshot={shot}",
              f"--window-size={WINDOW[0]},{WINDOW[1]}", report.as_uri())
    print(f"\nreport screenshot: {shot}")
    with Image.open(shot) as image:
        assert image.size == WINDOW
        pixels = np.asarray(image.convert("L"), dtype=float)
    # not blank: text and figures make dark pixels, and the figures fill the page downwards
    assert (pixels < 128).mean() > 0.005
    assert (pixels[WINDOW[1] // 2:] < 128).mean() > 0.002
    shutil.rmtree(folder / "profile", ignore_errors=True)
