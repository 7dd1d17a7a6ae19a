"""SpectralAugmenter: Bjerrum et al.'s offset/slope/scale (+ noise, shift), on training batches only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.cross_decomposition import PLSRegression
from sklearn.preprocessing import StandardScaler

from spectune.data import make_synthetic
from spectune.exceptions import DataError, NotFittedError
from spectune.preprocess import PreprocessingSpec
from spectune.training import (
    SpectralAugmenter,
    TrainConfig,
    augmenter_from_params,
    train,
)
from spectune.training._network import as_3d, fit_network

OFF = {"offset": 0.0, "slope": 0.0, "scale": 0.0, "noise": 0.0, "shift": 0}
SIGMAS = np.array([0.5, 3.0])  # two channels with very different spreads


@pytest.fixture(scope="module")
def X_cal() -> np.ndarray:
    """[400, 2, 24] float32, positive levels (ratios are defined), per-channel sd ``SIGMAS``."""
    rng = np.random.default_rng(1)
    X = 10.0 + SIGMAS[None, :, None] * rng.normal(size=(400, 2, 24))
    return X.astype(np.float32)


def _augment(X_cal: np.ndarray, seed: int = 0, **params: float) -> tuple[np.ndarray, ...]:
    """(input, output, spread_) as float64 numpy, with only ``params`` switched on."""
    augmenter = SpectralAugmenter(**{**OFF, **params}).fit(X_cal)
    out = augmenter(torch.as_tensor(X_cal), torch.Generator().manual_seed(seed))
    return X_cal.astype(np.float64), out.numpy().astype(np.float64), augmenter.spread_


def _ks_uniform(values: np.ndarray, half_width: float) -> float:
    return stats.kstest(values.ravel(), stats.uniform(-half_width, 2 * half_width).cdf).pvalue


# --- fit ---------------------------------------------------------------------------------------


def test_spread_is_mean_per_point_sd_per_channel(X_cal):
    spread = SpectralAugmenter().fit(X_cal).spread_
    by_hand = np.array([X_cal[:, c, :].astype(np.float64).std(axis=0).mean() for c in (0, 1)])
    np.testing.assert_allclose(spread, by_hand, rtol=1e-12)
    np.testing.assert_allclose(spread, SIGMAS, rtol=0.1)


def test_spread_is_one_after_column_standardisation(X_cal):
    Z = StandardScaler().fit_transform(X_cal[:, 0, :])
    np.testing.assert_allclose(SpectralAugmenter().fit(Z).spread_, [1.0], rtol=1e-5)


# --- each effect has the distribution it documents ----------------------------------------------


def test_offset_is_constant_along_axis_and_uniform_in_spread_units(X_cal):
    x, out, spread = _augment(X_cal, offset=0.1)
    diff = out - x
    np.testing.assert_allclose(diff, np.repeat(diff[..., :1], x.shape[-1], axis=-1), atol=1e-5)
    a = diff[..., 0] / spread  # [n, channels]
    assert _ks_uniform(a, 0.1) > 1e-3
    assert _ks_uniform(a, 0.2) < 1e-6  # the test can tell a factor of two
    assert abs(np.corrcoef(a[:, 0], a[:, 1])[0, 1]) < 0.2  # drawn per channel


def test_scale_is_a_constant_ratio_per_spectrum_within_range(X_cal):
    x, out, _ = _augment(X_cal, scale=0.05)
    ratio = out / x
    np.testing.assert_allclose(ratio, np.repeat(ratio[..., :1], x.shape[-1], axis=-1), rtol=1e-5)
    assert _ks_uniform(ratio[..., 0] - 1, 0.05) > 1e-3
    assert _ks_uniform(ratio[..., 0] - 1, 0.1) < 1e-6


def test_slope_is_linear_centred_and_uniform_edge_to_edge(X_cal):
    x, out, spread = _augment(X_cal, slope=0.05)
    diff = (out - x).reshape(-1, x.shape[-1])
    t = np.linspace(0.0, 1.0, x.shape[-1])
    coef, residuals, *_ = np.polyfit(t, diff.T, 1, full=True)
    assert residuals.max() < 1e-9
    np.testing.assert_allclose(diff.mean(axis=1), 0.0, atol=1e-5)  # pivots at the middle
    change = (coef[0].reshape(len(x), -1)) / spread  # value at t=1 minus value at t=0
    assert _ks_uniform(change, 0.05) > 1e-3
    assert _ks_uniform(change, 0.1) < 1e-6


def test_noise_is_gaussian_with_sd_noise_times_spread(X_cal):
    x, out, spread = _augment(X_cal, noise=0.02)
    eps = (out - x) / spread[None, :, None]
    np.testing.assert_allclose(eps.std(axis=(0, 2)), [0.02, 0.02], rtol=0.03)
    assert stats.kstest(eps.ravel(), stats.norm(0, 0.02).cdf).pvalue > 1e-3


def test_shift_moves_each_spectrum_by_an_integer_with_edges_repeated(X_cal):
    shift = 3
    x, out, _ = _augment(X_cal, shift=shift)
    padded = np.pad(x, ((0, 0), (0, 0), (shift, shift)), mode="edge")  # the reference
    n_points = x.shape[-1]
    candidates = {
        k: padded[..., shift - k : shift - k + n_points] for k in range(-shift, shift + 1)
    }
    found = []
    for i in range(len(x)):
        matches = [k for k, moved in candidates.items() if np.array_equal(out[i], moved[i])]
        assert matches, f"row {i} is not a shifted copy of its input"
        found.append(matches[0])  # both channels moved by the same k (compared as a whole)
    assert set(found) == set(range(-shift, shift + 1))


def test_everything_off_returns_an_equal_new_tensor(X_cal):
    batch = torch.as_tensor(X_cal[:8])
    out = SpectralAugmenter(**OFF).fit(X_cal)(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out, batch) and out.data_ptr() != batch.data_ptr()


# --- determinism, no side effects ----------------------------------------------------------------


def test_same_seed_same_output_and_the_input_is_untouched(X_cal):
    augmenter = SpectralAugmenter(offset=0.1, slope=0.05, scale=0.05, noise=0.01, shift=2)
    augmenter.fit(X_cal)
    batch = torch.as_tensor(X_cal[:32].copy())
    before = batch.clone()
    first = augmenter(batch, torch.Generator().manual_seed(5))
    second = augmenter(batch, torch.Generator().manual_seed(5))
    other = augmenter(batch, torch.Generator().manual_seed(6))
    assert torch.equal(first, second)
    assert not torch.allclose(first, other)
    assert torch.equal(batch, before)
    assert first.shape == batch.shape and first.dtype == batch.dtype


def test_two_dimensional_batches_keep_their_shape(X_cal):
    X2 = X_cal[:, 0, :]
    augmenter = SpectralAugmenter().fit(X2)
    out = augmenter(torch.as_tensor(X2[:5]), torch.Generator().manual_seed(0))
    assert out.shape == (5, X2.shape[1]) and augmenter.spread_.shape == (1,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_stay_on_the_device_and_are_seeded(X_cal):
    augmenter = SpectralAugmenter(noise=0.01, shift=2).fit(X_cal)
    batch = torch.as_tensor(X_cal[:16], device="cuda")
    outs = [augmenter(batch, torch.Generator("cuda").manual_seed(3)) for _ in range(2)]
    assert outs[0].device == batch.device and torch.equal(*outs)


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"offset": -0.1}, "offset must be >= 0, got -0.1"),
        ({"noise": float("nan")}, "noise must be >= 0, got nan"),
        ({"shift": 1.5}, "shift must be an int >= 0, got 1.5"),
        ({"scale": 1.0}, "scale must be < 1"),
        ({"slope": "0.1"}, "slope must be a number >= 0, got '0.1'"),
    ],
)
def test_bad_parameters_are_named_in_fit(X_cal, params, match):
    with pytest.raises(ValueError, match=match):
        SpectralAugmenter(**params).fit(X_cal)


def test_calling_before_fit_is_explained(X_cal):
    with pytest.raises(NotFittedError, match="SpectralAugmenter.*not fitted"):
        SpectralAugmenter()(torch.as_tensor(X_cal), torch.Generator())


def test_batches_of_another_layout_are_refused(X_cal):
    augmenter = SpectralAugmenter().fit(X_cal)
    with pytest.raises(DataError, match=r"2 channel\(s\) x 24 points .* \(4, 1, 24\)"):
        augmenter(torch.as_tensor(X_cal[:4, :1]), torch.Generator())


def test_one_calibration_spectrum_has_no_spread(X_cal):
    with pytest.raises(DataError, match="at least 2 spectra.*got 1"):
        SpectralAugmenter().fit(X_cal[:1])


# --- space parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [{}, {"aug": False, "aug_offset": 0.2}, {"aug": True}, {"aug": True, "lr_mode": "fixed"}],
)
def test_no_augmenter_when_switched_off_or_empty(extra):
    assert augmenter_from_params(extra) is None


def test_space_parameters_map_to_the_augmenter():
    extra = {"aug": True, "aug_offset": 0.15, "aug_shift": np.int64(2), "lr_mode": "fixed"}
    augmenter = augmenter_from_params(extra)
    expected = {**OFF, "offset": 0.15, "shift": 2}
    assert augmenter.get_params() == expected and type(augmenter.shift) is int


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"aug": True, "aug_offset": -0.1}, r"^aug_offset must be >= 0, got -0.1"),
        ({"aug": True, "aug_ofset": 0.1}, "unknown augmentation parameter 'aug_ofset'"),
    ],
)
def test_bad_space_parameters_are_named(extra, match):
    with pytest.raises(ValueError, match=match):
        augmenter_from_params(extra)


# --- inside the training loop ------------------------------------------------------------------------


class Recorder:
    """Wraps an augmenter and keeps a copy of every batch it is given."""

    def __init__(self, augmenter: SpectralAugmenter) -> None:
        self.augmenter, self.seen = augmenter, []

    def __call__(self, X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        self.seen.append(X.clone().numpy())
        return self.augmenter(X, generator)


def test_loop_augments_training_batches_only_and_predicts_without_it(problem, make_mlp):
    X, y, Xv, yv = problem
    X_before, Xv_before = X.copy(), Xv.copy()
    recorder = Recorder(SpectralAugmenter(offset=0.5, scale=0.1, noise=0.1).fit(X))
    config = TrainConfig(max_epochs=3, batch_size=16)
    result = train(make_mlp(), X, y, Xv, yv, config=config, augment=recorder)
    plain = train(make_mlp(), X, y, Xv, yv, config=config)

    assert len(recorder.seen) == 3 * (len(X) // 16)
    train_rows = {row.tobytes() for row in X}
    for batch in recorder.seen:
        assert len(batch) == 16 and all(row.tobytes() in train_rows for row in batch)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(Xv, Xv_before)
    assert result.history.train_loss != plain.history.train_loss  # the hook did act

    calls = len(recorder.seen)
    first, second = result.predict(Xv), result.predict(Xv)
    with torch.no_grad():
        by_hand = result.model.eval()(torch.as_tensor(Xv)).numpy() * result.y_std + result.y_mean
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, by_hand, rtol=1e-5)
    assert len(recorder.seen) == calls
    val_loss = np.mean(((first - yv) / result.y_std) ** 2)  # standardised MSE, no augmentation
    assert result.history.val_loss[-1] == pytest.approx(val_loss, rel=1e-5)


def test_fit_network_with_augmentation_still_learns():
    spectra, _ = make_synthetic(200, 50, random_state=0)
    X, y = spectra.flat_X(), spectra.y[:, 0]
    X_cal, y_cal, X_val, y_val = X[:140], y[:140], X[140:], y[140:]
    preprocessing = PreprocessingSpec(("raw",))  # + column standardisation: spread_ is 1
    network_input = as_3d(preprocessing.build().fit(X_cal).transform(X_cal))
    augmenter = SpectralAugmenter().fit(network_input)  # Bjerrum-like defaults
    config = TrainConfig(lr=3e-3, max_epochs=80, batch_size=16, seed=0)
    net = fit_network(
        X_cal,
        y_cal,
        preprocessing=preprocessing,
        arch="mlp",
        config=config,
        X_val=X_val,
        y_val=y_val,
        augment=augmenter,
    )
    assert net.history.train_loss[0] > 2 * net.history.train_loss[-1]
    rmse = np.sqrt(np.mean((net.predict(X_val)[:, 0] - y_val) ** 2))
    pls = PLSRegression(n_components=5).fit(X_cal, y_cal)
    rmse_pls = np.sqrt(np.mean((pls.predict(X_val).ravel() - y_val) ** 2))
    assert rmse < 0.35 * y_val.std()  # R2 > 0.88 on unseen spectra
    assert rmse < 1.5 * rmse_pls  # close to the linear reference on a linear (Beer-Lambert) task
