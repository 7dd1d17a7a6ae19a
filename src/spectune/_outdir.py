"""Output folders that appear whole or not at all, and never replace the user's files unasked."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from spectune.exceptions import SpectuneError


def check_out_dir(out: Path, *, overwrite: bool) -> None:
    """Refuse a non-empty ``out`` unless ``overwrite``; called before any work starts."""
    if out.exists() and not out.is_dir():
        raise SpectuneError(f"--out {out}: exists and is not a folder; choose another path.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise SpectuneError(
            f"--out {out}: folder exists and is not empty; choose another path or pass --overwrite."
        )


@contextmanager
def staged_output(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; move it to ``out`` only if the block succeeds.

    On any error the temporary folder is removed, so a failed command leaves no partial output.
    """
    out = Path(out)
    check_out_dir(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
