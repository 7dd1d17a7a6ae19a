"""The run records of the accuracy benches: one JSON line a run, so an interrupted bench resumes."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def recorded(done_file: Path, *, fresh: bool = False) -> list[dict]:
    """The runs recorded so far (none with ``fresh``: the file is removed)."""
    if fresh and done_file.exists():
        done_file.unlink()
    return [json.loads(line) for line in done_file.read_text().splitlines()] \
        if done_file.exists() else []


def record(done_file: Path, results: list[dict], row: dict) -> None:
    """Append ``row`` to ``results`` and to ``done_file``, and show it on stderr."""
    results.append(row)
    with done_file.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), file=sys.stderr, flush=True)
