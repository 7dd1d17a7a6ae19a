"""Model specs and builders: ArchSpec (plain dataclasses) -> torch module; presets; baselines;
the applicability domain (PCA with Hotelling T2 and Q limits) every model carries."""

from __future__ import annotations

from spectune.models._arch import (
    ACTIVATIONS,
    DEFAULT_MAX_PARAMS,
    ArchSpec,
    ArchSummary,
    ConvBlock,
    DenseBlock,
    LayerInfo,
    validate_arch,
)
from spectune.models._arch_params import MLP, ArchPreset, PassosCNN, ShenCNN, resolve_arch
from spectune.models._baselines import (
    FittedBaseline,
    fit_baselines,
    pls_cv_curve,
    reference_models,
    run_baselines,
    score_baseline,
)
from spectune.models._build import SpectralNet, build_model
from spectune.models._domain import (
    ApplicabilityDomain,
    DomainScores,
    outside_warning,
    read_domain,
    write_domain,
)
from spectune.models._linear import LinearModel
from spectune.models._pls_cv import (
    DEFAULT_ROUTES,
    PLSDAClassifierCV,
    PLSRegressionCV,
    pls_pipeline,
)
from spectune.models._presets import PASSOS_L2_BETA, mlp, passos_cnn, shen_cnn
from spectune.models._screening import screen_outliers

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_MAX_PARAMS",
    "DEFAULT_ROUTES",
    "MLP",
    "PASSOS_L2_BETA",
    "ApplicabilityDomain",
    "ArchPreset",
    "ArchSpec",
    "ArchSummary",
    "ConvBlock",
    "DenseBlock",
    "DomainScores",
    "FittedBaseline",
    "LayerInfo",
    "LinearModel",
    "PLSDAClassifierCV",
    "PLSRegressionCV",
    "PassosCNN",
    "ShenCNN",
    "SpectralNet",
    "build_model",
    "fit_baselines",
    "mlp",
    "outside_warning",
    "passos_cnn",
    "pls_cv_curve",
    "pls_pipeline",
    "read_domain",
    "reference_models",
    "resolve_arch",
    "run_baselines",
    "score_baseline",
    "screen_outliers",
    "shen_cnn",
    "validate_arch",
    "write_domain",
]
