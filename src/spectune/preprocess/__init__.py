"""Preprocessing of spectra: scikit-learn transformers for [n, points] and [n, channels, points].

Each transformer works along the point axis, per channel, and is fitted on calibration data only.
Several routes (e.g. raw, SNV, derivatives) are combined by concatenating them along the points
(``ConcatenateRoutes``, Passos & Mishra 2022) or stacking them as channels (``StackRoutes``,
Shen & Viscarra Rossel 2021); ``make_route("snv+sg1")`` builds a route from its name.
"""

from __future__ import annotations

from spectune.preprocess._absorbance import Absorbance
from spectune.preprocess._baseline import BaselineCorrection
from spectune.preprocess._concatenate import ConcatenateRoutes
from spectune.preprocess._detrend import Detrend
from spectune.preprocess._identity import Identity
from spectune.preprocess._msc import MultiplicativeScatterCorrection
from spectune.preprocess._routes import make_route, passos_concat, route_names, shen_channels
from spectune.preprocess._savgol import SavitzkyGolay
from spectune.preprocess._snv import StandardNormalVariate
from spectune.preprocess._spec import PreprocessingSpec, fitted_arrays, restore_fitted_arrays
from spectune.preprocess._stack import StackRoutes
from spectune.preprocess._standardize import ColumnStandardizer

__all__ = [
    "Absorbance",
    "BaselineCorrection",
    "ColumnStandardizer",
    "ConcatenateRoutes",
    "Detrend",
    "Identity",
    "MultiplicativeScatterCorrection",
    "PreprocessingSpec",
    "SavitzkyGolay",
    "StackRoutes",
    "StandardNormalVariate",
    "fitted_arrays",
    "make_route",
    "passos_concat",
    "restore_fitted_arrays",
    "route_names",
    "shen_channels",
]
