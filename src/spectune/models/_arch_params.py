"""Architectures as estimator parameters: presets whose settings ``set_params`` can reach.

An estimator does not know its input length before ``fit`` (a wavelength cut or a route
concatenation upstream changes it), so it holds an *architecture preset* and asks it for the
``ArchSpec`` at fit time (skorch's ``InputShapeSetter``). Presets are ``BaseEstimator``s, so
``SpectralCNNRegressor(arch=PassosCNN()).set_params(arch__kernel_size=11)`` and ``clone`` work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.base import BaseEstimator

from spectune.models._arch import ArchSpec
from spectune.models._presets import mlp, passos_cnn, shen_cnn

__all__ = ["MLP", "ArchPreset", "PassosCNN", "ShenCNN", "resolve_arch"]


class ArchPreset(BaseEstimator):
    """Base of the presets: ``spec`` sizes the architecture for the data seen in ``fit``."""

    def spec(self, in_channels: int, length: int, *, task: str, n_outputs: int) -> ArchSpec:
        raise NotImplementedError  # pragma: no cover - abstract


class PassosCNN(ArchPreset):
    """Passos & Mishra (2022): one 1-filter conv layer and a dense funnel (see ``passos_cnn``)."""

    def __init__(
        self, kernel_size: int = 5, first_ratio: float = 4.0, next_ratio: float = 2.0,
        n_dense: int = 3, dropout: float = 0.0,
    ) -> None:
        self.kernel_size = kernel_size
        self.first_ratio = first_ratio
        self.next_ratio = next_ratio
        self.n_dense = n_dense
        self.dropout = dropout

    def spec(self, in_channels: int, length: int, *, task: str, n_outputs: int) -> ArchSpec:
        return passos_cnn(length, **self.get_params(), task=task, n_outputs=n_outputs)


class ShenCNN(ArchPreset):
    """Shen & Viscarra Rossel (2021): Conv-blocks then FC-blocks (see ``shen_cnn``)."""

    def __init__(
        self, filters: tuple[int, ...] = (32, 64), kernel_size: int = 7, pool: str | None = "max",
        batch_norm: bool = True, activation: str = "relu", units: tuple[int, ...] = (128, 32),
        dropout: float = 0.2,
    ) -> None:
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool = pool
        self.batch_norm = batch_norm
        self.activation = activation
        self.units = units
        self.dropout = dropout

    def spec(self, in_channels: int, length: int, *, task: str, n_outputs: int) -> ArchSpec:
        return shen_cnn(**self.get_params(), task=task, n_outputs=n_outputs)


class MLP(ArchPreset):
    """Dense layers only: for short spectra and small tabular data (see ``mlp``)."""

    def __init__(
        self, units: tuple[int, ...] = (128, 64), activation: str = "relu", dropout: float = 0.1
    ) -> None:
        self.units = units
        self.activation = activation
        self.dropout = dropout

    def spec(self, in_channels: int, length: int, *, task: str, n_outputs: int) -> ArchSpec:
        return mlp(**self.get_params(), task=task, n_outputs=n_outputs)


_PRESETS: dict[str, type[ArchPreset]] = {"passos": PassosCNN, "shen": ShenCNN, "mlp": MLP}


def resolve_arch(
    arch: str | ArchPreset | ArchSpec | Mapping[str, Any],
    in_channels: int,
    length: int,
    *,
    task: str,
    n_outputs: int,
) -> ArchSpec:
    """The ``ArchSpec`` for ``arch``: a preset name, a preset, a spec or a spec's dict."""
    if isinstance(arch, str):
        if arch not in _PRESETS:
            raise ValueError(f"arch={arch!r} is not a preset; choose one of {sorted(_PRESETS)}, "
                             "or pass an ArchSpec.")
        arch = _PRESETS[arch]()
    if isinstance(arch, ArchPreset):
        return arch.spec(in_channels, length, task=task, n_outputs=n_outputs)
    spec = ArchSpec.from_dict(dict(arch)) if isinstance(arch, Mapping) else arch
    if not isinstance(spec, ArchSpec):
        raise ValueError(f"arch must be a preset name, an ArchPreset or an ArchSpec; got {arch!r}.")
    if spec.n_outputs != n_outputs or spec.task != task:
        raise ValueError(
            f"arch has n_outputs={spec.n_outputs}, task={spec.task!r} but the data need "
            f"n_outputs={n_outputs}, task={task!r}."
        )
    return spec
