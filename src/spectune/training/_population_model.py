"""The shared forward pass of a population: one template module, K stacked sets of weights.

Members of a population must be the *same network up to their weights, dropout rates and
centred kernel widths*: same modules, same settings, same parameter and buffer shapes
(:func:`population_signature`). A convolution with stride 1 and "same" zero padding (odd kernel
``k``, padding ``(k - 1) / 2``) gives the same output as that kernel centred in a wider one whose
other taps are zero, with the wider one's padding: such kernels of different widths share a
population at the widest width, their outer taps held at zero (:func:`centred_kernels`); this
is how the kernel-width search of Passos & Mishra batches.
The template is a weightless copy of the first member (on the ``meta`` device) whose
``nn.Dropout`` modules read a per-member mask instead of drawing one, so that the masks can come
from each member's own generator (bit-for-bit the masks of the single loop on CPU) or from one
batched draw (fast, on a GPU). ``torch.func.functional_call`` runs it with member ``k``'s
tensors and ``torch.vmap`` runs all K at once.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

Signature = tuple[Any, ...]

# Other random layers (AlphaDropout, Dropout1d...) are not supported: vmap would refuse them
# (randomness="error"), so a model that has one cannot join a population at all.
_RANDOM_LAYERS = (nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Dropout1d, nn.Dropout2d,
                  nn.Dropout3d)


def centred_kernels(model: nn.Module) -> dict[str, int]:
    """Convolutions whose kernel may sit centred in a wider one: module name -> kernel width.

    ``nn.Conv1d`` with stride 1, dilation 1, zero padding, an odd kernel ``k`` and padding
    ``(k - 1) / 2`` (Keras "same"): its output length is the input's, whatever ``k``.
    """
    return {
        name: m.kernel_size[0] for name, m in model.named_modules()
        if type(m) is nn.Conv1d and m.stride == (1,) and m.dilation == (1,)
        and m.padding_mode == "zeros" and isinstance(m.padding, tuple)
        and m.kernel_size[0] % 2 == 1 and m.padding[0] == m.kernel_size[0] // 2
    }


def population_signature(model: nn.Module) -> Signature:
    """What must be equal for two models to train in one population.

    Every module's qualified name, class and settings (``extra_repr``) and every parameter's and
    buffer's name, shape and dtype, except what members may differ in: a dropout rate, and the
    width of a centred kernel (:func:`centred_kernels`). Models of one ``ArchSpec`` that differ
    only in those share a signature.
    """
    centred = centred_kernels(model)

    def settings(name: str, m: nn.Module) -> str:
        if type(m) is nn.Dropout:
            return ""
        if name in centred:
            return f"{m.in_channels}, {m.out_channels}, centred, groups={m.groups}, " \
                   f"bias={m.bias is not None}"  # type: ignore[union-attr]
        return m.extra_repr()

    def shape(name: str, t: torch.Tensor) -> tuple[int, ...]:
        return tuple(t.shape[:-1]) if name.removesuffix(".weight") in centred else tuple(t.shape)

    modules = tuple((name, type(m).__qualname__, settings(name, m))
                    for name, m in model.named_modules())
    tensors = tuple((name, shape(name, t), t.dtype)
                    for name, t in (*model.named_parameters(), *model.named_buffers()))
    return modules, tensors


def widen(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Zeros on both sides of the last axis (a centred kernel) up to ``width``."""
    side = (width - tensor.shape[-1]) // 2
    return torch.nn.functional.pad(tensor, (side, side)) if side else tensor


def centre(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """The central ``width`` taps of the last axis (inverse of :func:`widen`)."""
    start = (tensor.shape[-1] - width) // 2
    return tensor[..., start: start + width]


def unsupported_layer(model: nn.Module) -> str | None:
    """The name of a random layer a population cannot batch, or None."""
    for name, module in model.named_modules():
        if isinstance(module, _RANDOM_LAYERS):
            return f"{name} ({type(module).__name__})"
    return None


class MaskedDropout(nn.Module):
    """Dropout that multiplies by a given mask (``bernoulli(1 - p) / (1 - p)``), as ATen does.

    The mask is a non-persistent buffer that :func:`functional_call` replaces at every step.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", torch.empty(0), persistent=False)

    mask: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask if self.training else x


@dataclass(frozen=True)
class DropoutSite:
    """One dropout layer: its mask's key and the shape of one sample's input."""

    key: str
    shape: tuple[int, ...]


def make_template(model: nn.Module) -> nn.Module:
    """A weightless copy of ``model`` whose ``nn.Dropout`` layers take their mask as a buffer."""
    template = copy.deepcopy(model).to("meta")
    for name, module in list(template.named_modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is nn.Dropout:
                setattr(module, child_name, MaskedDropout())
    return template


def dropout_sites(model: nn.Module, sample: torch.Tensor) -> list[DropoutSite]:
    """The dropout layers in the order the forward pass calls them, with their input shapes.

    A probe forward pass on ``sample`` (one or two inputs, evaluation mode, no gradient) records
    the order; the single training loop draws its masks in that order, so must we.
    """
    seen: list[DropoutSite] = []
    handles = []
    for name, module in model.named_modules():
        if type(module) is nn.Dropout:
            def hook(_: nn.Module, args: tuple[Any, ...], name: str = name) -> None:
                seen.append(DropoutSite(f"{name}.mask", tuple(args[0].shape[1:])))

            handles.append(module.register_forward_pre_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(sample)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    keys = [site.key for site in seen]
    if len(set(keys)) != len(keys):
        raise ValueError(
            f"a dropout layer is called more than once per forward pass ({keys}); such a model "
            "cannot join a population: train it with spectune.training.train."
        )
    return seen


def dropout_rates(model: nn.Module, sites: Sequence[DropoutSite]) -> list[float]:
    """Each site's rate ``p`` in ``model`` (members may differ)."""
    modules = dict(model.named_modules())
    return [float(modules[site.key.removesuffix(".mask")].p)  # type: ignore[arg-type]
            for site in sites]


def stack(models: Sequence[nn.Module]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Parameters (detached leaves that require grad) and buffers with a leading member axis."""
    params, buffers = stack_module_state(list(models))
    params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    return params, {k: v.detach() for k, v in buffers.items()}


def member_forward(
    template: nn.Module, tensors: tuple[dict[str, torch.Tensor], ...], x: torch.Tensor
) -> torch.Tensor:
    """One member's forward pass (called under ``torch.vmap``)."""
    return functional_call(template, tensors, (x,))
