"""Classifier on measured input: refusals of what cannot be a pattern, wavelength, calibration, abstention,
enantiomorphs, background removal."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import spglib
import torch

import xrdsynth as xs
from xrdsynth.examples import cif_path
from xrdsynth.io import MeasuredPattern
from xrdsynth.models import Classifier, InputSpec, load_pretrained, preprocess, save_pretrained
from xrdsynth.simulate import WAVELENGTHS
from xrdsynth.symmetry import ENANTIOMORPHIC_PAIRS, SpaceGroup, enantiomorph


def small_classifier(points: int = 600, background: float = 0.0) -> Classifier:
    torch.manual_seed(0)
    spec = InputSpec(10.0, 70.0, points, wavelength=1.540593, background_window_deg=background)
    return Classifier.from_architecture("resnet10", spec, width=8).eval()


def peaks(x: np.ndarray) -> np.ndarray:
    return sum(np.exp(-4 * math.log(2) * ((x - c) / 0.2) ** 2) for c in (21.0, 30.5, 44.0, 60.0))


X = np.linspace(10.0, 70.0, 1201)


# ------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("two_theta", "intensity", "match"),
    [
        (X, np.zeros_like(X), "flat"),
        (X, np.full_like(X, 3.0), "flat"),
        (X, -1.0 - peaks(X), "no positive intensity"),
        (X, np.where(X > 30, np.nan, peaks(X)), "NaN"),
        (X[:3], peaks(X[:3]), "at least"),
        (np.radians(X), peaks(X), "not radians"),
        (np.concatenate([X[:600], X[601:602], X[600:601], X[602:]]), peaks(X), "increasing"),
        (X, peaks(X)[:-1], r"shape \(1201,\) or \(N, 1201\), got \(1200,\)"),
    ],
    ids=["zeros", "constant", "negative", "nan", "three-points", "radians", "unsorted", "lengths"],
)
def test_what_cannot_be_a_pattern_is_refused(two_theta, intensity, match) -> None:
    with pytest.raises(ValueError, match=match):
        small_classifier().predict(two_theta, intensity, wavelength="CuKa1")


def test_a_scan_from_high_to_low_angle_reads_as_the_same_scan_reversed() -> None:
    clf = small_classifier()
    forward = clf.predict_proba(X, peaks(X), wavelength="CuKa1")
    backward = clf.predict_proba(X[::-1], peaks(X)[::-1], wavelength="CuKa1")
    np.testing.assert_allclose(backward, forward, rtol=1e-6, atol=1e-9)
    # Several patterns on one decreasing grid: each reversed along 2θ.
    both = np.stack([peaks(X), peaks(X + 0.5)])
    np.testing.assert_allclose(
        clf.predict_proba(X[::-1], both[:, ::-1], wavelength="CuKa1"),
        clf.predict_proba(X, both, wavelength="CuKa1"),
        rtol=1e-6,
        atol=1e-9,
    )


def mo_angle(d: float, wavelength: float) -> float:
    return 2 * math.degrees(math.asin(wavelength / (2 * d)))


MO_SPACINGS = ((4.26, 0.35), (3.34, 1.0), (2.46, 0.12), (2.28, 0.1), (2.13, 0.08), (1.82, 0.2), (1.54, 0.15))


def mo_scan(kalpha2: float, kbeta: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A scan at Mo Kα covering Cu 10-70° (the small classifier's range): Gaussian peaks of 0.05° at the Mo
    Kα1 angles of ``MO_SPACINGS``, ``kalpha2`` times as high at their Kα2 angles and ``kbeta`` times at their
    Kβ angles, over a flat 0.05."""
    x = np.linspace(mo_angle(8.8, 0.709319), mo_angle(1.35, 0.709319), 4000)
    y = np.full_like(x, 0.05)
    for d, height in MO_SPACINGS:
        for wavelength, scale in ((0.709319, 1.0), (0.713609, kalpha2), (0.63229, kbeta)):
            y += scale * height * np.exp(-4 * math.log(2) * ((x - mo_angle(d, wavelength)) / 0.05) ** 2)
    return x, y


def test_a_far_kalpha2_line_is_found_and_stripped_before_reading() -> None:
    """A Mo Kα doublet is read as its Kα2-stripped pattern on the model's grid whether the wavelength is given
    as a number, as Kα1 or as the doublet, or stated by a MeasuredPattern (at its ratio); a Mo scan without
    the Kα2 line, and a Cu doublet (the model's own kind), are read as they are."""
    clf = small_classifier()
    grid = torch.as_tensor(clf.spec.two_theta)

    def on_grid(x, y, wavelength, strip_ratio=None):
        converted = torch.as_tensor(xs.models.resample_pattern(x, y[None], wavelength, clf.spec))
        if strip_ratio is not None:
            converted = xs.transforms.strip_kalpha2(converted, grid, 0.709319, 0.713609, strip_ratio)
        return clf.probabilities_on_grid(converted.float()).numpy()

    x, doublet = mo_scan(0.5)
    stripped = on_grid(x, doublet, 0.709319, 0.5)
    assert not np.allclose(stripped, on_grid(x, doublet, 0.709319), atol=1e-4)
    for wavelength in (0.709319, "MoKa1", "MoKa"):
        np.testing.assert_allclose(clf.predict_proba(x, doublet, wavelength=wavelength), stripped, atol=1e-6)
    stated = MeasuredPattern(x, doublet, wavelength=0.709319, wavelength2=0.713609, ratio=0.45)
    np.testing.assert_allclose(clf.predict_proba(stated), on_grid(x, doublet, 0.709319, 0.45), atol=1e-6)
    x, single = mo_scan(0.0)
    np.testing.assert_allclose(
        clf.predict_proba(x, single, wavelength="MoKa"), on_grid(x, single, 0.709319), atol=1e-6
    )
    cu = np.linspace(10.0, 70.0, 3000)
    cu_doublet = sum(
        h * np.exp(-4 * math.log(2) * ((cu - mo_angle(d, w)) / 0.1) ** 2)
        for d, h in MO_SPACINGS
        for w in (1.540593, 1.544414)
    )
    np.testing.assert_allclose(
        clf.predict_proba(cu, cu_doublet, wavelength="CuKa"), on_grid(cu, cu_doublet, 1.540593), atol=1e-6
    )


def test_a_kbeta_residue_of_another_tube_is_stripped_where_the_model_strips_its_own() -> None:
    """A model that strips its own tube's Kβ residue (kbeta_strip) strips a Mo scan's Kβ residue too, found on
    its grid with the Mo lines; a model that does not, does neither."""
    torch.manual_seed(0)
    spec = InputSpec(10.0, 70.0, 600, wavelength=1.540593, background_window_deg=0.0, kbeta_strip=True)
    clf = Classifier.from_architecture("resnet10", spec, width=8).eval()
    grid = torch.as_tensor(spec.two_theta)
    x, y = mo_scan(0.0, kbeta=0.02)
    # predict_proba holds the converted scan in float32, as the network reads it.
    converted = torch.as_tensor(xs.models.resample_pattern(x, y[None], 0.709319, spec)).float().double()
    stripped = xs.transforms.strip_kbeta(converted, grid, 0.709319, 0.63229)
    assert float((stripped - converted).abs().max()) > 0.005  # the residue was found and removed
    expected = clf.probabilities_on_grid(stripped.float()).numpy()
    np.testing.assert_allclose(clf.predict_proba(x, y, wavelength="MoKa1"), expected, atol=1e-6)
    plain = small_classifier()
    np.testing.assert_allclose(
        plain.predict_proba(x, y, wavelength="MoKa1"),
        plain.probabilities_on_grid(converted.float()).numpy(),
        atol=1e-6,
    )


def test_a_wavelength_is_required_with_arrays() -> None:
    with pytest.raises(ValueError, match="wavelength is required"):
        small_classifier().predict_proba(X, peaks(X))


def test_no_overlap_with_the_models_d_range_is_refused_and_partial_overlap_warns() -> None:
    clf = small_classifier()
    # Mo Kα at 1-3°: d-spacings far beyond those of Cu 10-70°.
    low = np.linspace(1.0, 3.0, 400)
    with pytest.raises(ValueError, match="covers none"):
        clf.predict_proba(low, peaks(low * 10), wavelength="MoKa1")
    part = np.linspace(55.0, 80.0, 600)  # 55-70 of the model's 10-70: a quarter
    with pytest.warns(UserWarning, match="covers|starts") as record:
        clf.predict_proba(part, peaks(part), wavelength="CuKa1")
    messages = [str(w.message) for w in record]
    assert any("covers 25%" in m for m in messages)  # and it starts late, below
    assert any("starts at 55.0°" in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict_proba(X, peaks(X), wavelength="CuKa1")  # the whole range: no warning
        early = np.linspace(20.0, 70.0, 800)  # starting at 20°, as the training scans may: no warning
        clf.predict_proba(early, peaks(early), wavelength="CuKa1")


def test_a_scan_that_starts_late_warns_with_the_largest_spacing_it_holds() -> None:
    """From 30° (Cu Kα1) the reflections above d = 2.98 Å are missing: a warning says so, also when the
    scan covers most of the model's range; the same scan in Mo Kα is judged on the model's (Cu) scale."""
    clf = small_classifier()
    late = np.linspace(30.0, 70.0, 800)
    with pytest.warns(UserWarning, match=r"starts at 30\.0° on the model's scale .*d = 2\.98 Å"):
        clf.predict_proba(late, peaks(late), wavelength="CuKa1")
    # 13.5° at Mo Kα1 is d = 3.02 Å, 29.6° at Cu Kα1.
    mo = np.linspace(13.5, 30.0, 800)
    with pytest.warns(UserWarning, match=r"starts at 29\.6°"):
        clf.predict_proba(mo, peaks(mo), wavelength="MoKa1")


def test_a_measured_pattern_brings_its_wavelength() -> None:
    clf = small_classifier()
    mo = np.linspace(4.0, 33.0, 1500)
    pattern = MeasuredPattern(mo, peaks(mo * 2.1), wavelength=0.709319)
    from_pattern = clf.predict_proba(pattern)
    np.testing.assert_allclose(from_pattern, clf.predict_proba(mo, peaks(mo * 2.1), wavelength="MoKa1"))
    with pytest.raises(ValueError, match="states no wavelength"):
        clf.predict_proba(MeasuredPattern(mo, peaks(mo * 2.1)))
    with pytest.raises(ValueError, match="alone"):
        clf.predict_proba(pattern, pattern.intensity)


# ------------------------------------------------------------------------------- calibration, abstention
def test_temperature_divides_the_logits_and_keeps_the_ranking() -> None:
    clf = small_classifier()
    raw = clf.predict_proba(X, peaks(X), wavelength="CuKa1")[0]
    clf.temperature = 2.5
    calibrated = clf.predict_proba(X, peaks(X), wavelength="CuKa1")[0]
    expected = np.exp(np.log(raw) / 2.5)
    np.testing.assert_allclose(calibrated, expected / expected.sum(), rtol=1e-5)
    assert np.argmax(raw) == np.argmax(calibrated)
    assert calibrated.max() < raw.max()  # a temperature above 1 softens


def test_prior_correction_multiplies_the_probabilities_and_survives_saving(tmp_path) -> None:
    clf = small_classifier()
    raw = clf.predict_proba(X, peaks(X), wavelength="CuKa1")[0]
    ratio = np.linspace(-1.0, 1.0, 230)
    clf.log_prior_ratio = tuple(ratio)
    corrected = clf.predict_proba(X, peaks(X), wavelength="CuKa1")[0]
    expected = raw * np.exp(ratio)  # Bayes' rule for a change of class prior
    np.testing.assert_allclose(corrected, expected / expected.sum(), rtol=1e-4)
    loaded = load_pretrained(save_pretrained(clf, tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict_proba(X, peaks(X), wavelength="CuKa1")[0], corrected, rtol=1e-6)
    on_grid = torch.as_tensor(peaks(loaded.spec.two_theta))[None]
    raw_again = loaded.probabilities_on_grid(on_grid, calibrated=False)
    assert raw_again.shape == (1, 230)
    with pytest.raises(ValueError, match="log_prior_ratio"):
        Classifier(clf.model, clf.spec, "resnet10", log_prior_ratio=np.zeros(5))


def test_threshold_marks_unsure_predictions_and_survives_saving(tmp_path) -> None:
    clf = small_classifier()
    (confident,) = clf.predict(X, peaks(X), wavelength="CuKa1", threshold=0.0)
    (unsure,) = clf.predict(X, peaks(X), wavelength="CuKa1", threshold=1.0)
    assert not confident.abstained and unsure.abstained and "unsure" in str(unsure)
    assert unsure.space_group == confident.space_group  # the ranking is still given
    clf.temperature, clf.threshold = 1.7, 0.3
    loaded = load_pretrained(save_pretrained(clf, tmp_path / "m"))
    assert (loaded.temperature, loaded.threshold) == (1.7, 0.3)
    (again,) = loaded.predict(X, peaks(X), wavelength="CuKa1")
    assert again.abstained == (again.confidence < 0.3)
    with pytest.raises(ValueError, match="temperature"):
        Classifier(clf.model, clf.spec, "resnet10", temperature=0.0)


def test_repr_is_one_line() -> None:
    text = repr(small_classifier())
    assert "\n" not in text and "resnet10" in text and "parameters" in text


# ---------------------------------------------------------------------------------------- enantiomorphs
def test_enantiomorphic_pairs_are_the_mirror_images_spglib_finds() -> None:
    """Conjugating a group by the inversion (x -> -x) turns (R, t) into (R, -t): the enantiomorph's
    operations; spglib names the group they form."""
    found = {}
    for number in range(1, 231):
        ops = SpaceGroup(number).operations
        mirrored = spglib.get_spacegroup_type_from_symmetry(
            ops.rotations.astype("intc"), (-ops.translations) % 1.0, lattice=np.eye(3), symprec=1e-5
        )
        if mirrored.number != number:
            found[number] = mirrored.number
    assert found == {a: b for a, b in ENANTIOMORPHIC_PAIRS} | {b: a for a, b in ENANTIOMORPHIC_PAIRS}
    assert enantiomorph(78) == 76 and enantiomorph(14) is None
    with pytest.raises(ValueError):
        enantiomorph(231)


def test_predictions_name_the_enantiomorphic_pair_with_its_summed_probability() -> None:
    from xrdsynth.models._classifier import predictions_from_probabilities

    p = np.full(230, 0.1 / 227)
    p[[75, 77, 13]] = [0.5, 0.3, 0.1]  # P4_1, P4_3, P2_1/c
    p /= p.sum()
    (prediction,) = predictions_from_probabilities(p[None], top=3, threshold=0.7)
    assert prediction.space_group == (76, 78, 14)
    assert prediction.enantiomorph == (78, 76, None)
    assert prediction.pair_probability[0] == pytest.approx(p[75] + p[77])
    assert prediction.pair_probability[2] == pytest.approx(p[13])
    assert prediction.confidence == pytest.approx(p[75] + p[77]) and not prediction.abstained
    assert "enantiomorph 78" in str(prediction)
    assert prediction.to_dict()["space_groups"][0]["enantiomorph"] == 78


# ------------------------------------------------------------------------------------- preprocessing
def test_background_removal_makes_the_input_independent_of_a_smooth_background() -> None:
    spec = InputSpec(10.0, 70.0, 1201, background_window_deg=3.0)
    grid = spec.two_theta
    clean = torch.as_tensor(peaks(grid))[None]
    raised = clean + torch.as_tensor(0.4 + 0.3 * np.exp(-(grid - 10.0) / 15.0))[None]
    plain = InputSpec(10.0, 70.0, 1201)
    assert float((preprocess(raised, plain) - preprocess(clean, plain)).abs().max()) > 0.2
    assert float((preprocess(raised, spec) - preprocess(clean, spec)).abs().max()) < 0.02
    with pytest.raises(ValueError, match="background_window_deg"):
        InputSpec(10.0, 70.0, 1201, background_window_deg=-1.0)


def test_smoothing_makes_narrow_and_broad_peaks_alike_and_travels_with_the_card(tmp_path) -> None:
    """With ``smoothing_fwhm_deg`` the network reads instrument-narrow (0.05°) and Scherrer-broad (0.15°)
    versions of one pattern as much closer than without; the setting is saved in the card and reloaded."""
    spec = InputSpec(10.0, 70.0, 3001, sqrt_scale=True, smoothing_fwhm_deg=0.25)
    plain = InputSpec(10.0, 70.0, 3001, sqrt_scale=True)
    grid = torch.as_tensor(spec.two_theta)

    def pattern(fwhm: float) -> torch.Tensor:
        sigma = fwhm / 2.3548
        centres = (18.0, 27.5, 33.1, 45.0, 52.3, 61.8)
        return sum(torch.exp(-0.5 * ((grid - c) / sigma) ** 2) / sigma for c in centres)[None]

    narrow, broad = pattern(0.05), pattern(0.15)
    gap_plain = float((preprocess(narrow, plain) - preprocess(broad, plain)).abs().max())
    gap_smoothed = float((preprocess(narrow, spec) - preprocess(broad, spec)).abs().max())
    assert gap_smoothed < 0.4 * gap_plain
    clf = Classifier.from_architecture("resnet10", spec, width=8).eval()
    loaded = load_pretrained(save_pretrained(clf, tmp_path / "smoothed"))
    assert loaded.spec.smoothing_fwhm_deg == 0.25 and "smoothing_fwhm_deg=0.25" in repr(loaded)
    with pytest.raises(ValueError, match="smoothing_fwhm_deg"):
        InputSpec(10.0, 70.0, 1201, smoothing_fwhm_deg=-0.1)


def test_baseline_threshold_reads_a_faint_residual_as_zero_and_travels_with_the_card(tmp_path) -> None:
    """With ``baseline_threshold`` = t the network reads max(x − t, 0) / (1 − t) of the max-normalised
    pattern x (closed form): a faint smooth residual under t (what a background removal leaves under a
    curved background) leaves the baseline at exactly 0 and moves the input ten times less on average than
    under plain √ (where it moves it by several hundredths); the strongest peak still reads 1; the setting
    is saved in the card and reloaded."""
    t = 0.003
    spec = InputSpec(10.0, 70.0, 1201, sqrt_scale=True, baseline_threshold=t)
    plain = InputSpec(10.0, 70.0, 1201, sqrt_scale=True)
    grid = spec.two_theta
    clean = torch.as_tensor(peaks(grid))[None]
    x = clean / clean.max()
    read = preprocess(clean, spec)
    torch.testing.assert_close(read, ((x - t).clamp_min(0.0) / (1.0 - t)).sqrt())
    assert float(read.max()) == pytest.approx(1.0)
    residual = torch.as_tensor(0.45 * t * (1.0 + np.cos(np.radians(6.0 * grid))))[None] * clean.max()
    raised = preprocess(clean + residual, spec)
    baseline = x < 1e-6
    assert bool((raised[baseline] == 0).all()) and bool(baseline.float().mean() > 0.3)
    shift = float((raised - read).abs().mean())
    shift_plain = float((preprocess(clean + residual, plain) - preprocess(clean, plain)).abs().mean())
    assert shift < 0.1 * shift_plain and shift_plain > 0.03, (shift, shift_plain)
    clf = Classifier.from_architecture("resnet10", spec, width=8).eval()
    loaded = load_pretrained(save_pretrained(clf, tmp_path / "threshold"))
    assert loaded.spec.baseline_threshold == t and "baseline_threshold=0.003" in repr(loaded)
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="baseline_threshold must be in"):
            InputSpec(10.0, 70.0, 1201, baseline_threshold=bad)


def test_older_cards_without_a_background_window_still_load(tmp_path) -> None:
    clf = small_classifier()
    folder = save_pretrained(clf, tmp_path / "old")
    import json

    meta = json.loads((folder / "card.json").read_text())
    del meta["input"]["background_window_deg"], meta["calibration"]
    (folder / "card.json").write_text(json.dumps(meta))
    loaded = load_pretrained(folder)
    assert loaded.spec.background_window_deg == 0.0 and loaded.temperature == 1.0 and loaded.threshold is None
    assert xs.models.available_models()  # the shipped model is still there


# ------------------------------------------------------------------------------------------- ln d input
def _doublets(grid_deg: torch.Tensor, d_spacings: tuple[float, ...], fwhm: float = 0.03) -> torch.Tensor:
    """(1, P) Cu Kα1 + Kα2 (half height) Gaussian lines of the given d-spacings on a 2θ grid."""
    sigma = fwhm / 2.3548
    out = torch.zeros_like(grid_deg)
    for lam, height in ((WAVELENGTHS["CuKa1"], 1.0), (WAVELENGTHS["CuKa2"], 0.5)):
        for d in d_spacings:
            centre = 2.0 * math.degrees(math.asin(lam / (2.0 * d)))
            out = out + height * torch.exp(-0.5 * ((grid_deg - centre) / sigma) ** 2)
    return out[None]


def test_log_d_input_turns_a_scaled_cell_and_the_kalpha2_line_into_translations(tmp_path) -> None:
    """On the ln d grid of ``log_d_points`` a pattern whose d-spacings are all 2 % larger is the same pattern
    moved by ln(1.02) / Δ(ln d) points, and every Kα2 line sits the same number of points from its Kα1 line,
    at low and high angle alike (on the 2θ grid neither holds); the setting travels with the card."""
    spec = InputSpec(10.0, 100.0, 9001, log_d_points=6000)
    grid = torch.as_tensor(spec.two_theta)
    d_spacings = (4.1, 3.2, 2.45, 1.71, 1.33, 1.12)
    base = preprocess(_doublets(grid, d_spacings), spec)[0].numpy()
    scaled = preprocess(_doublets(grid, tuple(1.02 * d for d in d_spacings)), spec)[0].numpy()
    assert base.shape == (6000,)
    u = np.log(np.sin(np.radians(spec.network_two_theta / 2.0)))
    step = float(np.diff(u).mean())
    assert np.allclose(np.diff(u), step, rtol=1e-6, atol=0.0)
    # Larger d, smaller 2θ: the scaled pattern comes `shift` points earlier.
    shift = round(math.log(1.02) / step)
    overlap = float((base[shift:] * scaled[:-shift]).sum() / np.sqrt((base**2).sum() * (scaled**2).sum()))
    two_theta_spec = InputSpec(10.0, 100.0, 9001)
    on_two_theta = preprocess(_doublets(grid, tuple(1.02 * d for d in d_spacings)), two_theta_spec)
    plain = preprocess(_doublets(grid, d_spacings), two_theta_spec)[0].numpy()
    best_2theta = max(
        float((plain[k:] * on_two_theta[0].numpy()[: plain.size - k]).sum()) for k in range(0, 400, 2)
    ) / float((plain**2).sum())
    assert overlap > 0.9 > 0.5 > best_2theta
    # The Kα2 line: the same number of points after its Kα1 line at 4.1 Å (21.7°) and 1.12 Å (87°).
    expected = math.log(WAVELENGTHS["CuKa2"] / WAVELENGTHS["CuKa1"]) / step
    for d in (4.1, 1.12):
        centre = 2.0 * math.degrees(math.asin(WAVELENGTHS["CuKa1"] / (2.0 * d)))
        k1 = int(np.argmin(np.abs(spec.network_two_theta - centre)))
        k1 += int(np.argmax(base[k1 - 2 : k1 + 3])) - 2
        after = base[k1 + round(expected / 2) : k1 + round(2 * expected)]
        k2 = k1 + round(expected / 2) + int(np.argmax(after))
        assert abs((k2 - k1) - expected) <= 1.0
    loaded = load_pretrained(
        save_pretrained(Classifier.from_architecture("resnet10", spec, width=8), tmp_path / "logd")
    )
    assert loaded.spec.log_d_points == 6000 and "log_d_points=6000" in repr(loaded)
    logits = loaded(_doublets(grid, d_spacings).float())
    assert logits.shape == (1, 230) and torch.isfinite(logits).all()
    for bad in (8, 100.5, True):
        with pytest.raises(ValueError, match="log_d_points"):
            InputSpec(10.0, 100.0, 9001, log_d_points=bad)
    with pytest.raises(ValueError, match="two_theta_min > 0"):
        InputSpec(0.0, 100.0, 9001, log_d_points=100)


def test_rerendered_input_makes_narrow_and_broad_doublets_alike_and_travels_with_the_card(tmp_path) -> None:
    """With ``rerender_size_nm`` the Cu Kα doublet patterns of one crystal with instrument-narrow (300 nm)
    and Scherrer-broad (40 nm) peaks reach the network far more alike than without; an all-zero pattern
    stays zero (no NaN); the setting is saved in the card and reloaded."""
    spec = InputSpec(10.0, 80.0, 7001, sqrt_scale=True, background_window_deg=3.0, rerender_size_nm=50.0)
    plain = InputSpec(10.0, 80.0, 7001, sqrt_scale=True, background_window_deg=3.0)
    crystals = [xs.Crystal.from_cif(cif_path(name)) for name in ("quartz", "rutile")]

    def doublet(size_nm: float) -> torch.Tensor:
        simulator = xs.PowderSimulator(spec.grid, wavelength="CuKa", crystallite_size_nm=size_nm)
        return simulator(crystals).double()

    narrow, broad = doublet(300.0), doublet(40.0)
    gap_plain = (preprocess(narrow, plain) - preprocess(broad, plain)).norm(dim=1)
    gap_redrawn = (preprocess(narrow, spec) - preprocess(broad, spec)).norm(dim=1)
    assert bool((gap_redrawn < 0.2 * gap_plain).all())
    assert torch.equal(preprocess(torch.zeros(2, 7001), spec), torch.zeros(2, 7001))
    clf = Classifier.from_architecture("resnet10", spec, width=8).eval()
    loaded = load_pretrained(save_pretrained(clf, tmp_path / "redrawn"))
    assert loaded.spec.rerender_size_nm == 50.0 and "rerender_size_nm=50" in repr(loaded)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="rerender_size_nm"):
            InputSpec(10.0, 80.0, 7001, rerender_size_nm=bad)


def test_kalpha2_stripped_input_reads_a_doublet_like_its_kalpha1_pattern(tmp_path) -> None:
    """With ``kalpha2_strip_ratio`` = 0.5 a Cu Kα doublet pattern reaches the network nearly as its Kα1
    pattern does (the reference: the simulator with Kα1 alone), its largest difference after √ several
    times smaller than without; the setting is saved in the card and reloaded; bad ratios, a wavelength of
    no tube and re-drawing are refused."""
    spec = InputSpec(10.0, 80.0, 7001, sqrt_scale=True, background_window_deg=3.0, kalpha2_strip_ratio=0.5)
    plain = InputSpec(10.0, 80.0, 7001, sqrt_scale=True, background_window_deg=3.0)
    crystals = [xs.Crystal.from_cif(cif_path(name)) for name in ("quartz", "rutile")]
    settings = dict(crystallite_size_nm=100.0, dtype=torch.float64)
    ka1 = xs.PowderSimulator(spec.grid, **settings)(crystals)
    doublet = xs.PowderSimulator(spec.grid, wavelength="CuKa", **settings)(crystals)
    gap_plain = (preprocess(doublet, plain) - preprocess(ka1, plain)).abs().amax(dim=1)
    gap_stripped = (preprocess(doublet, spec) - preprocess(ka1, plain)).abs().amax(dim=1)
    assert bool((gap_stripped < 0.15 * gap_plain).all()), (gap_stripped, gap_plain)
    clf = Classifier.from_architecture("resnet10", spec, width=8).eval()
    loaded = load_pretrained(save_pretrained(clf, tmp_path / "stripped"))
    assert loaded.spec.kalpha2_strip_ratio == 0.5 and "kalpha2_strip_ratio=0.5" in repr(loaded)
    with pytest.raises(ValueError, match="kalpha2_strip_ratio must be in"):
        InputSpec(10.0, 80.0, 7001, kalpha2_strip_ratio=1.0)
    with pytest.raises(ValueError, match="Kα1"):
        InputSpec(10.0, 80.0, 7001, wavelength=1.5, kalpha2_strip_ratio=0.5)
    with pytest.raises(ValueError, match="strips the Kα2 line itself"):
        InputSpec(10.0, 80.0, 7001, kalpha2_strip_ratio=0.5, rerender_size_nm=50.0)


def test_kbeta_strip_removes_a_residue_and_leaves_other_patterns_as_they_were(tmp_path) -> None:
    """With ``kbeta_strip`` a pattern with the simulator's Kβ residue (2 % of Kα1) reaches the network
    nearly as its pattern without one does (the reference: the same simulation without the line), its
    largest difference after √ at most half that without stripping (what remains are mostly the Kβ peaks of
    reflections whose Kα1 peak lies past 90°, off the grid, so that nothing tells their height); a pattern
    without a residue reaches it exactly as without the setting; the setting is saved in the card and
    reloaded; a wavelength of no tube is refused."""
    import xrdsynth.transforms as T

    spec = InputSpec(5.0, 90.0, 4251, sqrt_scale=True, background_window_deg=3.0, kbeta_strip=True)
    plain = InputSpec(5.0, 90.0, 4251, sqrt_scale=True, background_window_deg=3.0)
    crystals = [xs.Crystal.from_cif(cif_path(name)) for name in ("quartz", "rutile", "pyrite")]
    simulator = xs.PowderSimulator(spec.grid, crystallite_size_nm=100.0, dtype=torch.float64)
    clean = T.AugmentedSimulator(simulator)(crystals)
    residue = T.AugmentedSimulator(simulator, [T.KBetaResidue("CuKa1", ratio=0.02)])(crystals)
    gap_plain = (preprocess(residue, plain) - preprocess(clean, plain)).abs().amax(dim=1)
    gap_stripped = (preprocess(residue, spec) - preprocess(clean, plain)).abs().amax(dim=1)
    assert bool((gap_stripped < 0.5 * gap_plain).all()), (gap_stripped, gap_plain)
    assert torch.equal(preprocess(clean, spec), preprocess(clean, plain))
    clf = Classifier.from_architecture("resnet10", spec, width=8).eval()
    loaded = load_pretrained(save_pretrained(clf, tmp_path / "kbeta"))
    assert loaded.spec.kbeta_strip is True and "kbeta_strip=True" in repr(loaded)
    assert InputSpec(**plain.to_dict()).kbeta_strip is False
    with pytest.raises(ValueError, match="Kα1"):
        InputSpec(10.0, 80.0, 7001, wavelength=1.5, kbeta_strip=True)
    with pytest.raises(ValueError, match="True or False"):
        InputSpec(10.0, 80.0, 7001, kbeta_strip=1)  # type: ignore[arg-type]


def test_log_d_resampling_keeps_areas_and_never_leaves_the_pattern_range() -> None:
    """Cell means: a constant stays that constant, a peak narrower than the output cells at high angle
    keeps its area (it is averaged, not missed between points), and a pattern of zeros with sparse peaks
    comes out >= 0 everywhere (rounding must not make the network's square root NaN)."""
    from xrdsynth.models._resample import log_d_two_theta, resample_to_log_d

    grid = torch.linspace(5.0, 90.0, 8501, dtype=torch.float64)
    constant = resample_to_log_d(torch.full((2, 8501), 3.0, dtype=torch.float64), grid, 900)
    assert constant.shape == (2, 900) and float((constant - 3.0).abs().max()) < 1e-9
    narrow = torch.exp(-0.5 * ((grid - 85.0) / 0.01) ** 2)[None]
    out = resample_to_log_d(narrow, grid, 900)[0].numpy()
    centres = log_d_two_theta(5.0, 90.0, 900)
    edges = np.concatenate([[5.0], 0.5 * (centres[1:] + centres[:-1]), [90.0]])
    assert np.diff(centres)[-1] > 0.25  # cells far wider than the 0.024° peak
    assert float((out * np.diff(edges)).sum()) == pytest.approx(float(narrow.sum()) * 0.01, rel=0.02)
    sparse = torch.zeros(16, 8501)
    sparse[:, ::97] = torch.rand(16, 88)
    assert float(resample_to_log_d(sparse, grid.float(), 4000).min()) >= 0.0


def test_an_automatic_divergence_slit_is_read_and_converted_to_fixed_slit_intensities(tmp_path) -> None:
    """An XRDML scan whose divergence slit is automatic (the same file as a fixed-slit one, its slit element
    changed): the reader says so and reads the counts as stored; the classifier reads them divided by sin θ,
    as the fixed-slit scan of the same sample would have counted them."""
    source = Path(__file__).parent / "data" / "pattern-files" / "xrdml" / "pynxtools_ACZCTS_5-60_181.xrdml"
    text = source.read_text(encoding="utf-8")
    fixed_slit = 'xsi:type="fixedDivergenceSlitType">'
    assert text.count(fixed_slit) == 1
    automatic_slit = (
        'xsi:type="automaticDivergenceSlitType"><irradiatedLength unit="mm">10.00</irradiatedLength>'
    )
    (tmp_path / "ads.xrdml").write_text(text.replace(fixed_slit, automatic_slit), encoding="utf-8")
    fixed, automatic = xs.io.read_pattern(source), xs.io.read_pattern(tmp_path / "ads.xrdml")
    assert fixed.metadata["divergence_slit"] == "fixed"
    assert automatic.metadata["divergence_slit"] == "automatic (irradiated length 10.00 mm)"
    np.testing.assert_array_equal(automatic.intensity, fixed.intensity)
    clf = small_classifier()
    converted = fixed.intensity / np.sin(np.radians(fixed.two_theta) / 2)
    expected = clf.predict_proba(fixed.two_theta, converted, wavelength=fixed.wavelength)
    np.testing.assert_allclose(clf.predict_proba(automatic), expected, atol=1e-9)
    assert not np.allclose(clf.predict_proba(fixed), expected, atol=1e-6)


def test_an_automatic_slit_measurement_stated_by_its_file_reads_as_the_fixed_slit_one() -> None:
    """A pattern made by the AutomaticSlit transform, handed over as a MeasuredPattern whose metadata states
    an automatic slit, gets the probabilities of the fixed-slit pattern (the division by sin θ undoes the
    transform up to a constant factor, which the normalisation removes)."""
    clf = small_classifier()
    grid = torch.linspace(10.0, 70.0, 1201, dtype=torch.float64)
    fixed = torch.as_tensor(peaks(X), dtype=torch.float64)[None] + 0.05
    automatic = xs.transforms.AutomaticSlit()(fixed, grid, xs.transforms.make_generator(0, "cpu"))
    stated = MeasuredPattern(
        X, automatic[0].numpy(), wavelength=1.540593, metadata={"divergence_slit": "automatic"}
    )
    np.testing.assert_allclose(
        clf.predict_proba(stated), clf.predict_proba(X, fixed[0].numpy(), wavelength="CuKa1"), atol=1e-6
    )
    assert not np.allclose(
        clf.predict_proba(X, automatic[0].numpy(), wavelength="CuKa1"),
        clf.predict_proba(X, fixed[0].numpy(), wavelength="CuKa1"),
        atol=1e-4,
    )
