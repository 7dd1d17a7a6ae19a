"""What happened in each epoch of a run, kept as plain numbers so it can be saved as JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

KEYS: tuple[str, ...] = ("train_loss", "val_loss", "lr", "val_metric", "time")


@dataclass
class History:
    """Per-epoch record of a run (skorch's ``net.history``, without the indexing language).

    ``train_loss`` is the mean training objective over the epoch's batches (data term on
    standardised targets plus the L2 penalty, what the optimizer minimised); ``val_loss`` is the
    data term alone on the validation set after the epoch; ``val_metric`` is the RMSE in original
    units (mean over targets) for regression and the accuracy for classification; ``lr`` the rate
    the epoch was trained with; ``time`` the epoch's wall time in seconds. Without validation
    data, ``val_loss`` and ``val_metric`` are None.

    Parameters
    ----------
    metric_name : str
        "rmse" or "accuracy", the meaning of ``val_metric``.

    Examples
    --------
    >>> h = History("rmse")
    >>> _ = h.append(0, train_loss=1.0, val_loss=0.9, lr=1e-3, val_metric=2.1, time=0.01)
    >>> h.val_loss
    [0.9]
    """

    metric_name: str
    records: list[dict[str, Any]] = field(default_factory=list)

    def append(self, epoch: int, **logs: float | None) -> dict[str, Any]:
        """Record one epoch and return its logs, which callbacks receive."""
        record = {"epoch": epoch, **{key: logs.get(key) for key in KEYS}}
        self.records.append(record)
        return dict(record)

    def column(self, key: str) -> list[Any]:
        """One quantity over all epochs."""
        return [record[key] for record in self.records]

    @property
    def epochs(self) -> list[int]:
        return self.column("epoch")

    @property
    def train_loss(self) -> list[float]:
        return self.column("train_loss")

    @property
    def val_loss(self) -> list[float | None]:
        return self.column("val_loss")

    @property
    def lr(self) -> list[float]:
        return self.column("lr")

    @property
    def val_metric(self) -> list[float | None]:
        return self.column("val_metric")

    def __len__(self) -> int:
        return len(self.records)

    def as_dict(self) -> dict[str, Any]:
        """Columns as lists of Python numbers (NaN/inf as None), ready for ``json.dumps``."""
        columns = {key: [_json_number(v) for v in self.column(key)] for key in ("epoch", *KEYS)}
        return {"metric_name": self.metric_name, **columns}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild a History from :meth:`as_dict` output (non-finite values stay None)."""
        keys = ("epoch", *KEYS)
        rows = zip(*(data[key] for key in keys), strict=True)
        return cls(data["metric_name"], [dict(zip(keys, row, strict=True)) for row in rows])


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

