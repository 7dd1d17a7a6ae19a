"""Turn an :class:`ArchSpec` into a torch module, with seeded He-normal weights."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from numbers import Integral

import torch
from torch import nn

from spectune.exceptions import DataError
from spectune.models._arch import (
    DEFAULT_MAX_PARAMS,
    ArchSpec,
    ArchSummary,
    ConvBlock,
    DenseBlock,
    canonical_activation,
    conv_padding,
    validate_arch,
)

__all__ = ["SpectralNet", "build_model"]

# name -> (module factory, kaiming_normal_ nonlinearity, its negative slope ``a``).
# ELU and SiLU have no gain of their own in torch; He's ReLU gain is what Passos & Mishra (2022)
# use with ELU (Keras he_normal). SELU takes LeCun normal ("linear"), as torch's docs advise for
# self-normalising networks (Klambauer et al. 2017).
_ACTIVATIONS: dict[str, tuple[Callable[[], nn.Module], str, float]] = {
    "relu": (nn.ReLU, "relu", 0.0),
    "leaky_relu": (nn.LeakyReLU, "leaky_relu", 0.01),  # nn.LeakyReLU's default slope
    "elu": (nn.ELU, "relu", 0.0),
    "selu": (nn.SELU, "linear", 0.0),
    "silu": (nn.SiLU, "relu", 0.0),
    "tanh": (nn.Tanh, "tanh", 0.0),
    "sigmoid": (nn.Sigmoid, "sigmoid", 0.0),
}


def _tail(
    layer: nn.Module, block: ConvBlock | DenseBlock, size: int
) -> OrderedDict[str, nn.Module]:
    """Layer -> [BN] -> activation; the order both block kinds share."""
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    parts["conv" if isinstance(block, ConvBlock) else "linear"] = layer
    if block.batch_norm:
        parts["bn"] = nn.BatchNorm1d(size)
    parts["act"] = _ACTIVATIONS[canonical_activation(block.activation)][0]()
    return parts


def _conv_block(block: ConvBlock, channels: int, length: int) -> nn.Sequential:
    left, right = conv_padding(block, length)
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    if left != right:  # asymmetric "same" padding: pad explicitly, as Keras does
        parts["pad"] = nn.ConstantPad1d((left, right), 0.0)
        left = 0
    conv = nn.Conv1d(channels, block.filters, block.kernel_size, stride=block.stride,
                     padding=left, bias=not block.batch_norm)
    parts.update(_tail(conv, block, block.filters))
    if block.pool is not None:
        pool_cls = nn.MaxPool1d if block.pool == "max" else nn.AvgPool1d
        parts["pool"] = pool_cls(block.pool_size, stride=block.pool_stride or block.pool_size)
    if block.dropout > 0:
        parts["drop"] = nn.Dropout(block.dropout)
    return nn.Sequential(parts)


def _dense_block(block: DenseBlock, features: int) -> nn.Sequential:
    linear = nn.Linear(features, block.units, bias=not block.batch_norm)
    parts = _tail(linear, block, block.units)
    if block.dropout > 0:
        parts["drop"] = nn.Dropout(block.dropout)
    return nn.Sequential(parts)


class SpectralNet(nn.Module):
    """The network an :class:`ArchSpec` describes: ``[batch, C, L] -> [batch, n_outputs]``.

    Build it with :func:`build_model`, which validates the spec and seeds the weights.

    Attributes
    ----------
    spec : ArchSpec
    in_channels, length : int
        The input shape it was built for.
    summary : ArchSummary
        Per-layer shapes and parameter count.
    features : nn.Sequential
        The conv blocks (empty for an MLP); block ``i`` has children ``conv``, optional ``bn``,
        ``act``, optional ``pool`` and ``drop`` (and ``pad`` for asymmetric "same" padding).
    head : nn.Sequential
        The dense blocks (children ``linear``, optional ``bn``, ``act``, optional ``drop``).
    output : nn.Linear
        Linear output (regression) or logits (classification).
    """

    def __init__(self, spec: ArchSpec, in_channels: int, length: int, summary: ArchSummary):
        super().__init__()
        self.spec = spec
        self.in_channels = in_channels
        self.length = length
        self.summary = summary
        shapes = {layer.module: layer for layer in summary.layers}
        self.features = nn.Sequential(*(
            _conv_block(block, *shapes[f"features.{i}.conv"].in_shape)
            for i, block in enumerate(spec.conv)
        ))
        self.flatten = nn.Flatten()
        features = shapes["flatten"].out_shape[0]
        dense = []
        for block in spec.fc:
            dense.append(_dense_block(block, features))
            features = block.units
        self.head = nn.Sequential(*dense)
        self.output = nn.Linear(features, spec.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.in_channels, self.length):
            raise DataError(
                f"input of shape {tuple(x.shape)}; this model takes [batch, {self.in_channels}, "
                f"{self.length}] spectra: use the channels and wavelength grid it was trained on."
            )
        return self.output(self.head(self.flatten(self.features(x))))

    def hidden_weights(self) -> list[nn.Parameter]:
        """Kernels of the conv and dense layers, the weights the papers' L2 penalty applies to.

        Biases, batch-norm scales and the output layer are left out (Passos & Mishra 2022;
        Shen & Viscarra Rossel 2021 regularise hidden layers' kernels).
        """
        return [layer.weight for layer in self._hidden_layers()]

    def _hidden_layers(self) -> list[nn.Module]:
        return [blk.conv for blk in self.features] + [blk.linear for blk in self.head]

    @property
    def last_conv(self) -> nn.Module | None:
        """The last conv block's activation, whose output grad-CAM hooks; None for an MLP."""
        return self.features[-1].act if len(self.features) else None


def _he_normal(net: SpectralNet, generator: torch.Generator) -> None:
    """Kaiming-normal kernels (fan-in, gain of the block's activation), zero biases."""
    layers = [*net._hidden_layers(), net.output]
    rules = [_ACTIVATIONS[canonical_activation(b.activation)][1:]
             for b in (*net.spec.conv, *net.spec.fc)]
    rules.append(("linear", 0.0))  # the output layer has no activation
    for layer, (nonlinearity, slope) in zip(layers, rules):
        nn.init.kaiming_normal_(layer.weight, a=slope, nonlinearity=nonlinearity,
                                generator=generator)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def build_model(
    spec: ArchSpec,
    in_channels: int,
    length: int,
    *,
    seed: int | None = None,
    max_params: int | None = DEFAULT_MAX_PARAMS,
) -> SpectralNet:
    """Validate ``spec`` and build it for ``[batch, in_channels, length]`` input.

    Parameters
    ----------
    spec : ArchSpec
    in_channels, length : int
        Input channels and points per spectrum.
    seed : int or None
        Seeds a local ``torch.Generator`` (the global RNG is neither read nor advanced), so the
        same seed gives identical weights; None draws a fresh seed.
    max_params : int or None
        Parameter budget passed to :func:`validate_arch`.

    Returns
    -------
    SpectralNet
        In training mode; batch-norm needs ``model.eval()`` to predict a single spectrum.

    Raises
    ------
    InvalidArchitectureError
        From :func:`validate_arch`, before any tensor is allocated.

    Examples
    --------
    >>> from spectune.models import ArchSpec, ConvBlock, DenseBlock
    >>> spec = ArchSpec(conv=(ConvBlock(4, 5, pool="max"),), fc=(DenseBlock(8),), n_outputs=2)
    >>> build_model(spec, 1, 100, seed=0)(torch.zeros(3, 1, 100)).shape
    torch.Size([3, 2])
    """
    summary = validate_arch(spec, in_channels, length, max_params=max_params)
    if seed is None:
        seed = torch.Generator().seed()
    elif isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None; got {seed!r}.")
    seed = int(seed)
    # torch's default init draws from the global RNG: fork it so "default" is seeded too and
    # the caller's RNG state is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SpectralNet(spec, in_channels, length, summary)
    if spec.init == "he_normal":
        _he_normal(net, torch.Generator().manual_seed(seed))
    return net
