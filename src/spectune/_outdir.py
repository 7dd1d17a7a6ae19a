"""Output folders: marked as spectune's, written whole, replaced only when spectune wrote them.

Every folder a command creates holds ``MARKER``, a small JSON file listing what spectune wrote
there. ``--overwrite`` replaces a folder only when that marker is present and the folder holds
nothing else, and never the working folder, a folder above it, or one that holds an input. The
new output is written beside the old one and swapped in only once complete, so a failed or
refused run leaves the old output (and the user's files) as they were.

A tuning run grows its folder in place (the study is there, and ``--resume`` continues it): the
marker then says the folder is open, so that everything in it, except what was there before
spectune opened it, counts as the run's until the run closes it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from spectune import __version__
from spectune.exceptions import SpectuneError

MARKER = ".spectune-output.json"


def check_out_dir(out: Path, *, overwrite: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse, before any work, an ``--out`` this command must not write or replace."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpectuneError(f"--out {out}: exists and is not a folder; choose another path.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise SpectuneError(
            f"--out {out}: folder exists and is not empty; choose another path or pass "
            "--overwrite (it replaces only a folder spectune wrote)."
        )
    reason = _why_not_replace(out, inputs)
    if reason:
        raise SpectuneError(f"--out {out}: --overwrite refused: {reason}.")


@contextmanager
def staged_output(out: Path, *, overwrite: bool = False, inputs: Iterable[Path] = ()
                  ) -> Iterator[Path]:
    """Yield a new folder beside ``out``; it replaces ``out`` only when the block succeeds.

    On any error the new folder is removed and ``out`` is left as it was. The folder is checked
    again just before the swap: if it changed meanwhile so that it may not be replaced, the new
    output is kept beside it and the error says where.
    """
    out, inputs = Path(out), list(inputs)
    check_out_dir(out, overwrite=overwrite, inputs=inputs)
    root = _stage_root(out)
    stage = root / _name(out)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    _write_marker(stage, files=_entries(stage))
    try:
        check_out_dir(out, overwrite=overwrite, inputs=inputs)
    except SpectuneError as error:
        raise SpectuneError(f"{error} The new output is in {stage}.") from None
    _swap(stage, out)
    shutil.rmtree(root, ignore_errors=True)


class RunFolder:
    """A tuning run's folder, grown in place (``with RunFolder(out): ...``).

    Entering creates the folder (or, to resume, reopens it) and marks it open; leaving closes
    the marker with the list of what the folder holds, however the block ends. A folder created
    here (or found empty) whose run fails before :meth:`started` (bad settings found while
    preparing the study) is removed (emptied) again, so that a refused run leaves nothing.
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.created = not self.out.exists()
        self.empty = self.created or (self.out.is_dir() and not any(self.out.iterdir()))
        self.foreign: list[str] = []
        self.running = False

    def __enter__(self) -> RunFolder:
        if not self.created and (self.out / MARKER).is_file():
            self.foreign = _foreign(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        _write_marker(self.out, foreign=self.foreign)
        return self

    def started(self) -> None:
        """From now on the folder holds a study worth keeping (``--resume`` continues it)."""
        self.running = True

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None and self.empty and not self.running:
            if self.created:
                shutil.rmtree(self.out, ignore_errors=True)
            else:  # an empty folder the user made: empty it again
                for entry in self.out.iterdir():
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        elif self.out.is_dir():
            _write_marker(self.out, files=_entries(self.out) - set(self.foreign))


def record_added(folder: Path, added: Iterable[str]) -> None:
    """Add ``added`` (paths relative to ``folder``) to a closed marker: files a later command
    (``spectune report``) wrote into a folder spectune made."""
    record = _read_marker(folder)
    if record is None or record.get("open"):
        return
    new = {name for path in added for name in _with_contents(folder, Path(path))}
    _write_marker(folder, files=set(record.get("files", [])) | new)


def _why_not_replace(out: Path, inputs: Iterable[Path]) -> str | None:
    """Why ``--overwrite`` may not replace folder ``out``; None when it may."""
    resolved, cwd = out.resolve(), Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        return "it is the working folder or holds it; choose a new folder for --out"
    for path in inputs:
        target = Path(path).resolve()
        if resolved == target or resolved in target.parents:
            return f"it holds the input {path}; choose a new folder for --out"
    if _read_marker(out) is None:
        return (f"spectune did not write it (no {MARKER} in it); delete it yourself or choose "
                "a new folder for --out")
    foreign = _foreign(out)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        return (f"it holds {foreign[0]}{more}, which spectune did not write; move them out or "
                "choose a new folder for --out")
    return None


def _foreign(folder: Path) -> list[str]:
    """Entries of a marked folder that spectune did not write, sorted."""
    record = _read_marker(folder) or {}
    entries = _entries(folder)
    if record.get("open"):
        return sorted(entries & set(record.get("foreign", [])))
    return sorted(entries - set(record.get("files", [])))


def _entries(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (relative, '/'-separated), the marker left out."""
    found: set[str] = set()
    for parent, dirs, files in os.walk(folder):
        base = Path(parent).relative_to(folder)
        found.update((base / name).as_posix() for name in (*dirs, *files))
    found.discard(MARKER)
    return found


def _with_contents(folder: Path, path: Path) -> set[str]:
    full = folder / path
    inside = {(path / name).as_posix() for name in _entries(full)} if full.is_dir() else set()
    return {path.as_posix(), *inside}


def _read_marker(folder: Path) -> dict | None:
    try:
        record = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("written_by") == "spectune" else None


def _write_marker(folder: Path, *, files: Iterable[str] = (), foreign: Iterable[str] | None = None
                  ) -> None:
    """A closed marker listing ``files``, or (``foreign`` given) an open one."""
    record: dict = {"written_by": "spectune", "version": __version__}
    if foreign is None:
        record.update(open=False, files=sorted(files))
    else:
        record.update(open=True, foreign=sorted(foreign))
    (Path(folder) / MARKER).write_text(json.dumps(record, indent=1) + "\n")


def _name(out: Path) -> str:
    return out.resolve().name or "out"


def _stage_root(out: Path) -> Path:
    """A new hidden folder beside ``out`` (same file system, so the swap is a rename), made
    with the usual permissions (``tempfile.mkdtemp`` would make it private)."""
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    root = parent / f".{_name(out)}.spectune-{os.getpid()}-{secrets.token_hex(3)}"
    root.mkdir()
    return root


def _swap(stage: Path, out: Path) -> None:
    """Put ``stage`` where ``out`` is: a rename, or, for an existing empty folder (perhaps the
    working folder), a move of each entry into it."""
    if not out.exists():
        stage.rename(out)
    elif not any(out.iterdir()):
        for entry in stage.iterdir():
            entry.rename(out / entry.name)
    else:
        retired = stage.parent / ".old"
        out.rename(retired)
        try:
            stage.rename(out)
        except OSError:
            retired.rename(out)
            raise
