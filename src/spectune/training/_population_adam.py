"""Adam and AdamW on stacked parameters, with a learning rate (and weight decay) per member.

``torch.optim.Adam`` takes one learning rate per parameter group, and Adam is invariant to a
scaling of the gradient, so a per-member rate cannot be had by scaling gradients. This module
repeats the arithmetic of ``torch.optim.Adam``'s single-tensor step (torch's defaults:
``betas=(0.9, 0.999)``, ``eps=1e-8``, no amsgrad) element for element, with the per-member
scalars (step size, bias correction, decay factor) as float32 tensors of shape ``[K, 1, ...]``:
the same float32 operations in the same order, so each member's update equals the one
``torch.optim.Adam`` makes for it alone (the tests check equality to the bit on CPU).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


class StackedAdam:
    """Adam state for parameters whose first axis is the member.

    Parameters
    ----------
    params : mapping of str to tensor
        Stacked parameters ``[K, ...]``.
    decoupled : bool
        AdamW (decoupled weight decay, Loshchilov & Hutter) instead of Adam.
    """

    def __init__(self, params: Mapping[str, torch.Tensor], *, decoupled: bool = False) -> None:
        self.decoupled = decoupled
        self.exp_avg = {k: torch.zeros_like(v) for k, v in params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(v) for k, v in params.items()}
        first = next(iter(params.values()))
        # torch keeps the step as a float32 tensor; integers are exact in float64 too
        self.steps = torch.zeros(len(first), dtype=torch.float64, device=first.device)

    @torch.no_grad()
    def step(
        self,
        params: Mapping[str, torch.Tensor],
        grads: Mapping[str, torch.Tensor],
        lr: torch.Tensor,
        weight_decay: torch.Tensor | None = None,
    ) -> None:
        """One update of every member; ``lr`` and ``weight_decay`` are float64 ``[K]``."""
        self.steps += 1
        # Python computes torch's scalars in float64; the kernels cast them to float32.
        step_size = (-(lr / (1 - BETA1**self.steps))).float()
        bias2_sqrt = ((1 - BETA2**self.steps) ** 0.5).float()
        decay = None
        if self.decoupled and weight_decay is not None:
            decay = (1 - lr * weight_decay).float()
        for name, param in params.items():
            grad = grads[name]
            shape = (-1,) + (1,) * (param.dim() - 1)
            if decay is not None:
                param.mul_(decay.view(shape))
            exp_avg, exp_avg_sq = self.exp_avg[name], self.exp_avg_sq[name]
            exp_avg.lerp_(grad, 1 - BETA1)
            exp_avg_sq.mul_(BETA2).addcmul_(grad, grad, value=1 - BETA2)
            denom = (exp_avg_sq.sqrt() / bias2_sqrt.view(shape)).add_(EPS)
            # addcdiv_(exp_avg, denom, value=-step) computes p + (value * exp_avg) / denom
            param.add_(step_size.view(shape) * exp_avg / denom)

    def select(self, keep: torch.Tensor) -> None:
        """Keep the members at indices ``keep`` (others left the population)."""
        for state in (self.exp_avg, self.exp_avg_sq):
            for name in state:
                state[name] = state[name][keep]
        self.steps = self.steps[keep]

    def widen(self, name: str, width: int) -> None:
        """Zero state for the new outer taps of a centred kernel widened to ``width``."""
        side = (width - self.exp_avg[name].shape[-1]) // 2
        for state in (self.exp_avg, self.exp_avg_sq):
            state[name] = torch.nn.functional.pad(state[name], (side, side))

    def extend(self, params: Mapping[str, torch.Tensor]) -> None:
        """Append fresh state (step 0) for new members ``params`` ``[k, ...]``."""
        for state in (self.exp_avg, self.exp_avg_sq):
            for name in state:
                state[name] = torch.cat([state[name], torch.zeros_like(params[name])])
        first = next(iter(params.values()))
        self.steps = torch.cat([self.steps, self.steps.new_zeros(len(first))])
