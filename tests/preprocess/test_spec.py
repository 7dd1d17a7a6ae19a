"""PreprocessingSpec: the shapes it promises, and fitted numbers that survive a save."""

from __future__ import annotations

import numpy as np
import pytest

from spectune.exceptions import ModelFileError
from spectune.preprocess._routes import PASSOS_ROUTES
from spectune.preprocess._spec import PreprocessingSpec, fitted_arrays, restore_fitted_arrays

SPECS = [
    PreprocessingSpec(("raw",)),
    PreprocessingSpec(("snv+sg1",), standardise=False),
    PreprocessingSpec(("msc",)),
    PreprocessingSpec.passos(),
    PreprocessingSpec(("refl", "abs", "abs+sg2"), "stack"),
    PreprocessingSpec(("msc", "snv+sg1", "msc+sg2"), "stack", standardise=False),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("n_channels", [1, 2])
def test_output_shape_matches_the_real_transformer(spec: PreprocessingSpec, n_channels: int) -> None:
    shape = (12, 40) if n_channels == 1 else (12, n_channels, 40)
    X = np.random.default_rng(0).uniform(0.2, 0.9, size=shape)
    out = np.asarray(spec.build().fit_transform(X))
    got = out.shape[1:] if out.ndim == 3 else (1, out.shape[1])
    assert spec.output_shape(n_channels, 40) == got


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_fitted_arrays_restore_the_same_transform(spec: PreprocessingSpec) -> None:
    rng = np.random.default_rng(1)
    cal, new = rng.uniform(0.2, 0.9, size=(15, 60)), rng.uniform(0.2, 0.9, size=(4, 60))
    fitted = spec.build().fit(cal)
    arrays = {k: v.copy() for k, v in fitted_arrays(fitted).items()}
    restored = restore_fitted_arrays(spec, arrays, 1, 60)
    np.testing.assert_array_equal(restored.transform(new), fitted.transform(new))


def test_msc_reference_is_the_calibration_mean_after_restore() -> None:
    cal = np.random.default_rng(2).uniform(0.2, 0.9, size=(10, 30))
    spec = PreprocessingSpec(("msc",), standardise=False)
    arrays = fitted_arrays(spec.build().fit(cal))
    np.testing.assert_allclose(arrays["routes.msc.reference_"], cal.mean(axis=0))


def test_mismatched_arrays_are_refused() -> None:
    cal = np.random.default_rng(3).uniform(0.2, 0.9, size=(10, 30))
    spec = PreprocessingSpec(("snv",))
    arrays = fitted_arrays(spec.build().fit(cal))
    with pytest.raises(ModelFileError, match="shape"):
        restore_fitted_arrays(spec, {k: v[:-1] for k, v in arrays.items()}, 1, 30)
    with pytest.raises(ModelFileError, match="missing"):
        restore_fitted_arrays(spec, {}, 1, 30)


def test_round_trip_through_a_dict_and_bad_values() -> None:
    spec = PreprocessingSpec(PASSOS_ROUTES, "concat", True, window_length=15)
    assert PreprocessingSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="combine"):
        PreprocessingSpec(("raw",), "mix")
    with pytest.raises(ValueError, match="nope"):
        PreprocessingSpec(("snv+nope",))
