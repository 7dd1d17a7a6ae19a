"""Spectra in memory, readers with validation, built-in datasets and splits."""

from __future__ import annotations

from spectune.data._datasets import dataset_names, describe_dataset, export_dataset, load_dataset
from spectune.data._grid import align_to_grid, parse_range
from spectune.data._instruments import read_spectra
from spectune.data._readers import from_numpy, from_pandas, read_table
from spectune.data._second_instrument import (
    InstrumentResponse,
    make_instrument_pair,
    simulate_instrument,
)
from spectune.data._sources import read_input
from spectune.data._spectra import Spectra, Task
from spectune.data._splits import (
    SplitIndices,
    cv_splitter,
    kennard_stone,
    split_cal_tune,
    split_indices,
)
from spectune.data._synthetic import SyntheticTruth, make_synthetic

__all__ = [
    "InstrumentResponse",
    "Spectra",
    "SplitIndices",
    "SyntheticTruth",
    "Task",
    "align_to_grid",
    "cv_splitter",
    "dataset_names",
    "describe_dataset",
    "export_dataset",
    "from_numpy",
    "from_pandas",
    "kennard_stone",
    "load_dataset",
    "make_instrument_pair",
    "make_synthetic",
    "parse_range",
    "read_input",
    "read_spectra",
    "read_table",
    "simulate_instrument",
    "split_cal_tune",
    "split_indices",
]
