"""Analysis stage: importance, figures, explanations and the HTML report of a finished run.

Each figure is a tested ``get_<figure>_info`` function that computes its data and a thin
``plot_<figure>`` drawer writing PNG and SVG. Analysis reads results and models; it never trains.
"""

from __future__ import annotations

from spectune.analysis._convergence import ConvergenceInfo, get_convergence_info, plot_convergence
from spectune.analysis._domain_plot import DomainInfo, get_domain_info, plot_domain
from spectune.analysis._explain import (
    GradCamInfo,
    explain,
    explain_groups,
    grad_cam,
    input_attribution,
    split_routes,
)
from spectune.analysis._figures import save_figure
from spectune.analysis._importance import (
    GROUPS,
    ImportanceInfo,
    get_importance_info,
    group_of,
    plot_importance,
)
from spectune.analysis._lr_plot import LRRangeInfo, plot_lr_range
from spectune.analysis._model_plots import (
    ComparisonInfo,
    ConfusionInfo,
    PredObsInfo,
    TrainingCurvesInfo,
    get_comparison_info,
    get_confusion_info,
    get_pred_obs_info,
    get_training_curves_info,
    plot_comparison,
    plot_confusion,
    plot_pred_obs,
    plot_training_curves,
)
from spectune.analysis._parallel import ParallelInfo, get_parallel_info, plot_parallel
from spectune.analysis._pls_plots import (
    PLSCoefficientsInfo,
    PLSCurveInfo,
    get_pls_coefficients_info,
    get_pls_curve_info,
    plot_pls_coefficients,
    plot_pls_curve,
    vip_scores,
)
from spectune.analysis._report import load_run, write_report
from spectune.analysis._search_plots import (
    HistoryInfo,
    SliceInfo,
    SlicePanel,
    get_history_info,
    get_slice_info,
    plot_history,
    plot_slices,
)
from spectune.analysis._spectra_plots import (
    SpectraInfo,
    get_spectra_info,
    plot_explanation,
    plot_spectra,
)

__all__ = [
    "GROUPS",
    "ComparisonInfo",
    "ConfusionInfo",
    "ConvergenceInfo",
    "DomainInfo",
    "GradCamInfo",
    "HistoryInfo",
    "ImportanceInfo",
    "LRRangeInfo",
    "PLSCoefficientsInfo",
    "PLSCurveInfo",
    "ParallelInfo",
    "PredObsInfo",
    "SliceInfo",
    "SlicePanel",
    "SpectraInfo",
    "TrainingCurvesInfo",
    "explain",
    "explain_groups",
    "get_comparison_info",
    "get_confusion_info",
    "get_convergence_info",
    "get_domain_info",
    "get_history_info",
    "get_importance_info",
    "get_parallel_info",
    "get_pls_coefficients_info",
    "get_pls_curve_info",
    "get_pred_obs_info",
    "get_slice_info",
    "get_spectra_info",
    "get_training_curves_info",
    "grad_cam",
    "group_of",
    "input_attribution",
    "load_run",
    "plot_comparison",
    "plot_confusion",
    "plot_convergence",
    "plot_domain",
    "plot_explanation",
    "plot_history",
    "plot_importance",
    "plot_lr_range",
    "plot_parallel",
    "plot_pls_coefficients",
    "plot_pls_curve",
    "plot_pred_obs",
    "plot_slices",
    "plot_spectra",
    "plot_training_curves",
    "save_figure",
    "split_routes",
    "vip_scores",
    "write_report",
]
