"""Transfer standards: the same samples measured on the model's instrument and on the new one.

Every transfer method learns from pairs of spectra of one sample, so the two tables are matched
by sample id, never by row order: a lab that measured the standards in another order on the
new instrument would otherwise teach the transfer nonsense. The checksum ties a transferred
model to the exact standards it learnt from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spectune.data import Spectra
from spectune.exceptions import DataError

__all__ = ["Standards", "match_standards", "source_record"]


@dataclass(frozen=True, eq=False)
class Standards:
    """Paired spectra of the transfer standards, in one order.

    Attributes
    ----------
    master, slave : ndarray of shape (n, points)
        Raw spectra on the model's instrument (A) and on the new one (B), float64.
    y : ndarray of shape (n, n_targets) or None
        Reference values, when known.
    ids : ndarray of shape (n,)
    checksum : str
        SHA-256 of ids, spectra and references: which standards a transfer learnt from.
    """

    master: np.ndarray
    slave: np.ndarray
    y: np.ndarray | None
    ids: np.ndarray
    checksum: str

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> Standards:
        """The standards at ``index`` (a CV fold); the checksum is the full set's."""
        return Standards(self.master[index], self.slave[index],
                         None if self.y is None else self.y[index], self.ids[index],
                         self.checksum)


def match_standards(master: Spectra, slave: Spectra) -> Standards:
    """Pair ``master`` and ``slave`` by sample id; references (if any) come from ``slave``.

    Both must already lie on the model's grid (:func:`~spectune.data.align_to_grid`).

    Raises
    ------
    DataError
        Missing or repeated ids, ids that differ between the tables, several channels.
    """
    for spectra in (master, slave):
        if spectra.ids is None:
            raise DataError(f"{spectra.source}: no sample ids; give --id-column (id_column=), "
                            "the column that names each standard in both tables.")
        values, counts = np.unique(spectra.ids.astype(str), return_counts=True)
        if (counts > 1).any():
            raise DataError(f"{spectra.source}: sample id {str(values[counts > 1][0])!r} appears "
                            f"{counts[counts > 1][0]} times; each standard needs one spectrum "
                            "per instrument (average repeats first).")
        if spectra.n_channels != 1:
            raise DataError(f"{spectra.source}: {spectra.n_channels} channels; transfer works "
                            "on one-channel spectra.")
    a_ids, b_ids = master.ids.astype(str), slave.ids.astype(str)
    only_a, only_b = sorted(set(a_ids) - set(b_ids)), sorted(set(b_ids) - set(a_ids))
    if only_a or only_b:
        raise DataError(
            f"{master.source} and {slave.source} hold different standards: {len(only_a)} ids "
            f"only in the first{_first(only_a)}, {len(only_b)} only in the second"
            f"{_first(only_b)}; measure the same standards on both instruments."
        )
    order = {sample: i for i, sample in enumerate(b_ids)}
    b_rows = np.array([order[sample] for sample in a_ids], dtype=int)
    y = None if slave.y is None else np.asarray(slave.y, dtype=np.float64)[b_rows]
    A = master.flat_X().astype(np.float64)
    B = slave.flat_X()[b_rows].astype(np.float64)
    return Standards(A, B, y, a_ids, _checksum(a_ids, A, B, y))


def source_record(folder: Path) -> dict[str, Any]:
    """Where a transferred model came from: the source folder and a SHA-256 of its files."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for name in ("model.json", "model.safetensors"):
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    return {"path": str(folder), "sha256": digest.hexdigest()}


def _checksum(ids: np.ndarray, A: np.ndarray, B: np.ndarray, y: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    digest.update("\n".join(ids).encode())
    for array in (A, B) if y is None else (A, B, y):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _first(ids: list[str]) -> str:
    return f" (first: {ids[0]})" if ids else ""
