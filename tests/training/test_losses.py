"""Which weights the L2 penalty covers, and the penalty itself against a hand computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spectune.training import hidden_weights, l2_penalty


def test_hidden_weights_skip_the_output_layer_and_biases():
    model = nn.Sequential(
        nn.Conv1d(1, 4, 3), nn.ELU(), nn.Flatten(), nn.Linear(4 * 8, 6), nn.Linear(6, 1)
    )
    weights = hidden_weights(model)
    assert len(weights) == 2
    assert weights[0] is model[0].weight and weights[1] is model[3].weight


def test_hidden_weights_prefers_the_models_own_method():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 1)

        def hidden_weights(self):
            return [self.b.weight]  # whatever the model says

    model = Model()
    assert hidden_weights(model) == [model.b.weight]


def test_l2_penalty_is_beta_times_sum_of_squares():
    weights = [torch.tensor([[1.0, -2.0]]), torch.tensor([3.0])]
    assert l2_penalty(weights, 0.1).item() == pytest.approx(0.1 * (1 + 4 + 9))
