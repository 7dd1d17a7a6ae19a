"""Explanations: grad-CAM / HiResCAM and attributions find the band that carries y; PLS VIP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cross_decomposition import PLSRegression
from sklearn.pipeline import Pipeline

from spectune.analysis import (
    GradCamInfo,
    explain,
    explain_groups,
    get_pls_coefficients_info,
    grad_cam,
    input_attribution,
    split_routes,
    vip_scores,
)
from spectune.data import Spectra, make_synthetic
from spectune.models import ArchSpec, ConvBlock, DenseBlock, PLSDAClassifierCV, PLSRegressionCV
from spectune.models._presets import mlp
from spectune.preprocess import ConcatenateRoutes, make_route
from spectune.preprocess._spec import PreprocessingSpec
from spectune.training._config import TrainConfig
from spectune.training._network import SpectralNetwork, fit_network

BAND = (1400.0, 1500.0)  # only component 0, here, carries y; two broader bands do not


Task = tuple[Spectra, Spectra]


@pytest.fixture(scope="module")
def task() -> Task:
    """Calibration and test spectra of a task whose answer lies in BAND."""
    spectra, _ = make_synthetic(160, 100, n_components=3, signal_band=BAND, noise=0.01,
                                random_state=0)
    return spectra[:120], spectra[120:]


def _fit(train: Spectra, arch: ArchSpec, *, routes: tuple[str, ...] = ("raw", "snv"),
         combine: str = "concat", epochs: int = 100, task: str = "regression"
         ) -> SpectralNetwork:
    # No column standardisation: it scales noise-only points up to the size of the band.
    torch.set_num_threads(1)
    spec = PreprocessingSpec(routes, combine, standardise=False)
    return fit_network(train.X, train.y, preprocessing=spec,
                       arch=arch, task=task,
                       config=TrainConfig(lr=3e-3, l2=1e-4, max_epochs=epochs, seed=0))


@pytest.fixture(scope="module")
def cnn(task: Task) -> SpectralNetwork:
    # Trained once for the module (about 1 s): one conv block, a small dense head.
    arch = ArchSpec(conv=(ConvBlock(8, 5, padding="same", pool="max"),), fc=(DenseBlock(16),))
    return _fit(task[0], arch)


@pytest.fixture(scope="module")
def net_mlp(task: Task) -> SpectralNetwork:
    return _fit(task[0], mlp(units=(16,), dropout=0.0), routes=("raw",))


def _r(network: SpectralNetwork, test: Spectra) -> float:
    return float(np.corrcoef(network.predict(test.X)[:, 0], test.y[:, 0])[0, 1])


def _peak(info: GradCamInfo) -> float:
    """Wavelength of the largest relevance over all routes."""
    return float(info.wavelengths[np.argmax(info.cam) % info.cam.shape[1]])


def test_hires_cam_peaks_on_the_signal_band(cnn: SpectralNetwork, task: Task) -> None:
    test = task[1]
    assert _r(cnn, test) > 0.95  # it learned the task
    info = explain(cnn, test)
    assert info.method == "hires_cam"
    assert info.route_names == ("raw", "snv") and info.cam.shape == (2, 100)
    assert info.cam.max() == pytest.approx(1.0) and info.cam.min() >= 0.0
    width = BAND[1] - BAND[0]
    assert BAND[0] - width <= _peak(info) <= BAND[1] + width
    for row in info.cam:  # each route on its own points to the band as well
        assert BAND[0] - width <= info.wavelengths[np.argmax(row)] <= BAND[1] + width
    np.testing.assert_allclose(info.mean_spectrum, test.X.mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("method", ["integrated_gradients", "gradient_x_input"])
def test_attributions_of_an_mlp_peak_on_the_band(
    net_mlp: SpectralNetwork, task: Task, method: str
) -> None:
    pytest.importorskip("captum")
    test = task[1]
    assert _r(net_mlp, test) > 0.95
    info = explain(net_mlp, test, method=method)
    assert info.method == method and info.cam.shape == (1, 100)
    width = BAND[1] - BAND[0]
    assert BAND[0] - width <= _peak(info) <= BAND[1] + width


def test_explain_auto_uses_integrated_gradients_without_conv(
    net_mlp: SpectralNetwork, task: Task
) -> None:
    pytest.importorskip("captum")
    assert explain(net_mlp, task[1][:5]).method == "integrated_gradients"
    with pytest.raises(ValueError, match="input_attribution"):
        grad_cam(net_mlp, task[1][:5])


def _hand_cam(network: SpectralNetwork, X: np.ndarray, weighting: str) -> np.ndarray:
    """Grad-CAM recomputed from the model's parts, with NumPy's linear interpolation."""
    model, block = network.model.eval(), network.model.features[-1]
    x = torch.as_tensor(network.transform(X))
    pre = block.conv(block.pad(x) if hasattr(block, "pad") else x)
    acts = block.act(pre).detach().requires_grad_()
    rest = block.pool(acts) if hasattr(block, "pool") else acts
    out = model.output(model.head(model.flatten(rest)))[:, 0].sum()
    (grads,) = torch.autograd.grad(out, acts)
    a, g = acts.detach().numpy(), grads.numpy()
    w = g.mean(axis=2, keepdims=True) if weighting == "mean" else g
    cam = np.maximum((w * a).sum(axis=1), 0.0).mean(axis=0)  # [L']
    length = x.shape[-1]
    # torch's linear interpolation, align_corners=False: source = (i + 0.5) * L'/L - 0.5
    source = np.clip((np.arange(length) + 0.5) * len(cam) / length - 0.5, 0, None)
    full = np.interp(source, np.arange(len(cam)), cam)
    return full / full.max()


@pytest.mark.parametrize("weighting", ["mean", "elementwise"])
def test_grad_cam_matches_a_hand_computation(task: Task, weighting: str) -> None:
    # A "valid" strided conv makes L' != L, so the interpolation is exercised too.
    arch = ArchSpec(conv=(ConvBlock(4, 7, stride=2, pool="max"),), fc=(DenseBlock(8),))
    network = _fit(task[0], arch, epochs=3)
    X = task[1].X[:10]
    info = grad_cam(network, X, weighting=weighting)
    expected = _hand_cam(network, X, weighting)
    assert len(expected) == 200 and info.route_names == ("raw", "snv")
    np.testing.assert_allclose(info.cam, expected.reshape(2, 100), atol=1e-5)
    np.testing.assert_array_equal(info.wavelengths, np.arange(100.0))  # arrays: point indices


def test_stacked_channels_give_one_cam_row_named_after_all_channels(task: Task) -> None:
    arch = ArchSpec(conv=(ConvBlock(4, 5, padding="same"),), fc=(DenseBlock(8),))
    network = _fit(task[0], arch, routes=("raw", "snv"), combine="stack", epochs=2)
    info = grad_cam(network, task[1])
    assert info.cam.shape == (1, 100)
    assert info.route_names == ("all channels: raw, snv",)
    np.testing.assert_array_equal(info.wavelengths, task[1].wavelengths)


def test_bad_target_and_weighting_are_refused(cnn: SpectralNetwork, task: Task) -> None:
    with pytest.raises(ValueError, match=r"target column in \[0, 0\]; got 1"):
        grad_cam(cnn, task[1], target=1)
    with pytest.raises(ValueError, match="weighting must be"):
        grad_cam(cnn, task[1], weighting="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wavelengths has 3 values"):
        grad_cam(cnn, task[1].X, wavelengths=[1, 2, 3])


def test_tertile_groups_hold_the_right_samples(cnn: SpectralNetwork, task: Task) -> None:
    test = task[1]
    groups = explain_groups(cnn, test)
    y = test.y[:, 0]
    edges = np.quantile(y, [0, 1 / 3, 2 / 3, 1])
    members = [(y >= edges[0]) & (y < edges[1]), (y >= edges[1]) & (y < edges[2]),
               y >= edges[2]]
    assert [label.split()[0] for label, _ in groups] == ["low", "mid", "high"]
    for (label, info), chosen in zip(groups, members, strict=True):
        assert info.n_samples == chosen.sum()
        np.testing.assert_allclose(info.mean_spectrum, test.X[chosen].mean(axis=0), rtol=1e-6)
    # the band carries y, so the high group's explanation still points to it
    width = BAND[1] - BAND[0]
    assert BAND[0] - width <= _peak(groups[-1][1]) <= BAND[1] + width


def test_class_groups_use_each_class_logit() -> None:
    spectra, _ = make_synthetic(60, 40, task="classification", n_classes=3, random_state=1)
    arch = ArchSpec(conv=(ConvBlock(4, 5, padding="same"),), fc=(DenseBlock(8),),
                    n_outputs=3, task="classification")
    network = _fit(spectra, arch, routes=("raw",), epochs=2, task="classification")
    groups = explain_groups(network, spectra)
    assert [label for label, _ in groups] == ["class 0", "class 1", "class 2"]
    assert [info.target for _, info in groups] == [0, 1, 2]
    assert [info.n_samples for _, info in groups] == [20, 20, 20]
    with pytest.raises(ValueError, match="needs y"):
        explain_groups(network, spectra.X)


def test_split_routes_matches_each_route_alone() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 1.0, size=(5, 2, 30))  # two raw channels
    for combine in ("concat", "stack"):
        spec = PreprocessingSpec(("raw", "snv", "sg1"), combine, standardise=False)
        out = spec.build().fit_transform(X)
        names, parts = split_routes(out, spec.routes, combine, 30)
        assert names == spec.routes and parts.shape == (3, 5, 2, 30)
        for name, part in zip(names, parts, strict=True):
            np.testing.assert_allclose(part, make_route(name).fit_transform(X), rtol=1e-6)
    with pytest.raises(ValueError, match="does not split into 3 concatenated routes of 31"):
        split_routes(out, spec.routes, "concat", 31)


def _hand_vip(pls: PLSRegression) -> np.ndarray:
    """Wold's VIP written as loops: VIP_j^2 = p * sum_a SS_a (w_ja/|w_a|)^2 / sum_a SS_a."""
    p, n_comp = pls.x_weights_.shape
    ss = []
    for a in range(n_comp):
        t = pls.x_scores_[:, a]
        q = pls.y_loadings_[:, a]
        ss.append(sum(qk**2 for qk in q) * sum(ti**2 for ti in t))
    vip = np.empty(p)
    for j in range(p):
        total = 0.0
        for a in range(n_comp):
            w = pls.x_weights_[:, a]
            total += ss[a] * (w[j] / np.sqrt(np.sum(w**2))) ** 2
        vip[j] = np.sqrt(p * total / sum(ss))
    return vip


@pytest.mark.parametrize("n_targets", [1, 2])
def test_vip_matches_hand_formula(n_targets: int) -> None:
    spectra, _ = make_synthetic(40, 25, n_targets=n_targets, random_state=2)
    pls = PLSRegression(3, scale=False).fit(spectra.X[:, 0], spectra.y)
    vip = vip_scores(pls)
    np.testing.assert_allclose(vip, _hand_vip(pls), rtol=1e-10)
    assert np.mean(vip**2) == pytest.approx(1.0)  # VIP's defining normalisation


def test_pls_coefficients_per_target_route_and_class(task: Task) -> None:
    train = task[0]
    X, wl = train.X[:, 0], train.wavelengths
    model = PLSRegressionCV(4, routes=["snv+sg1"], cv=3, random_state=0).fit(X, train.y[:, 0])
    info = get_pls_coefficients_info(model, wavelengths=wl)
    pls = model.pipeline_[-1]
    assert info.coef.shape == (1, 1, 100) and info.vip.shape == (1, 100)
    np.testing.assert_array_equal(info.coef[0, 0], pls.coef_[0])
    assert info.route_names == ("snv+sg1",) and "preprocessed" in info.axis_label
    assert info.n_components == model.n_components_
    labels = np.repeat(["a", "b"], 60)
    da = PLSDAClassifierCV(3, routes=["raw"], cv=3, random_state=0).fit(X, labels)
    da_info = get_pls_coefficients_info(da, wavelengths=wl)
    assert da_info.target_names == ("a", "b") and da_info.coef.shape == (2, 1, 100)
    assert da_info.axis_label == "wavelength"
    routes = ConcatenateRoutes([("raw", make_route("raw")), ("sg1", make_route("sg1"))])
    pipe = Pipeline([("routes", routes), ("pls", PLSRegression(2, scale=False))])
    pipe.fit(X, train.y)
    both = get_pls_coefficients_info(pipe, wavelengths=wl, target_names=["c0"])
    assert both.route_names == ("raw", "sg1") and both.coef.shape == (1, 2, 100)
    np.testing.assert_array_equal(both.coef[0].ravel(), pipe[-1].coef_[0])
    np.testing.assert_allclose(both.vip.ravel(), _hand_vip(pipe[-1]), rtol=1e-10)
    with pytest.raises(ValueError, match="expected a fitted PLS model"):
        get_pls_coefficients_info(routes)


def test_input_attribution_refuses_an_unknown_method(
    net_mlp: SpectralNetwork, task: Task
) -> None:
    pytest.importorskip("captum")
    with pytest.raises(ValueError, match="method must be"):
        input_attribution(net_mlp, task[1], method="saliency")  # type: ignore[arg-type]
