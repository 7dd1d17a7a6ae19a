"""The LR range test on spectra: preprocessing fitted on calibration data, base network sized.

Passos & Mishra (2022) run it once on the base architecture before tuning; LR_max becomes
Adam's initial rate and LR_min the floor of the plateau schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spectune.data import Spectra
from spectune.models import ArchSpec, build_model
from spectune.models._arch_params import ArchPreset, PassosCNN, resolve_arch
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training._config import TrainConfig
from spectune.training._lr_range import LRRangeResult, lr_range_test
from spectune.training._network import as_3d

__all__ = ["find_learning_rates"]


def find_learning_rates(
    train: Spectra,
    val: Spectra,
    *,
    preprocessing: PreprocessingSpec | None = None,
    arch: str | ArchPreset | ArchSpec | Mapping[str, Any] | None = None,
    config: TrainConfig | None = None,
    n_steps: int = 100,
    seed: int = 0,
    device: str = "cpu",
) -> LRRangeResult:
    """LR range test of ``arch`` (default ``PassosCNN()`` on SNV) trained on ``train``.

    The validation loss on ``val`` is recorded per step; no augmentation is applied.
    """
    preprocessing = preprocessing or PreprocessingSpec(("snv",))
    config = config or TrainConfig(seed=seed, device=device)
    transformer = preprocessing.build().fit(train.flat_X())
    X, Xv = (as_3d(transformer.transform(s.flat_X())) for s in (train, val))
    task = train.task
    if task == "classification":
        classes = train.classes
        y, yv = (np.searchsorted(classes, s.y) for s in (train, val))
        n_outputs = len(classes)
    else:
        y, yv, n_outputs = train.y, val.y, train.y.shape[1]
    spec = resolve_arch(arch or PassosCNN(), X.shape[1], X.shape[2], task=task,
                        n_outputs=n_outputs)
    return lr_range_test(
        lambda: build_model(spec, X.shape[1], X.shape[2], seed=config.seed), X, y, Xv, yv,
        task=task, config=config, n_steps=n_steps,
    )
