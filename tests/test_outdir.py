"""Output folders: staged and swapped whole, marked, and replaced only when spectune wrote them."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from spectune._outdir import MARKER, RunFolder, check_out_dir, record_added, staged_output
from spectune.exceptions import SpectuneError


def _write(folder: Path, **files: str) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def test_a_failed_block_leaves_the_old_output_and_no_stage(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with staged_output(out) as stage:
        _write(stage, **{"a.txt": "old", "sub/b.txt": "old"})
    assert json.loads((out / MARKER).read_text())["files"] == ["a.txt", "sub", "sub/b.txt"]
    with pytest.raises(RuntimeError), staged_output(out, overwrite=True) as stage:
        _write(stage, **{"a.txt": "new"})
        raise RuntimeError("the run failed")
    assert (out / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no stage left beside it
    with staged_output(out, overwrite=True) as stage:
        _write(stage, **{"c.txt": "new"})
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "c.txt"]


def test_a_folder_changed_during_the_run_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with staged_output(out) as stage:
        _write(stage, **{"a.txt": "old"})
    with pytest.raises(SpectuneError, match=r"it holds late\.txt, which spectune did not write.*"
                                            r"The new output is in "):
        with staged_output(out, overwrite=True) as stage:
            _write(stage, **{"a.txt": "new"})
            _write(out, **{"late.txt": "the user's"})  # while the run was running
    assert (out / "late.txt").read_text() == "the user's" and (out / "a.txt").read_text() == "old"
    kept = next(tmp_path.glob(".run.spectune-*/run"))
    assert (kept / "a.txt").read_text() == "new"


def test_an_empty_existing_folder_is_filled_in_place(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    with staged_output(out) as stage:
        _write(stage, **{"a.txt": "x"})
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_stage_folders_have_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with staged_output(tmp_path / "run") as stage:
            _write(stage, **{"a.txt": "x"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755  # mkdtemp would give 0o700


def test_run_folder_removed_when_refused_before_its_first_trial(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(SpectuneError), RunFolder(out):
        _write(out, **{"study.db": ""})
        raise SpectuneError("unknown parameter")
    assert not out.exists()
    with pytest.raises(KeyboardInterrupt), RunFolder(out) as folder:
        folder.started()
        _write(out, **{"study.db": "trials"})
        raise KeyboardInterrupt
    record = json.loads((out / MARKER).read_text())
    assert record["files"] == ["study.db"] and not record["open"]
    check_out_dir(out, overwrite=True)  # an interrupted run may be replaced


def test_resumed_run_keeps_the_users_files_foreign(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunFolder(out) as folder:
        folder.started()
        _write(out, **{"study.db": ""})
    _write(out, **{"notes.txt": "mine"})
    with RunFolder(out) as folder:  # --resume
        assert json.loads((out / MARKER).read_text())["foreign"] == ["notes.txt"]
        folder.started()
        _write(out, **{"metrics.json": "{}"})
    with pytest.raises(SpectuneError, match=r"it holds notes\.txt, which spectune did not write"):
        check_out_dir(out, overwrite=True)


def test_report_files_added_later_are_listed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with staged_output(out) as stage:
        _write(stage, **{"metrics.json": "{}"})
    _write(out, **{"report.html": "<html>", "figures/a.png": "png"})
    record_added(out, ["report.html", "figures"])
    check_out_dir(out, overwrite=True)


@pytest.mark.parametrize("out", [".", ".."])
def test_the_working_folder_and_its_parents_are_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _write(work, **{"data.csv": "y,1\n"})
    _write(tmp_path, **{MARKER: json.dumps({"written_by": "spectune", "files": []})})
    monkeypatch.chdir(work)
    with pytest.raises(SpectuneError, match=r"it is the working folder or holds it"):
        check_out_dir(Path(out), overwrite=True)
