"""A collection of real public JCAMP-DX files read through the command line.

The files are those the ``jcamp`` package ships in its source distribution (MIT licence): NIST
infrared spectra, the JCAMP-DX committee's official test files and R. J. Lancashire's test suite
(compressed DIF/DUP/SQZ/PAC forms, compound LINK files, peak tables, NTUPLES, mass and NMR
spectra). They are fetched at test time from the package registry (pip's cache when offline),
not committed: their own licences are not stated file by file.

Every file is either read with the number of points its header declares, or refused in one line
that names it; nothing reaches stdout from the parsing library, and no exception escapes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest

from spectune.cli import main
from spectune.data._instruments import JCAMP_SUFFIXES

NPOINTS = re.compile(r"^##NPOINTS\s*=\s*(\d+)", re.MULTILINE)


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("jcamp_sdist")
    wanted = f"jcamp=={version('jcamp')}"
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-q",
         "-d", str(folder), wanted], capture_output=True, text=True, timeout=300)
    archives = sorted(folder.glob("jcamp-*.tar.gz"))
    if fetched.returncode != 0 or not archives:
        pytest.skip(f"cannot fetch the {wanted} source distribution: {fetched.stderr[-300:]}")
    with tarfile.open(archives[0]) as archive:
        members = [m for m in archive.getmembers()
                   if m.isfile() and "/data/" in m.name
                   and Path(m.name).suffix.lower() in JCAMP_SUFFIXES]
        archive.extractall(folder, members=members, filter="data")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in JCAMP_SUFFIXES)
    assert len(files) > 100  # the collection is there, compound files and all
    return files


def test_every_file_is_read_whole_or_refused_in_one_line_naming_it(
    collection: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    read, refused = {}, {}
    for path in collection:
        code = main(["check", str(path)])
        out, err = capsys.readouterr()
        if code == 0:
            assert err == "" and out.count("\n") == 1, (path, out, err)
            points = int(re.search(r"1 spectrum of (\d+) points", out)[1])
            declared = NPOINTS.search(path.read_text(errors="replace"))
            assert declared is not None and points == int(declared[1]), (path, out)
            read[path.name] = points
        else:
            assert code == 2 and out == "", (path, out)  # nothing from the library on stdout
            assert err.count("\n") == 1 and err.startswith(f"spectune check: error: {path}: "), err
            refused[path.name] = err
    assert len(read) > len(collection) / 2  # most of the collection holds plain XY spectra
    # each kind of block that is not one sampled spectrum is refused with its own reason
    assert "compound JCAMP-DX file (##DATA TYPE=LINK) of 5 blocks" in refused["compound.jdx"]
    assert "holds a peak table (##PEAK TABLE)" in refused["pktab1.jdx"]
    assert "holds an NTUPLES block" in refused["BRUKNTUP.DX"]
    # compressed data that fail the format's own checks are refused, not read wrongly
    assert "declares 3734 points but its data decode to 3734 x and 3731 y" in refused[
        "dupinc2.jdx"]


def test_the_library_prints_go_to_the_log(collection: list[Path],
                                          caplog: pytest.LogCaptureFixture,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    damaged = next(p for p in collection if p.name == "dupinc2.jdx")
    with caplog.at_level("INFO", logger="spectune"):
        assert main(["check", str(damaged)]) == 2
    assert capsys.readouterr().out == ""
    assert f"{damaged}: X-Check failed" in caplog.text


def test_a_folder_of_same_grid_files_with_targets_keyed_by_file_name(
    collection: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real spectra through the training path: NIST spectra on one grid (574.928 to 3975.077
    cm-1 in 14106 points), targets by file name."""
    same = [p for p in collection if p.parent.name == "infrared_spectra"
            and "##NPOINTS=14106" in p.read_text(errors="replace")]
    assert len(same) >= 8
    folder = tmp_path / "spectra"
    folder.mkdir()
    for path in same:
        (folder / path.name).write_bytes(path.read_bytes())
    # keyed by the name with its extension; names such as "1,3-butadiene.jdx" are quoted
    targets = pd.DataFrame({"file": [p.name for p in same], "y": range(len(same))})
    targets.to_csv(tmp_path / "targets.csv", index=False)
    code = main(["check", str(folder), "--targets", str(tmp_path / "targets.csv"),
                 "--target", "y"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{len(same)} spectra of 14106 points, 574.928 to 3975.08" in out
    assert "targets y (regression)" in out
