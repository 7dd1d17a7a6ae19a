"""The data loss and the L2 penalty over hidden-layer weights (Passos & Mishra 2022)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spectune.training._config import TrainConfig

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def make_criterion(config: TrainConfig, task: str, device: torch.device) -> nn.Module:
    """The data term of the loss; regression losses act on standardised targets."""
    loss = config.loss or ("mse" if task == "regression" else "cross_entropy")
    if (loss == "cross_entropy") != (task == "classification"):
        raise ValueError(
            f"loss={loss!r} does not fit task={task!r}; use 'mse' or 'huber' for regression "
            "and 'cross_entropy' for classification."
        )
    if loss == "mse":
        return nn.MSELoss()
    if loss == "huber":
        return nn.HuberLoss(delta=config.huber_delta)
    weight = None
    if config.class_weights is not None:
        weight = torch.tensor(config.class_weights, dtype=torch.float32, device=device)
    return nn.CrossEntropyLoss(weight=weight)


def hidden_weights(model: nn.Module) -> list[torch.Tensor]:
    """Weight tensors that the L2 penalty covers: every hidden layer's, not the output layer's.

    Uses ``model.hidden_weights()`` when the model defines it (spectune's models do); otherwise
    the weights of all Linear and Conv layers except the last Linear layer (the output). Biases
    are never penalised, as in Keras ``kernel_regularizer``.
    """
    own = getattr(model, "hidden_weights", None)
    if callable(own):
        return list(own())
    layers = [m for m in model.modules() if isinstance(m, _WEIGHTED)]
    linear = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
    if linear:
        del layers[linear[-1]]
    return [m.weight for m in layers]


def l2_penalty(weights: Sequence[torch.Tensor], beta: float) -> torch.Tensor:
    """``beta * sum(w**2)``: Keras ``l2(beta)`` summed over the given tensors."""
    return beta * sum(w.pow(2).sum() for w in weights)  # type: ignore[return-value]
