"""Architecture specs: plain dataclasses describing a 1D-CNN or MLP, checked without torch.

Shen & Viscarra Rossel (2021) write a 1D-CNN as ``n`` Conv-blocks (conv, batch-norm,
activation, pooling, dropout), a Flatten, ``m`` FC-blocks (dense, batch-norm, activation,
dropout) and an output block. :class:`ArchSpec` is that parametric form; ``n = 0`` gives an
MLP. :func:`validate_arch` computes every layer's shape and the parameter count analytically,
so that a random draw that cannot be built fails one trial with
:class:`~spectune.exceptions.InvalidArchitectureError` instead of halting a study inside torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from typing import Any, Literal, NoReturn

from spectune.data import Task
from spectune.exceptions import InvalidArchitectureError

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_MAX_PARAMS",
    "ArchSpec",
    "ArchSummary",
    "ConvBlock",
    "DenseBlock",
    "LayerInfo",
    "validate_arch",
]

#: Activation names accepted in blocks; "swish" is another name for "silu".
ACTIVATIONS: tuple[str, ...] = (
    "relu", "leaky_relu", "elu", "selu", "silu", "swish", "tanh", "sigmoid",
)
_ALIASES = {"swish": "silu"}
_POOLS = ("max", "avg")
_TASKS = ("regression", "classification")
_INITS = ("he_normal", "default")

#: Default parameter budget: larger draws are rejected before any tensor is allocated.
DEFAULT_MAX_PARAMS = 20_000_000


def _plain_numbers(obj: Any) -> None:
    """Store numpy numbers (from samplers) as Python ints/floats, so ``to_dict`` is JSON-able."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, bool) or not isinstance(value, Real):
            continue
        as_int = isinstance(value, Integral) and f.name != "dropout"
        plain = int(value) if as_int else float(value)
        object.__setattr__(obj, f.name, plain)


@dataclass(frozen=True)
class ConvBlock:
    """One Conv-block: Conv1d -> [BatchNorm] -> activation -> [pooling] -> [dropout].

    Parameters
    ----------
    filters, kernel_size, stride : int
        Output channels, kernel width and stride of the convolution.
    padding : int or "same"
        Zeros added at each end, or ``"same"`` (Keras): output length ``ceil(L / stride)``.
    batch_norm : bool
        Batch normalisation after the convolution (the conv then has no bias: BN removes it).
    activation : str
        One of :data:`ACTIVATIONS`.
    pool : {"max", "avg"} or None
        Pooling after the activation; None switches it off.
    pool_size : int
        Pooling window.
    pool_stride : int or None
        Pooling stride; None means ``pool_size`` (non-overlapping windows, as in Keras and torch).
    dropout : float
        Dropout rate in [0, 1); 0 switches it off.
    """

    filters: int
    kernel_size: int
    stride: int = 1
    padding: int | Literal["same"] = 0
    batch_norm: bool = False
    activation: str = "relu"
    pool: Literal["max", "avg"] | None = None
    pool_size: int = 2
    pool_stride: int | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _plain_numbers(self)


@dataclass(frozen=True)
class DenseBlock:
    """One FC-block: Linear -> [BatchNorm] -> activation -> [dropout].

    Parameters
    ----------
    units : int
        Output features of the dense layer.
    batch_norm : bool
        Batch normalisation after the dense layer (which then has no bias).
    activation : str
        One of :data:`ACTIVATIONS`.
    dropout : float
        Dropout rate in [0, 1); 0 switches it off.
    """

    units: int
    batch_norm: bool = False
    activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _plain_numbers(self)


@dataclass(frozen=True, kw_only=True)
class ArchSpec:
    """A whole network: conv blocks, Flatten, dense blocks and a linear output layer.

    Parameters
    ----------
    conv : tuple of ConvBlock
        ``n >= 0`` Conv-blocks; none gives an MLP.
    fc : tuple of DenseBlock
        ``m >= 1`` FC-blocks.
    n_outputs : int
        Targets (regression, linear output) or classes (classification, one logit per class).
    task : {"regression", "classification"}
    init : {"he_normal", "default"}
        He-normal weights (Passos & Mishra 2022) or torch's default initialisation.

    Examples
    --------
    >>> spec = ArchSpec(conv=(ConvBlock(8, 7, pool="max"),), fc=(DenseBlock(16),))
    >>> ArchSpec.from_dict(spec.to_dict()) == spec
    True
    """

    conv: tuple[ConvBlock, ...] = ()
    fc: tuple[DenseBlock, ...]
    n_outputs: int = 1
    task: Task = "regression"
    init: Literal["he_normal", "default"] = "he_normal"

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv", tuple(self.conv))
        object.__setattr__(self, "fc", tuple(self.fc))
        _plain_numbers(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists and plain values), the form model files store."""
        out = asdict(self)
        out["conv"] = [asdict(b) for b in self.conv]
        out["fc"] = [asdict(b) for b in self.fc]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise ``InvalidArchitectureError``."""
        _check_keys(data, cls, "ArchSpec")
        kwargs = dict(data)
        kwargs["conv"] = tuple(
            ConvBlock(**_check_keys(b, ConvBlock, f"conv block {i}"))
            for i, b in enumerate(data.get("conv", ()), start=1)
        )
        kwargs["fc"] = tuple(
            DenseBlock(**_check_keys(b, DenseBlock, f"dense block {i}"))
            for i, b in enumerate(data.get("fc", ()), start=1)
        )
        return cls(**kwargs)


def _check_keys(data: Mapping[str, Any], kind: type, where: str) -> Mapping[str, Any]:
    valid = [f.name for f in fields(kind)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise InvalidArchitectureError(
            f"{where}: unknown key(s) {unknown}; valid keys are {valid}."
        )
    return data


@dataclass(frozen=True)
class LayerInfo:
    """Shape and size of one layer, as :func:`validate_arch` computes them.

    ``module`` is the dotted name of the matching submodule in the built network
    (``dict(model.named_modules())[module]``), for hooks and reports.
    """

    name: str
    module: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    n_params: int


@dataclass(frozen=True)
class ArchSummary:
    """Per-layer output shapes and the total parameter count of a valid architecture."""

    in_shape: tuple[int, int]
    layers: tuple[LayerInfo, ...]
    n_params: int

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape

    def __str__(self) -> str:
        rows = [f"{'layer':<22}{'output shape':<18}{'params':>12}"]
        rows += [f"{lay.name:<22}{lay.out_shape!s:<18}{lay.n_params:>12,}"
                 for lay in self.layers]
        rows.append(f"{'total':<40}{self.n_params:>12,}")
        return "\n".join(rows)


def _fail(msg: str) -> NoReturn:
    raise InvalidArchitectureError(msg)


def _check_int(value: Any, where: str, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        _fail(f"{where}: {name!r} must be an integer >= {minimum}; got {value!r}.")


def _check_choice(value: Any, where: str, name: str, valid: tuple[Any, ...]) -> None:
    if value not in valid:
        _fail(f"{where}: unknown {name} {value!r}; valid values are {list(valid)}.")


def _check_common(block: ConvBlock | DenseBlock, where: str) -> None:
    """Checks shared by conv and dense blocks: batch_norm flag, activation, dropout rate."""
    if not isinstance(block.batch_norm, bool):
        _fail(f"{where}: 'batch_norm' must be True or False; got {block.batch_norm!r}.")
    _check_choice(block.activation, where, "activation", ACTIVATIONS)
    rate = block.dropout
    if isinstance(rate, bool) or not isinstance(rate, Real) or not 0.0 <= rate < 1.0:
        _fail(f"{where}: 'dropout' must be a rate in [0, 1) (0 = off); got {rate!r}.")


def _check_conv(block: ConvBlock, where: str) -> None:
    _check_int(block.filters, where, "filters", 1)
    _check_int(block.kernel_size, where, "kernel_size", 1)
    _check_int(block.stride, where, "stride", 1)
    if block.padding != "same":
        if isinstance(block.padding, str):
            _fail(f"{where}: 'padding' must be an integer >= 0 or 'same'; got {block.padding!r}.")
        _check_int(block.padding, where, "padding", 0)
    _check_common(block, where)
    _check_choice(block.pool, where, "pool", (None, *_POOLS))
    if block.pool is not None:
        _check_int(block.pool_size, where, "pool_size", 1)
        if block.pool_stride is not None:
            _check_int(block.pool_stride, where, "pool_stride", 1)


def canonical_activation(name: str) -> str:
    """Resolve an alias ("swish" -> "silu")."""
    return _ALIASES.get(name, name)


def conv_padding(block: ConvBlock, length: int) -> tuple[int, int]:
    """Zeros added (left, right) for an input of ``length`` points.

    ``"same"`` follows Keras/TensorFlow: total padding ``max((ceil(L/s) - 1) s + k - L, 0)``
    with the odd zero on the right, so the output has ``ceil(L / s)`` points for any stride.
    """
    if block.padding == "same":
        total = max((math.ceil(length / block.stride) - 1) * block.stride
                    + block.kernel_size - length, 0)
        return total // 2, total - total // 2
    return int(block.padding), int(block.padding)


def _out_length(length: int, kernel: int, stride: int, pad_total: int) -> int:
    """floor((L + pad - k) / s) + 1, the output length of a convolution or pooling."""
    return (length + pad_total - kernel) // stride + 1


def _too_short(where: str, detail: str, length: int, out: int) -> None:
    if out < 1:
        _fail(f"{where} ({detail}): input length {length} gives output length {out} < 1; "
              "use a smaller kernel, pool or stride, padding='same', or fewer conv blocks.")


def _conv_layers(spec: ArchSpec, channels: int, length: int) -> tuple[list[LayerInfo], int, int]:
    layers: list[LayerInfo] = []
    for i, block in enumerate(spec.conv):
        where = f"conv block {i + 1}"
        _check_conv(block, where)
        left, right = conv_padding(block, length)
        out = _out_length(length, block.kernel_size, block.stride, left + right)
        detail = f"kernel {block.kernel_size}, stride {block.stride}"
        _too_short(where, detail + (f", padding {block.padding}" if left + right else ""),
                   length, out)
        n_params = block.filters * channels * block.kernel_size
        n_params += 2 * block.filters if block.batch_norm else block.filters  # BN or bias
        layers.append(LayerInfo(where, f"features.{i}.conv", (channels, length),
                                (block.filters, out), n_params))
        channels, length = block.filters, out
        if block.pool is not None:
            stride = block.pool_stride or block.pool_size
            out = _out_length(length, block.pool_size, stride, 0)
            name = f"{where} {block.pool} pool"
            _too_short(name, f"size {block.pool_size}, stride {stride}", length, out)
            layers.append(LayerInfo(name, f"features.{i}.pool",
                                    (channels, length), (channels, out), 0))
            length = out
    return layers, channels, length


def validate_arch(
    spec: ArchSpec,
    in_channels: int,
    length: int,
    *,
    max_params: int | None = DEFAULT_MAX_PARAMS,
) -> ArchSummary:
    """Check that ``spec`` can be built for ``[batch, in_channels, length]`` input, without torch.

    Parameters
    ----------
    spec : ArchSpec
    in_channels, length : int
        Input channels and points per spectrum.
    max_params : int or None
        Parameter budget; None disables it.

    Returns
    -------
    ArchSummary
        Every layer's input/output shape and parameter count.

    Raises
    ------
    InvalidArchitectureError
        A bad value, a layer whose output would be shorter than 1, or too many parameters;
        the message names the layer and the numbers.
    """
    if not isinstance(spec, ArchSpec):
        _fail(f"spec must be an ArchSpec; got {type(spec).__name__}.")
    _check_int(in_channels, "input", "in_channels", 1)
    _check_int(length, "input", "length", 1)
    _check_choice(spec.task, "ArchSpec", "task", _TASKS)
    _check_choice(spec.init, "ArchSpec", "init", _INITS)
    _check_int(spec.n_outputs, "output", "n_outputs", 2 if spec.task == "classification" else 1)
    if not spec.fc:
        _fail("ArchSpec: 'fc' needs at least one DenseBlock (m >= 1).")
    layers, channels, length_out = _conv_layers(spec, in_channels, length)
    features = channels * length_out
    layers.append(LayerInfo("flatten", "flatten", (channels, length_out), (features,), 0))
    for j, block in enumerate(spec.fc):
        where = f"dense block {j + 1}"
        _check_int(block.units, where, "units", 1)
        _check_common(block, where)
        n_params = block.units * features + (2 * block.units if block.batch_norm else block.units)
        layers.append(LayerInfo(where, f"head.{j}.linear", (features,), (block.units,), n_params))
        features = block.units
    layers.append(LayerInfo("output", "output", (features,), (spec.n_outputs,),
                            spec.n_outputs * (features + 1)))
    total = sum(lay.n_params for lay in layers)
    if max_params is not None and total > max_params:
        _fail(f"architecture has {total:,} parameters, over the budget of {max_params:,} "
              "(max_params); use fewer filters or units, more pooling or a larger stride.")
    return ArchSummary((in_channels, length), tuple(layers), total)
