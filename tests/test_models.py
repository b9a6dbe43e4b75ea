"""Architectures, the Classifier (resampling, prediction, validation) and saving/loading."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import xrdsynth as xs
import xrdsynth.examples
from xrdsynth.models import (
    ARCHITECTURES,
    Classifier,
    InputSpec,
    Prediction,
    PretrainedBundle,
    build_model,
    load_pretrained,
    resample_pattern,
    save_pretrained,
)
from xrdsynth.simulate import WAVELENGTHS
from xrdsynth.symmetry import CRYSTAL_SYSTEMS, SpaceGroup, crystal_system

SMALL = {
    "resnet10": {"width": 8},
    "resnet18": {"width": 8},
    "resnet50": {"width": 4},
    "resnet101": {"width": 4},
    "park2017": {"in_points": 3600},
    "convnext": {"depths": (1, 1, 1, 1), "dims": (8, 16, 16, 32)},
}


def small_classifier(points: int = 600, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    spec = InputSpec(10.0, 70.0, points, wavelength=1.540593)
    return Classifier.from_architecture("resnet10", spec, width=8).eval()


def gaussian(x: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    return np.exp(-4.0 * math.log(2.0) * ((x - centre) / fwhm) ** 2)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_maps_patterns_to_230_logits(name):
    assert name in SMALL, "give every architecture a small test configuration"
    model = build_model(name, **SMALL[name]).eval()
    x = torch.rand(3, SMALL[name].get("in_points", 1200))
    with torch.no_grad():
        logits = model(x)
        assert logits.shape == (3, 230)
        assert torch.isfinite(logits).all()
        # (B, 1, P) is the same input as (B, P), and one pattern alone gives its row of the batch.
        torch.testing.assert_close(model(x[:, None]), logits)
        torch.testing.assert_close(model(x[1:2]), logits[1:2], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["resnet10", "convnext"])
def test_architectures_reject_other_shapes(name):
    model = build_model(name, **SMALL[name])
    with pytest.raises(ValueError, match="shape"):
        model(torch.rand(2, 3, 1200))


def test_build_model_rejects_unknown_names_and_arguments():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet9000")
    with pytest.raises(ValueError, match="bad arguments"):
        build_model("resnet10", colour="red")


def test_gradients_reach_every_parameter():
    model = build_model("resnet10", width=8)
    model(torch.rand(2, 800)).logsumexp(-1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_position_head_starts_at_zero_reads_where_a_feature_stands_and_checks_the_length():
    torch.manual_seed(0)
    pooled = build_model("resnet10", width=8)
    headed = build_model("resnet10", width=8, position_points=800)
    missing, unexpected = headed.load_state_dict(pooled.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("position_head.") for k in missing)
    x = torch.rand(3, 800)
    with torch.no_grad():
        torch.testing.assert_close(headed.eval()(x), pooled.eval()(x))  # a zero head adds nothing
        # Given weights, the head tells a peak at 20 % of the pattern from the same peak at 70 %, which the
        # pooled head (average over 2θ of the last stage) can tell only through the padding at the ends.
        headed.position_head[-1].weight.normal_()
        peak = torch.exp(-0.5 * ((torch.arange(800.0)[None] - torch.tensor([[160.0], [560.0]])) / 3) ** 2)
        a, b = headed(peak), pooled.eval()(peak)
    assert (a[0] - a[1]).abs().max() > 10 * (b[0] - b[1]).abs().max()
    with pytest.raises(ValueError, match="reads 800 points, got 801"):
        headed(torch.rand(2, 801))


# ------------------------------------------------------------------------------------------- resampling
def test_resampling_keeps_a_smooth_pattern_on_its_own_grid():
    spec = InputSpec(10.0, 70.0, 601, wavelength=1.5406)
    y = gaussian(spec.two_theta, 40.0, 1.0)
    out = resample_pattern(spec.two_theta, y, 1.5406, spec)[0]
    np.testing.assert_allclose(out, y, atol=2e-3)


def test_resampling_converts_wavelengths_through_d_spacing():
    spec = InputSpec(5.0, 90.0, 8501, wavelength=1.540593)
    d = 2.5  # Å
    mo = 0.709317
    two_theta_mo = 2.0 * math.degrees(math.asin(mo / (2.0 * d)))
    x = np.linspace(5.0, 60.0, 20001)
    out = resample_pattern(x, gaussian(x, two_theta_mo, 0.05), mo, spec)[0]
    expected = 2.0 * math.degrees(math.asin(spec.wavelength / (2.0 * d)))
    assert abs(spec.two_theta[out.argmax()] - expected) <= 0.01 + 1e-9


def test_resampling_a_fine_scan_conserves_peak_area():
    spec = InputSpec(10.0, 70.0, 1501, wavelength=1.5406)  # 0.04° cells
    x = np.linspace(10.0, 70.0, 12001)  # 0.005° steps: many points per cell
    y = gaussian(x, 33.3, 0.06) + gaussian(x, 51.0, 0.2)
    out = resample_pattern(x, y, 1.5406, spec)[0]
    np.testing.assert_allclose(out.sum() * 0.04, np.trapezoid(y, x), rtol=1e-3)


def test_resampling_outside_the_measured_range_is_zero():
    spec = InputSpec(5.0, 90.0, 851, wavelength=1.5406)
    x = np.linspace(20.0, 60.0, 401)
    out = resample_pattern(x, np.ones_like(x), 1.5406, spec)[0]
    assert np.all(out[spec.two_theta < 19.9] == 0)
    assert np.all(out[spec.two_theta > 60.1] == 0)
    np.testing.assert_allclose(out[(spec.two_theta > 20.1) & (spec.two_theta < 59.9)], 1.0)


def test_coarse_scan_matches_np_interp_up_to_its_ends():
    """Cells coarser than the scan take the interpolated value, and the scan's end value beyond its ends."""
    spec = InputSpec(10.0, 70.0, 601, wavelength=1.5406)  # 0.1° cells
    x = np.arange(20.03, 60.0, 0.2)  # coarser than the cells, ends inside cells
    y = np.sin(x / 3.0) + 2.0
    out = resample_pattern(x, y, 1.5406, spec)[0]
    covered = (spec.two_theta + 0.05 > x[0]) & (spec.two_theta - 0.05 < x[-1])
    np.testing.assert_allclose(out[covered], np.interp(spec.two_theta[covered], x, y), rtol=1e-12)


def test_resampling_of_an_irregular_scan_matches_exact_cell_integrals():
    """Against an independent reference: each cell's mean from the trapezoid rule over the cell's edges and
    the measured points inside it (exact for the piecewise-linear pattern), or np.interp at the centre of
    cells with fewer than two points; 0 outside the scan. Irregular steps give both kinds of cell."""
    spec = InputSpec(10.0, 20.0, 101, wavelength=1.5406)  # 0.1° cells
    rng = np.random.default_rng(7)
    x = np.unique(np.concatenate([rng.uniform(11.0, 14.0, 300), rng.uniform(14.0, 19.0, 25)]))
    y = rng.uniform(0.0, 10.0, (3, x.size))
    out = resample_pattern(x, y, 1.5406, spec)
    step = 0.1
    for k, centre in enumerate(spec.two_theta):
        a, b = max(centre - step / 2, x[0]), min(centre + step / 2, x[-1])
        inside = (x > centre - step / 2) & (x < centre + step / 2)
        if b <= a:
            np.testing.assert_array_equal(out[:, k], 0.0)
        elif np.count_nonzero((x >= centre - step / 2) & (x < centre + step / 2)) >= 2:
            points = np.concatenate([[a], x[inside], [b]])
            for row in range(3):
                mean = np.trapezoid(np.interp(points, x, y[row]), points) / (b - a)
                np.testing.assert_allclose(out[row, k], mean, rtol=1e-12)
        else:
            for row in range(3):
                expected = np.interp(np.clip(centre, x[0], x[-1]), x, y[row])
                np.testing.assert_allclose(out[row, k], expected, rtol=1e-12)


# ------------------------------------------------------------------------------------------- prediction
def test_predict_proba_gives_probabilities_per_pattern():
    clf = small_classifier()
    x = np.linspace(8.0, 75.0, 3000)
    y = np.stack([gaussian(x, 30.0, 0.2), gaussian(x, 44.0, 0.3) + 0.5 * gaussian(x, 20.0, 0.2)])
    p = clf.predict_proba(x, y, wavelength="CuKa1")
    assert p.shape == (2, 230)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    # One pattern alone gives its row; scaling the counts does not change the answer.
    np.testing.assert_allclose(clf.predict_proba(x, y[1], wavelength=1.540593)[0], p[1], atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(x, 1000.0 * y, wavelength="CuKa1"), p, atol=1e-6)


def test_predict_names_the_top_groups():
    clf = small_classifier()
    x = np.linspace(8.0, 75.0, 3000)
    (prediction,) = clf.predict(x, gaussian(x, 30.0, 0.2), wavelength="CuKa1", top=5)
    p = clf.predict_proba(x, gaussian(x, 30.0, 0.2), wavelength="CuKa1")[0]
    assert isinstance(prediction, Prediction)
    assert list(prediction.space_group) == (np.argsort(-p)[:5] + 1).tolist()
    assert list(prediction.probability) == sorted(prediction.probability, reverse=True)
    for i, n in enumerate(prediction.space_group):
        assert prediction.symbol[i] == SpaceGroup(n).symbol
        assert prediction.crystal_system[i] == crystal_system(n)
    assert set(prediction.crystal_system_probability) == set(CRYSTAL_SYSTEMS)
    assert math.isclose(sum(prediction.crystal_system_probability.values()), 1.0, abs_tol=1e-6)
    as_json = json.loads(json.dumps(prediction.to_dict()))
    assert as_json["space_groups"][0]["number"] == prediction.space_group[0]
    assert prediction.symbol[0] in str(prediction)


_X = np.linspace(10.0, 30.0, 30)
_Y = 1.0 + np.sin(_X)  # anything that varies: a flat pattern is refused for its own reason


@pytest.mark.parametrize(
    ("two_theta", "intensity", "wavelength", "message"),
    [
        (np.where(_X > 25, np.nan, _X), _Y, 1.54, "NaN"),
        (_X, np.where(_X > 25, np.inf, _Y), 1.54, "NaN"),
        (_X[[0, 2, 1, *range(3, 30)]], _Y, 1.54, "increasing"),
        (_X, np.ones(31), 1.54, "shape"),
        (_X, _Y, -1.0, "wavelength"),
        (_X, _Y, "XxKa9", "wavelength"),
        (_X[None], _Y, 1.54, "1-D"),
        (_X - 15.0, _Y, 1.54, "180"),
    ],
)
def test_bad_measured_input_raises_value_error(two_theta, intensity, wavelength, message):
    with pytest.raises(ValueError, match=message):
        small_classifier().predict_proba(two_theta, intensity, wavelength=wavelength)


def test_bad_top_and_grid_raise():
    clf = small_classifier()
    x = np.linspace(10.0, 70.0, 100)
    with pytest.raises(ValueError, match="top"):
        clf.predict(x, np.ones(100), top=0)
    with pytest.raises(ValueError, match="model's grid"):
        clf(torch.rand(2, 599))


def test_classifier_reads_a_simulated_pattern_on_another_grid_like_its_own():
    """Simulating on the model's grid, or on a finer one at Mo Kα and resampling, gives the same answer."""
    clf = small_classifier(points=1501)
    crystal = xs.Crystal.from_cif(xs.examples.cif_path("quartz"))
    on_grid = xs.PowderSimulator(two_theta=(10.0, 70.0, 1501), crystallite_size_nm=50.0)([crystal])
    direct = clf.probabilities_on_grid(on_grid)[0].double().numpy()
    mo = xs.PowderSimulator(two_theta=(3.0, 33.0, 12001), wavelength="MoKa1", crystallite_size_nm=50.0)
    resampled = clf.predict_proba(mo.two_theta.numpy(), mo([crystal])[0].numpy(), wavelength="MoKa1")[0]
    assert np.argmax(resampled) == np.argmax(direct)
    assert np.abs(resampled - direct).sum() < 0.1


# ------------------------------------------------------------------------------------------- save / load
def test_save_and_load_give_the_same_classifier(tmp_path):
    clf = small_classifier()
    clf.card = {"recipe": "test", "samples_seen": 0}
    save_pretrained(clf, tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert not loaded.training
    assert loaded.spec == clf.spec
    assert loaded.card == clf.card
    x = torch.rand(2, clf.spec.num_points)
    torch.testing.assert_close(loaded(x), clf(x))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["card.json", "weights.pt"]


def test_loading_checks_the_weights(tmp_path):
    save_pretrained(small_classifier(), tmp_path / "m")
    weights = tmp_path / "m" / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[-20] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="no classifier"):
        load_pretrained(tmp_path / "missing")
    with pytest.raises(ValueError, match="no classifier"):
        load_pretrained("no-such-model")


def test_loading_rejects_weights_of_another_architecture(tmp_path):
    save_pretrained(small_classifier(), tmp_path / "m")
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    card["architecture_kwargs"] = {"width": 16}
    (tmp_path / "m" / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="do not fit"):
        load_pretrained(tmp_path / "m")


def test_a_saved_folder_is_a_bundle(tmp_path):
    clf = small_classifier()
    clf.temperature, clf.threshold = 1.5, 0.4
    clf.card = {"recipe": "test"}
    bundle = PretrainedBundle.from_folder(save_pretrained(clf, tmp_path / "m"))
    assert (bundle.name, bundle.architecture, bundle.spec) == ("m", "resnet10", clf.spec)
    assert (bundle.temperature, bundle.threshold, bundle.log_prior_ratio) == (1.5, 0.4, None)
    assert bundle.weights_path == tmp_path / "m" / "weights.pt"
    assert bundle == PretrainedBundle.from_folder(tmp_path / "m") and len({bundle, bundle}) == 1
    loaded = bundle.get_model()
    assert not loaded.training and loaded.temperature == 1.5 and loaded.card == {"recipe": "test"}
    x = torch.rand(2, clf.spec.num_points)
    torch.testing.assert_close(loaded(x), clf(x))


def test_bundles_check_what_they_load(tmp_path):
    bundle = PretrainedBundle.from_folder(save_pretrained(small_classifier(), tmp_path / "m"))
    with pytest.raises(ValueError, match="sha256"):
        dataclasses.replace(bundle, weights_sha256="0" * 64).get_model()
    with pytest.raises(ValueError, match="64 lower-case hex"):
        dataclasses.replace(bundle, weights_sha256="not a checksum")
    with pytest.raises(ValueError, match="do not fit"):
        dataclasses.replace(bundle, architecture_kwargs={"width": 16}).get_model()
    with pytest.raises(ValueError, match="unknown architecture"):
        dataclasses.replace(bundle, architecture="resnet9000").get_model()
    (tmp_path / "m" / "weights.pt").unlink()
    with pytest.raises(ValueError, match=r"missing weights\.pt"):
        bundle.get_model()
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    del card["weights_sha256"]
    (tmp_path / "m" / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="incomplete"):
        PretrainedBundle.from_folder(tmp_path / "m")
    with pytest.raises(ValueError, match="not a readable model card"):
        PretrainedBundle.from_folder(tmp_path / "missing")


def test_input_spec_rejects_nonsense():
    with pytest.raises(ValueError):
        InputSpec(90.0, 5.0, 100)
    with pytest.raises(ValueError):
        InputSpec(5.0, 90.0, 3)
    with pytest.raises(ValueError):
        InputSpec(5.0, 90.0, 100, wavelength=0.0)


def test_resampling_converts_intensities_to_the_models_wavelength():
    """Quartz simulated at Mo Kα1 over the d range of a 5–90° Cu scan, resampled to the Cu grid, against the
    same crystal simulated at Cu Kα1 (an independent reference: the simulator's own Lorentz–polarisation at
    each wavelength). Widths from the crystallite size map exactly through d, so the heights must agree."""
    spec = InputSpec(5.0, 90.0, 4251, wavelength=WAVELENGTHS["CuKa1"])
    mo = WAVELENGTHS["MoKa1"]
    sines = [mo / spec.wavelength * math.sin(math.radians(t) / 2) for t in (5.0, 90.0)]
    x = np.linspace(*(2.0 * math.degrees(math.asin(s)) for s in sines), 20001)
    quartz = xs.Crystal.from_cif(xrdsynth.examples.cif_path("quartz"))
    at_mo = xs.PowderSimulator(two_theta=x, wavelength="MoKa1", crystallite_size_nm=50.0)([quartz])[0]
    at_cu = xs.PowderSimulator(two_theta=spec.grid, wavelength="CuKa1", crystallite_size_nm=50.0)([quartz])[0]
    out = resample_pattern(x, at_mo.double().numpy(), mo, spec)[0]
    reference = at_cu.double().numpy()
    assert np.abs(out / out.max() - reference / reference.max()).max() < 0.005
