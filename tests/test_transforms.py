"""Transforms: reflection effects through the simulator, pattern effects, presets, background removal."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

import xrdsynth as xs
import xrdsynth.transforms as T
from xrdsynth.examples import cif_path
from xrdsynth.simulate import WAVELENGTHS, PatternParameters, PowderSimulator

GRID = (10.0, 80.0, 1401)


@pytest.fixture(scope="module")
def crystals() -> list[xs.Crystal]:
    return [xs.Crystal.from_cif(cif_path(name)) for name in ("quartz", "pyrite", "rutile")]


def generator(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return T.make_generator(seed, device)


# ------------------------------------------------------------------------------------- reflection effects
def test_kalpha2_line_equals_the_doublet_simulator(crystals, device) -> None:
    """Kα1 + the transform's Kα2 line at ratio 0.5 is the simulator's own "CuKa" doublet."""
    ka1 = PowderSimulator(GRID, crystallite_size_nm=60.0, dtype=torch.float64, device=device)
    doublet = PowderSimulator(
        GRID, wavelength="CuKa", crystallite_size_nm=60.0, dtype=torch.float64, device=device
    )
    parameters = T.KAlphaDoublet("CuKa1", ratio=0.5).draw(3, generator(device=device), torch.float64)
    ((wavelength, weight),) = parameters.extra_lines
    assert wavelength == pytest.approx(1.544414)
    torch.testing.assert_close(weight, torch.full((3,), 0.5, dtype=torch.float64, device=device))
    torch.testing.assert_close(ka1(crystals, parameters=parameters), doublet(crystals), atol=1e-12, rtol=0)


def test_kalpha2_probability_zero_leaves_kalpha1(crystals) -> None:
    ka1 = PowderSimulator(GRID, crystallite_size_nm=60.0, dtype=torch.float64)
    parameters = T.KAlphaDoublet("CuKa1", p=0.0).draw(3, generator(), torch.float64)
    torch.testing.assert_close(ka1(crystals, parameters=parameters), ka1(crystals), atol=1e-14, rtol=0)


def test_kbeta_residue_adds_a_weak_peak_at_the_kbeta_angle() -> None:
    pyrite = xs.Crystal.from_cif(cif_path("pyrite"))
    sim = PowderSimulator(GRID, crystallite_size_nm=100.0, dtype=torch.float64)
    parameters = T.KBetaResidue("CuKa1", ratio=0.02).draw(1, generator(), torch.float64)
    plain, with_beta = sim([pyrite])[0], sim([pyrite], parameters=parameters)[0]
    # The strongest reflection seen with Cu Kβ (1.3922 Å): Bragg's law at its d-spacing.
    peaks = sim.peaks(pyrite)
    d = float(peaks.d[np.argmax(peaks.intensity)])
    alpha, beta = (math.asin(lam / (2 * d)) for lam in (1.540593, 1.39222))  # Bragg angles θ

    def lp(theta: float) -> float:
        return (1 + math.cos(2 * theta) ** 2) / (math.sin(theta) ** 2 * math.cos(theta))

    # Peak height = area / width: area ratio 0.02 LP(θβ)/LP(θα), Scherrer width ∝ λ / cosθ.
    expected = 0.02 * lp(beta) / lp(alpha) * (1.540593 / math.cos(alpha)) / (1.39222 / math.cos(beta))
    at = int(np.argmin(np.abs(sim.two_theta.numpy() - 2 * math.degrees(beta))))
    assert float(with_beta[at] - plain[at]) == pytest.approx(expected * float(plain.max()), rel=0.05)


def test_zero_shift_parameter_equals_the_fixed_setting(crystals) -> None:
    fixed = PowderSimulator(GRID, crystallite_size_nm=60.0, zero_shift=0.2, dtype=torch.float64)
    free = PowderSimulator(GRID, crystallite_size_nm=60.0, dtype=torch.float64)
    parameters = T.ZeroShift(0.2).draw(3, generator(), torch.float64)
    torch.testing.assert_close(free(crystals, parameters=parameters), fixed(crystals), atol=1e-12, rtol=0)


def test_specimen_displacement_moves_low_angles_more_than_high(crystals) -> None:
    sim = PowderSimulator(GRID, crystallite_size_nm=200.0, dtype=torch.float64)
    reference = PowderSimulator(
        GRID, crystallite_size_nm=200.0, specimen_displacement_mm=0.3, dtype=torch.float64
    )
    parameters = T.SpecimenDisplacement(0.3).draw(3, generator(), torch.float64)
    torch.testing.assert_close(sim(crystals, parameters=parameters), reference(crystals), atol=1e-12, rtol=0)


def test_per_pattern_parameters_act_on_their_own_pattern_only(crystals) -> None:
    """A batch with per-pattern sizes, strains, Caglioti widths and texture equals each crystal alone."""
    sim = PowderSimulator(GRID, profile="pseudo_voigt", crystallite_size_nm=60.0, dtype=torch.float64)
    chain = T.Sequential(
        T.CrystalliteSize((30.0, 500.0)), T.Microstrain((0.0, 1e-3)), T.InstrumentFunction(),
        T.PreferredOrientation((0.5, 1.5)), T.KAlphaDoublet("CuKa1", (0.4, 0.6)),
    )  # fmt: skip
    parameters = chain.draw_reflections(3, generator(3), torch.float64)
    together = sim(crystals, parameters=parameters)
    for k, crystal in enumerate(crystals):
        alone = PatternParameters(
            crystallite_size_nm=parameters.crystallite_size_nm[k : k + 1],
            microstrain=parameters.microstrain[k : k + 1],
            caglioti=parameters.caglioti[k : k + 1],
            march_dollase=parameters.march_dollase[k : k + 1],
            orientation_hkl=parameters.orientation_hkl[k : k + 1],
            extra_lines=tuple((w, t[k : k + 1]) for w, t in parameters.extra_lines),
        )
        # Equal to the rendering's accuracy (~3e-4 of a peak height for each; a batch shares one u range).
        torch.testing.assert_close(sim([crystal], parameters=alone)[0], together[k], atol=1e-3, rtol=0)


def test_instrument_function_widths_are_positive_at_every_angle() -> None:
    parameters = T.InstrumentFunction(u=(0.0, 0.02), v=(-0.05, 0.0), w=(0.0005, 0.002)).draw(
        4096, generator(), torch.float64
    )
    u, v, w = parameters.caglioti.unbind(1)
    tan = torch.tan(torch.deg2rad(torch.linspace(1.0, 179.0, 500, dtype=torch.float64)) / 2).unsqueeze(1)
    assert bool(((u * tan**2 + v * tan + w) > 0).all())


def test_texture_with_r_one_changes_nothing(crystals) -> None:
    sim = PowderSimulator(GRID, crystallite_size_nm=60.0, dtype=torch.float64)
    parameters = T.PreferredOrientation(r=(0.5, 0.7), p=0.0).draw(3, generator(), torch.float64)
    torch.testing.assert_close(sim(crystals, parameters=parameters), sim(crystals), atol=1e-12, rtol=0)


def test_texture_along_c_strengthens_00l_of_rutile() -> None:
    """Platelets (r < 1) lying on (001): the 00l reflections grow against the others (March–Dollase)."""
    rutile = xs.Crystal.from_cif(cif_path("rutile"))
    sim = PowderSimulator(GRID, crystallite_size_nm=100.0, dtype=torch.float64)
    c = float(np.linalg.norm(rutile.lattice[2]))
    two_theta_002 = 2 * math.degrees(math.asin(1.540593 * 2 / (2 * c)))
    axis = PatternParameters(
        march_dollase=torch.tensor([0.6], dtype=torch.float64),
        orientation_hkl=torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64),
    )
    plain, textured = sim([rutile])[0].numpy(), sim([rutile], parameters=axis)[0].numpy()
    at = int(np.argmin(np.abs(sim.two_theta.numpy() - two_theta_002)))
    # r = 0.6 along the plate normal: 00l gain r^-3 = 4.6 over random (before renormalisation).
    assert textured[at] > 2.0 * plain[at]


def _peak_heights(patterns: torch.Tensor, grid: torch.Tensor, angles: list[float]) -> np.ndarray:
    """(B, K) pattern values at the grid points nearest to ``angles``."""
    at = [int(torch.argmin((grid - a).abs())) for a in angles]
    return patterns[:, at].numpy()


def test_particle_statistics_scatter_peaks_by_sigma_and_keep_the_mean() -> None:
    """Each reflection gets its own log-normal factor: the log ratio of two rutile peaks spreads by σ√2;
    averaged over many patterns each peak keeps its ideal height (mean factor 1); Kα1 and Kα2 of one
    reflection share their factor (the Kα2/Kα1 height ratio stays 0.5); σ = 0 and p = 0 change nothing."""
    rutile = xs.Crystal.from_cif(cif_path("rutile"))
    grid = (20.0, 60.0, 4001)
    sim = PowderSimulator(grid, crystallite_size_nm=200.0, dtype=torch.float64, seed=3)
    x = sim.two_theta
    clean = sim.profiles([rutile])
    # (110), (101), (211) of rutile: isolated peaks near 27.4°, 36.1° and 54.3°.
    angles = [float(x[int(torch.argmax(torch.where((x > lo) & (x < hi), clean[0], 0.0)))]) for lo, hi in
              ((26.5, 28.5), (35.5, 36.8), (53.5, 55.0))]  # fmt: skip
    n = 400
    sigma = torch.full((n,), 0.3, dtype=torch.float64)
    heights = _peak_heights(sim.profiles([rutile] * n, parameters=PatternParameters(grain_scatter=sigma)), x,
                            angles)  # fmt: skip
    assert np.log(heights[:, 1] / heights[:, 2]).std() == pytest.approx(0.3 * math.sqrt(2.0), rel=0.15)
    np.testing.assert_allclose(heights.mean(axis=0), _peak_heights(clean, x, angles)[0], rtol=0.08)
    # Kα1 + Kα2 (half) with 500 nm crystallites: the (211) Kα2 line stands 0.15° above Kα1, clear of it.
    lines = PatternParameters(
        grain_scatter=sigma[:8], extra_lines=((1.544414, torch.full((8,), 0.5, dtype=torch.float64)),)
    )
    narrow = PowderSimulator(grid, crystallite_size_nm=500.0, dtype=torch.float64, seed=5)
    both = narrow.profiles([rutile] * 8, parameters=lines)
    k1 = both[:, (x > angles[2] - 0.07) & (x < angles[2] + 0.07)].sum(dim=1)
    k2 = both[:, (x > angles[2] + 0.08) & (x < angles[2] + 0.22)].sum(dim=1)
    assert float(k1.max() / k1.min()) > 1.2  # the factors differ from pattern to pattern ...
    torch.testing.assert_close(k2 / k1, torch.full_like(k1, float(k2[0] / k1[0])), rtol=0.02, atol=0.0)
    assert 0.4 < float(k2[0] / k1[0]) < 0.6  # ... and the doublet keeps its ratio
    zero = PatternParameters(grain_scatter=torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(sim([rutile] * 3, parameters=zero), sim([rutile] * 3), atol=1e-12, rtol=0)
    assert T.ParticleStatistics(p=0.0).draw(5, generator()) == PatternParameters()
    drawn = T.ParticleStatistics(sigma=(0.1, 0.2), p=1.0).draw(64, generator())
    assert float(drawn.grain_scatter.min()) >= 0.1 and float(drawn.grain_scatter.max()) <= 0.2
    with pytest.raises(ValueError, match="grain_scatter must be >= 0"):
        sim([rutile], parameters=PatternParameters(grain_scatter=torch.tensor([-0.1], dtype=torch.float64)))


def test_the_default_preset_carries_particle_statistics_switched_off() -> None:
    """In laboratory-cu the effect is present with p = 0 (patterns as before it existed) and is switched on
    by an override."""
    (off,) = [t for t in T.laboratory_cu_transforms() if isinstance(t, T.ParticleStatistics)]
    assert off.p == 0.0
    on = T.laboratory_cu_transforms({"ParticleStatistics": {"p": 0.5, "sigma": [0.1, 0.4]}})
    (switched,) = [t for t in on if isinstance(t, T.ParticleStatistics)]
    assert switched.p == 0.5 and switched.sigma == (0.1, 0.4)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: T.KAlphaDoublet("CuKa"), "Kα1"),
        (lambda: T.KAlphaDoublet("CuKa1", ratio=1.5), "ratio"),
        (lambda: T.CrystalliteSize((0.0, 10.0)), "size_nm"),
        (lambda: T.CrystalliteSize((100.0, 10.0)), "low <= high"),
        (lambda: T.PreferredOrientation(directions=[(0, 0, 0)]), "directions"),
        (lambda: T.Microstrain(p=2.0), "probability"),
        (lambda: T.SpecimenDisplacement((-10.0, 10.0)), "laboratory"),
        (lambda: T.ScanRange(start=(5.0, 70.0), stop=(60.0, 90.0)), "below"),
        (lambda: T.PoissonNoise(counts=(0.0, 10.0)), "counts"),
        (lambda: T.Clip(level=(0.0, 0.5)), "level"),
        (lambda: T.Background(order=0), "order"),
        (lambda: T.ParticleStatistics(sigma=(-0.1, 0.2)), "sigma"),
        (lambda: T.ParticleStatistics(sigma=(0.1, 5.0)), "not a powder"),
    ],
)
def test_bad_settings_are_refused(make, match) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_parameters_are_refused_by_the_simulator(crystals) -> None:
    sim = PowderSimulator(GRID, crystallite_size_nm=60.0)
    with pytest.raises(ValueError, match="shape"):
        sim(crystals, parameters=PatternParameters(zero_shift=torch.zeros(2)))
    with pytest.raises(ValueError, match="non-finite"):
        sim(crystals, parameters=PatternParameters(microstrain=torch.tensor([0.0, math.nan, 0.0])))
    with pytest.raises(ValueError, match="PatternParameters"):
        sim(crystals, parameters={"zero_shift": torch.zeros(3)})


# ---------------------------------------------------------------------------------------- pattern effects
def flat_patterns(
    n: int = 4, points: int = 500, dtype=torch.float64, device="cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    grid = torch.linspace(5.0, 90.0, points, dtype=dtype, device=device)
    peaks = torch.exp(
        -0.5
        * ((grid - torch.tensor([20.0, 35.0, 50.0, 70.0], dtype=dtype, device=device)[:n, None]) / 0.1) ** 2
    )
    return 0.1 + 0.9 * peaks, grid


ALL_PATTERN_TRANSFORMS = [
    T.Impurity(), T.Background(), T.AmorphousHump(), T.AirScatter(), T.PoissonNoise(), T.GaussianNoise(),
    T.ScanRange(), T.Clip(), T.Smoothing(), T.CoarseScan(), T.AutomaticSlit(),
]  # fmt: skip


@pytest.mark.parametrize("transform", ALL_PATTERN_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_pattern_transform_shape_dtype_device_and_replay(transform, device) -> None:
    patterns, grid = flat_patterns(device=device)
    original = patterns.clone()
    gen = generator(5, device)
    parameters = transform.draw(4, gen, patterns.dtype)
    out = transform(patterns, grid, generator(6, device), parameters=parameters)
    again = transform(patterns, grid, generator(6, device), parameters=parameters)
    assert out.shape == patterns.shape and out.dtype == patterns.dtype and out.device == patterns.device
    assert bool(torch.isfinite(out).all())
    torch.testing.assert_close(out, again)  # drawn parameters replay to the same patterns
    assert torch.equal(patterns, original)  # the input is left alone


@pytest.mark.parametrize("transform", ALL_PATTERN_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_pattern_transform_with_probability_zero_is_the_identity(transform) -> None:
    patterns, grid = flat_patterns()
    transform = pickle.loads(pickle.dumps(transform))  # a copy; the seed is kept
    transform.p = 0.0
    torch.testing.assert_close(transform(patterns, grid), patterns)


def test_poisson_noise_has_the_variance_of_counting() -> None:
    patterns = torch.full((2000, 200), 0.5, dtype=torch.float64)
    patterns[:, 0] = 1.0
    noisy = T.PoissonNoise(counts=400.0)(
        patterns, torch.linspace(5, 90, 200, dtype=torch.float64), generator()
    )
    values = noisy[:, 1:]
    assert float(values.mean()) == pytest.approx(0.5, rel=0.01)
    # counts 400 at the maximum: a point at half height has 200 counts, so variance 200 / 400² = 0.00125.
    assert float(values.var()) == pytest.approx(200 / 400**2, rel=0.05)


def test_background_lies_under_the_pattern_and_scan_range_cuts() -> None:
    patterns, grid = flat_patterns()
    raised = T.Background(level=0.3, floor=0.1)(patterns, grid, generator())
    assert bool((raised >= patterns - 1e-12).all())
    cut = T.ScanRange(start=30.0, stop=60.0)(patterns, grid, generator())
    outside = (grid < 30.0) | (grid > 60.0)
    assert bool((cut[:, outside] == 0).all()) and bool((cut[:, ~outside] == patterns[:, ~outside]).all())
    clipped = T.Clip(level=0.7)(patterns, grid, generator())
    torch.testing.assert_close(clipped.amax(dim=1), 0.7 * patterns.amax(dim=1))


def test_smoothing_keeps_areas_widens_peaks_in_quadrature_and_correlates_the_noise() -> None:
    """A Gaussian peak of FWHM 0.1° smoothed by a kernel of 0.05° comes out with FWHM √(0.1² + 0.05²), its
    area and position kept (closed form); white noise becomes correlated between neighbouring points; a
    pattern drawn as not applied is left alone."""
    grid = torch.linspace(5.0, 90.0, 8501, dtype=torch.float64)
    sigma = 0.1 / (2 * math.sqrt(2 * math.log(2)))
    peak = torch.exp(-0.5 * ((grid - 40.0) / sigma) ** 2).unsqueeze(0)
    smoothed = T.Smoothing(fwhm=0.05)(peak, grid, generator())[0]
    wider = math.sqrt(0.1**2 + 0.05**2) / (2 * math.sqrt(2 * math.log(2)))
    expected = (sigma / wider) * torch.exp(-0.5 * ((grid - 40.0) / wider) ** 2)
    assert float((smoothed - expected).abs().max()) < 2e-3
    assert float(smoothed.sum()) == pytest.approx(float(peak.sum()), rel=1e-9)
    noise = torch.randn(2, 8501, generator=generator(), dtype=torch.float64)
    out = T.Smoothing(fwhm=0.05)(noise, grid, generator())
    lag1 = float((out[:, 1:] * out[:, :-1]).mean() / (out * out).mean())
    assert lag1 > 0.8 and abs(float((noise[:, 1:] * noise[:, :-1]).mean())) < 0.05
    parameters = {"applied": torch.tensor([True, False]), "fwhm": torch.tensor([0.05, 0.05])}
    mixed = T.Smoothing()(noise, grid, generator(), parameters=parameters)
    torch.testing.assert_close(mixed[1], noise[1])
    torch.testing.assert_close(mixed[0], out[0])
    with pytest.raises(ValueError, match="fwhm"):
        T.Smoothing(fwhm=(-0.1, 0.2))


def assert_off_in_the_preset(effect: type) -> None:
    """``effect`` is in the laboratory preset with p = 0 and draws nothing there: the preset's patterns are
    those of the chain without it."""
    (off,) = [t for t in T.laboratory_cu_transforms() if isinstance(t, effect)]
    assert off.p == 0.0
    crystals = [xs.Crystal.from_cif(cif_path(name)) for name in ("quartz", "rutile", "pyrite")]
    chain = T.laboratory_cu_transforms()
    without = [t for t in chain if not isinstance(t, effect)]

    def simulator() -> PowderSimulator:
        return PowderSimulator((5.0, 90.0, 2001), profile="pseudo_voigt", seed=4)

    with_it = T.AugmentedSimulator(simulator(), chain)(crystals)
    torch.testing.assert_close(with_it, T.AugmentedSimulator(simulator(), without)(crystals), rtol=0, atol=0)


def test_smoothing_is_in_the_laboratory_preset_switched_off() -> None:
    (off,) = [t for t in T.laboratory_cu_transforms() if isinstance(t, T.Smoothing)]
    assert off.p == 0.0
    (on,) = [t for t in T.laboratory_cu_transforms({"Smoothing": {"p": 0.3}}) if isinstance(t, T.Smoothing)]
    assert on.p == 0.3 and on.fwhm == (0.02, 0.08)
    # Switched off it draws nothing: the preset's patterns are those of the chain without it.
    assert_off_in_the_preset(T.Smoothing)


def test_coarse_scan_keeps_every_coarse_point_interpolates_between_and_correlates_the_noise() -> None:
    """Steps of 0.1° on a 0.02° grid: the kept points keep their values, the points between lie on straight
    lines between them, white noise becomes correlated between neighbours (lag-1 autocorrelation from about
    0 to above 0.8), a broad peak (σ 0.3°) stays within the interpolation bound (1.4 % of its height); a step
    no coarser than the grid's, a pattern drawn as not applied and the preset's chain (where it is off) change
    nothing."""
    grid = torch.linspace(5.0, 90.0, 4251, dtype=torch.float64)
    noise = torch.randn(2, 4251, generator=generator(), dtype=torch.float64)
    parameters = {
        "applied": torch.tensor([True, False]),
        "step": torch.tensor([0.1, 0.1], dtype=torch.float64),
        "offset": torch.tensor([0.0, 0.0], dtype=torch.float64),
    }
    out = T.CoarseScan()(noise, grid, generator(), parameters=parameters)
    kept = torch.arange(0, 4251, 5)
    torch.testing.assert_close(out[0, kept], noise[0, kept], rtol=0, atol=0)
    between = noise[0, kept[:-1]] + 0.4 * (noise[0, kept[1:]] - noise[0, kept[:-1]])
    torch.testing.assert_close(out[0, kept[:-1] + 2], between)
    torch.testing.assert_close(out[1], noise[1], rtol=0, atol=0)
    lag1 = float((out[0, 1:] * out[0, :-1]).mean() / (out[0] * out[0]).mean())
    assert lag1 > 0.8 and abs(float((noise[0, 1:] * noise[0, :-1]).mean())) < 0.05
    peak = torch.exp(-0.5 * ((grid - 40.0) / 0.3) ** 2).unsqueeze(0)
    # Linear interpolation errs by at most h² max|f''| / 8 = 0.1² / (8 · 0.3²) = 1.4 % of the height here.
    assert float((T.CoarseScan(step=0.1)(peak, grid, generator()) - peak).abs().max()) < 0.0139
    assert torch.equal(T.CoarseScan(step=0.02)(noise, grid, generator()), noise)
    with pytest.raises(ValueError, match="step"):
        T.CoarseScan(step=(-0.1, 0.2))
    assert_off_in_the_preset(T.CoarseScan)


def test_automatic_slit_scales_as_sin_theta_and_is_in_the_preset_switched_off() -> None:
    """Counts of an automatic slit: the pattern times sin θ / sin θ_max (closed form), 1 at the grid's end,
    sin 2.5° / sin 45° at 5°; a pattern drawn as not applied, and the preset's chain (where it is off), are
    left as they are."""
    grid = torch.linspace(5.0, 90.0, 851, dtype=torch.float64)
    patterns = torch.rand(2, 851, generator=generator(), dtype=torch.float64)
    parameters = {"applied": torch.tensor([True, False])}
    out = T.AutomaticSlit()(patterns, grid, generator(), parameters=parameters)
    sine = torch.sin(torch.deg2rad(grid) / 2)
    torch.testing.assert_close(out[0], patterns[0] * sine / math.sin(math.radians(45.0)))
    assert float(out[0, 0] / patterns[0, 0]) == pytest.approx(
        math.sin(math.radians(2.5)) / math.sin(math.radians(45))
    )
    torch.testing.assert_close(out[1], patterns[1], rtol=0, atol=0)
    assert_off_in_the_preset(T.AutomaticSlit)


def test_air_scatter_falls_with_angle() -> None:
    zero = torch.zeros(2, 300, dtype=torch.float64)
    grid = torch.linspace(5.0, 90.0, 300, dtype=torch.float64)
    air = T.AirScatter(level=0.4, decay_deg=3.0)(zero, grid, generator())
    assert float(air[0, 0]) == pytest.approx(0.4)
    assert bool((air[:, 1:] <= air[:, :-1]).all())
    at = int(torch.argmin((grid - 8.0).abs()))  # one decay length from the start
    assert float(air[0, at]) == pytest.approx(0.4 * math.exp(-(float(grid[at]) - 5.0) / 3.0), rel=1e-9)


# ------------------------------------------------------------------------------------- background removal
def test_remove_background_recovers_peaks_on_a_curved_background() -> None:
    grid = torch.linspace(5.0, 90.0, 4251, dtype=torch.float64)
    peaks = sum(torch.exp(-0.5 * ((grid - c) / 0.05) ** 2) for c in (15.0, 33.0, 47.5, 71.0))
    background = (
        0.3 + 0.2 * torch.exp(-(grid - 5.0) / 10.0) + 0.1 * torch.exp(-0.5 * ((grid - 25.0) / 4.0) ** 2)
    )
    cleaned = T.remove_background((peaks + background).unsqueeze(0), grid, 3.0)[0]
    # Within 1 % of a peak height everywhere, the ends included (the 4° hump's top is flattened a little).
    assert float((cleaned - peaks).abs().max()) < 0.01
    assert bool((cleaned >= 0).all())


def test_remove_background_is_batch_consistent_and_refuses_bad_input() -> None:
    patterns, grid = flat_patterns(points=800)
    together = T.remove_background(patterns, grid, 2.0)
    for k in range(len(patterns)):
        torch.testing.assert_close(T.remove_background(patterns[k : k + 1], grid, 2.0)[0], together[k])
    with pytest.raises(ValueError, match="window"):
        T.remove_background(patterns, grid, 0.0)
    with pytest.raises(ValueError, match="grid"):
        T.remove_background(patterns, grid[:-1], 2.0)


# ------------------------------------------------------------------------------------------------ smoothing
def test_smooth_gaussian_adds_widths_in_quadrature_and_keeps_areas() -> None:
    """A Gaussian peak of FWHM H convolved with a Gaussian of FWHM S is a Gaussian of FWHM sqrt(H² + S²) and
    the same area (closed form), on a fine grid."""
    grid = torch.linspace(5.0, 90.0, 17001, dtype=torch.float64)
    own, added = 0.08, 0.2

    def gaussian(fwhm: float, centre: float) -> torch.Tensor:
        sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        return torch.exp(-0.5 * ((grid - centre) / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))

    pattern = gaussian(own, 30.0) + 0.5 * gaussian(own, 61.0)
    expected = gaussian(math.hypot(own, added), 30.0) + 0.5 * gaussian(math.hypot(own, added), 61.0)
    smoothed = T.smooth_gaussian(pattern.unsqueeze(0), grid, added)[0]
    assert float((smoothed - expected).abs().max()) < 1e-3 * float(expected.max())
    assert float(smoothed.sum()) == pytest.approx(float(pattern.sum()), rel=1e-9)


def test_smooth_gaussian_is_batch_consistent_and_refuses_bad_input() -> None:
    patterns, grid = flat_patterns(points=800)
    together = T.smooth_gaussian(patterns, grid, 0.3)
    for k in range(len(patterns)):
        torch.testing.assert_close(T.smooth_gaussian(patterns[k : k + 1], grid, 0.3)[0], together[k])
    for bad in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="fwhm_deg"):
            T.smooth_gaussian(patterns, grid, bad)
    with pytest.raises(ValueError, match="grid"):
        T.smooth_gaussian(patterns, grid[:-1], 0.3)
    # One FWHM per pattern: each row as if smoothed alone with its own (the shared kernel length reaches 4σ
    # of the widest, so narrower rows keep a little more of their tails: below 1e-5 of the maximum).
    widths = torch.linspace(0.1, 0.5, len(patterns), dtype=patterns.dtype)
    each = T.smooth_gaussian(patterns, grid, widths)
    for k in range(len(patterns)):
        alone = T.smooth_gaussian(patterns[k : k + 1], grid, float(widths[k]))[0]
        torch.testing.assert_close(each[k], alone, rtol=0, atol=1e-5 * float(alone.abs().max()))
    for bad in (widths[:-1], torch.cat([widths[:-1], torch.zeros(1)]), torch.full_like(widths, float("nan"))):
        with pytest.raises(ValueError, match="fwhm_deg"):
            T.smooth_gaussian(patterns, grid, bad)


# ------------------------------------------------------------------------------- Kα2 stripping, re-rendering
FINE_GRID = (10.0, 80.0, 7001)  # 0.01° steps: narrow peaks are sampled finely enough to interpolate


def test_strip_kalpha2_recovers_the_kalpha1_pattern_of_the_doublet_simulator(crystals) -> None:
    """The simulator's own Cu Kα doublet, stripped at the doublet's ratio, is its Kα1 pattern (the
    reference: the same crystals simulated with Kα1 alone)."""
    ka1 = PowderSimulator(FINE_GRID, crystallite_size_nm=60.0, dtype=torch.float64)(crystals)
    doublet = PowderSimulator(FINE_GRID, wavelength="CuKa", crystallite_size_nm=60.0, dtype=torch.float64)(
        crystals
    )
    grid = torch.linspace(*FINE_GRID[:2], FINE_GRID[2], dtype=torch.float64)
    stripped = T.strip_kalpha2(doublet, grid, WAVELENGTHS["CuKa1"], WAVELENGTHS["CuKa2"], 0.5)
    # Both simulations have maximum 1: compare on the Kα1 pattern's scale.
    stripped = stripped / stripped.amax(dim=1, keepdim=True)
    assert float((stripped - ka1).abs().max()) < 0.005
    assert float((doublet - ka1).abs().max()) > 0.2  # the doublet itself is far from it
    assert torch.equal(T.strip_kalpha2(doublet, grid, 1.5406, 1.5444, 0.0), doublet)
    with pytest.raises(ValueError, match="ratio"):
        T.strip_kalpha2(doublet, grid, 1.5406, 1.5444, 1.0)
    with pytest.raises(ValueError, match="kalpha1 < kalpha2"):
        T.strip_kalpha2(doublet, grid, 1.5444, 1.5406)


# Spacings (Å) of the reflections of the Kβ tests, and their heights relative to the strongest.
KBETA_SPACINGS = (4.26, 3.34, 2.46, 2.28, 2.13, 1.82, 1.54, 1.38, 1.26, 1.19)
KBETA_HEIGHTS = (0.35, 1.0, 0.12, 0.1, 0.08, 0.2, 0.15, 0.1, 0.09, 0.06)


def kbeta_test_pattern(grid: torch.Tensor, ratio: float, fwhm: float = 0.08) -> torch.Tensor:
    """(P,) Gaussian peaks at the Cu Kα1 angles of ``KBETA_SPACINGS``, and at their Cu Kβ angles ``ratio``
    times as high (closed form: Bragg's law at each wavelength), on a constant background of 0.05."""
    pattern = torch.full_like(grid, 0.05)
    for d, height in zip(KBETA_SPACINGS, KBETA_HEIGHTS, strict=True):
        for wavelength, scale in ((WAVELENGTHS["CuKa1"], 1.0), (1.39222, ratio)):
            centre = 2 * math.degrees(math.asin(wavelength / (2 * d)))
            pattern = pattern + gaussian_peak(grid, centre, fwhm, scale * height)
    return pattern


def test_kbeta_ratio_reads_the_height_of_the_kbeta_peaks_and_zero_without_them() -> None:
    """On patterns whose Kβ peaks are r times their Kα1 peaks (closed form, r = 0.5-3 %) the estimate is r
    within 10 %; without Kβ peaks, also under noise, it is 0; fewer than 3 peaks read 0."""
    grid = rerender_grid()
    ratios = (0.005, 0.01, 0.02, 0.03)
    patterns = torch.stack([kbeta_test_pattern(grid, r) for r in (*ratios, 0.0)])
    estimate = T.kbeta_ratio(patterns, grid, WAVELENGTHS["CuKa1"], 1.39222)
    for r, value in zip(ratios, estimate[:-1].tolist(), strict=True):
        assert value == pytest.approx(r, rel=0.1)
    assert float(estimate[-1]) == 0.0
    seeded = torch.Generator().manual_seed(3)
    noise = 0.003 * torch.randn((8, grid.shape[0]), generator=seeded, dtype=grid.dtype)
    noisy = T.kbeta_ratio(patterns[-1:] + noise, grid, WAVELENGTHS["CuKa1"], 1.39222)
    assert float(noisy.max()) == 0.0
    # One peak with its Kβ peak: too few peaks to tell a residue from a reflection that happens to be there.
    kbeta_angle = 2 * math.degrees(math.asin(math.sin(math.radians(15.0)) * 1.39222 / WAVELENGTHS["CuKa1"]))
    one_peak = gaussian_peak(grid, 30.0, 0.08, 1.0) + gaussian_peak(grid, kbeta_angle, 0.08, 0.02)
    assert float(T.kbeta_ratio(one_peak[None], grid, WAVELENGTHS["CuKa1"], 1.39222)[0]) == 0.0
    with pytest.raises(ValueError, match="kbeta < kalpha1"):
        T.kbeta_ratio(patterns, grid, 1.39222, WAVELENGTHS["CuKa1"])
    with pytest.raises(ValueError, match="quantile"):
        T.kbeta_ratio(patterns, grid, WAVELENGTHS["CuKa1"], 1.39222, quantile=1.5)


def test_kbeta_ratio_reads_past_strong_peaks_whose_kbeta_image_is_off_the_scan() -> None:
    """Strong reflections at the start of a scan whose Kβ image would lie before it cannot be read; the
    estimate then comes from the strongest peaks that can, the same as without those reflections (here three
    of them, stronger than all but one readable peak, with two peaks read per pattern)."""
    grid = torch.linspace(20.0, 90.0, 3501, dtype=torch.float64)
    kalpha1, kbeta = WAVELENGTHS["CuKa1"], 1.39222
    readable = torch.full_like(grid, 0.05)
    for centre, height in ((40.0, 1.0), (55.0, 0.5), (70.0, 0.3)):
        sine = math.sin(math.radians(centre / 2)) * kbeta / kalpha1
        readable = readable + gaussian_peak(grid, centre, 0.08, height)
        readable = readable + gaussian_peak(grid, 2 * math.degrees(math.asin(sine)), 0.08, 0.02 * height)
    # Below 20.7° a peak's image lies before 20° at Kβ and at every null wavelength of the estimate.
    early = sum(gaussian_peak(grid, c, 0.08, h) for c, h in ((20.05, 0.99), (20.35, 0.97), (20.65, 0.95)))
    estimate = T.kbeta_ratio(
        torch.stack([readable + early, readable]), grid, kalpha1, kbeta, peaks=2, min_peaks=2
    )
    assert float(estimate[1]) == pytest.approx(0.02, rel=0.1)
    assert float(estimate[0]) == float(estimate[1])


def test_kbeta_ratio_finds_the_residue_of_the_simulator_and_none_without_it(crystals) -> None:
    """The simulator's own Kβ line (KBetaResidue, 1 % of Kα1) is found in every example crystal, and a
    pattern without it reads 0."""
    grid_spec = (5.0, 90.0, 4251)
    grid = torch.linspace(*grid_spec[:2], grid_spec[2], dtype=torch.float64)
    simulator = PowderSimulator(grid_spec, crystallite_size_nm=60.0, dtype=torch.float64)
    plain = T.AugmentedSimulator(simulator)(crystals)
    residue = T.AugmentedSimulator(simulator, [T.KBetaResidue("CuKa1", ratio=0.01)])(crystals)
    kalpha1, kbeta = WAVELENGTHS["CuKa1"], 1.39222
    assert T.kbeta_ratio(plain, grid, kalpha1, kbeta).tolist() == [0.0] * len(crystals)
    found = T.kbeta_ratio(residue, grid, kalpha1, kbeta)
    # Peak heights: the Kβ peak of a reflection is narrower and its Lorentz-polarisation factor larger
    # than its Kα1 peak's, so its height ratio lies somewhat above the intensity ratio of 1 %.
    assert bool(((found > 0.008) & (found < 0.016)).all()), found


def doublet_test_pattern(grid: torch.Tensor, tube: str, ratio: float, fwhm: float = 0.1) -> torch.Tensor:
    """(P,) Gaussian peaks at the Cu Kα1 angles of ``KBETA_SPACINGS`` (a pattern converted to the Cu scale)
    and, ``ratio`` times as high, where the Kα2 line of ``tube`` puts the same spacings on that scale
    (sin θ₂ = λ₂/λ₁ sin θ with the tube's own lines, closed form), on a constant background of 0.05."""
    pattern = torch.full_like(grid, 0.05)
    stretch = WAVELENGTHS[f"{tube}Ka2"] / WAVELENGTHS[f"{tube}Ka1"]
    for d, height in zip(KBETA_SPACINGS, KBETA_HEIGHTS, strict=True):
        for wavelength, scale in ((WAVELENGTHS["CuKa1"], 1.0), (WAVELENGTHS["CuKa1"] * stretch, ratio)):
            centre = 2 * math.degrees(math.asin(wavelength / (2 * d)))
            pattern = pattern + gaussian_peak(grid, centre, fwhm, scale * height)
    return pattern


def test_kalpha2_ratio_finds_a_far_doublet_and_no_line_where_there_is_none() -> None:
    """Mo and Ag doublets (ratio 0.5) converted to the Cu scale read 0.3-0.55 (the Kα2 peaks' height, less
    where the lines overlap), also under noise; the same peaks without the Kα2 line, and noise alone, read
    0; fewer than 3 peaks read 0; bad arguments are refused."""
    grid = rerender_grid()
    seeded = torch.Generator().manual_seed(5)
    for tube in ("Mo", "Ag"):
        kalpha1, kalpha2 = WAVELENGTHS[f"{tube}Ka1"], WAVELENGTHS[f"{tube}Ka2"]
        patterns = torch.stack([doublet_test_pattern(grid, tube, r) for r in (0.5, 0.0)])
        noisy = patterns + 0.01 * torch.randn(patterns.shape, generator=seeded, dtype=grid.dtype)
        for reading in (
            T.kalpha2_ratio(patterns, grid, kalpha1, kalpha2),
            T.kalpha2_ratio(noisy, grid, kalpha1, kalpha2),
        ):
            assert 0.3 < float(reading[0]) < 0.55, (tube, reading)
            assert float(reading[1]) == 0.0
    noise = 0.05 + 0.01 * torch.randn((4, grid.shape[0]), generator=seeded, dtype=grid.dtype)
    assert T.kalpha2_ratio(noise, grid, 0.709319, 0.713609).tolist() == [0.0] * 4
    two = gaussian_peak(grid, 30.0, 0.1, 1.0) + gaussian_peak(grid, 50.0, 0.1, 0.5)
    image = 2 * math.degrees(math.asin(math.sin(math.radians(15.0)) * 0.713609 / 0.709319))
    assert (
        float(
            T.kalpha2_ratio((two + gaussian_peak(grid, image, 0.1, 0.5))[None], grid, 0.709319, 0.713609)[0]
        )
        == 0.0
    )
    with pytest.raises(ValueError, match="kalpha1 < kalpha2"):
        T.kalpha2_ratio(noise, grid, 0.713609, 0.709319)
    with pytest.raises(ValueError, match="min_ratio"):
        T.kalpha2_ratio(noise, grid, 0.709319, 0.713609, min_ratio=-0.1)


def test_strip_kbeta_removes_the_kbeta_peaks_and_leaves_patterns_without_them() -> None:
    """Stripped with its estimated ratio as it is (factor 1), a pattern differs from the same pattern without
    Kβ peaks by less than a fifth of the Kβ peak height anywhere (its Kα1 peaks included); with the default
    factor (1.5) no Kβ peak is left above it by more than that, and nothing is cut deeper than the Kβ peak's
    height; a pattern without Kβ peaks comes back unchanged; an explicit ratio per pattern works as one for
    all; bad ratios and factors are refused."""
    grid = rerender_grid()
    kalpha1, kbeta = WAVELENGTHS["CuKa1"], 1.39222
    with_kbeta, without = kbeta_test_pattern(grid, 0.02), kbeta_test_pattern(grid, 0.0)
    patterns = torch.stack([with_kbeta, without])
    kbeta_peak = 0.02 * max(KBETA_HEIGHTS)
    assert float((with_kbeta - without).abs().max()) == pytest.approx(kbeta_peak, rel=0.01)
    exact = T.strip_kbeta(patterns, grid, kalpha1, kbeta, factor=1.0)
    assert float((exact[0] - without).abs().max()) < 0.2 * kbeta_peak
    stripped = T.strip_kbeta(patterns, grid, kalpha1, kbeta)
    assert torch.equal(stripped[1], without)
    assert float((stripped[0] - without).max()) < 0.2 * kbeta_peak
    assert float((without - stripped[0]).max()) < kbeta_peak
    with pytest.raises(ValueError, match="factor"):
        T.strip_kbeta(patterns, grid, kalpha1, kbeta, factor=0.0)
    both = T.strip_kbeta(patterns, grid, kalpha1, kbeta, torch.tensor([0.02, 0.02], dtype=grid.dtype))
    torch.testing.assert_close(both, T.strip_kbeta(patterns, grid, kalpha1, kbeta, 0.02))
    assert torch.equal(T.strip_kbeta(patterns, grid, kalpha1, kbeta, 0.0), patterns)
    for bad in (1.0, -0.01, float("nan")):
        with pytest.raises(ValueError, match="ratio must be in"):
            T.strip_kbeta(patterns, grid, kalpha1, kbeta, bad)
    with pytest.raises(ValueError, match="ratio must be a number or"):
        T.strip_kbeta(patterns, grid, kalpha1, kbeta, torch.tensor([0.01, 0.01, 0.01]))


def rerender_grid() -> torch.Tensor:
    return torch.linspace(5.0, 90.0, 8501, dtype=torch.float64)


def gaussian_peak(grid: torch.Tensor, centre: float, fwhm: float, height: float) -> torch.Tensor:
    return height * torch.exp(-4 * math.log(2) * ((grid - centre) / fwhm) ** 2)


def test_rerender_peaks_keeps_positions_and_heights_with_the_scherrer_width() -> None:
    """Two narrow peaks come out at their positions (to a grid step) and heights (to 1 %), as Gaussians of
    FWHM K λ / (L cos θ) (closed form), K = 0.9, L = 40 nm."""
    grid = rerender_grid()
    pattern = gaussian_peak(grid, 28.4, 0.06, 1.0) + gaussian_peak(grid, 71.2, 0.08, 0.4)
    out = T.rerender_peaks(pattern[None], grid, 1.540593, 40.0, presmooth_fwhm_deg=0.0)[0]
    for centre, height in ((28.4, 1.0), (71.2, 0.4)):
        near = (grid - centre).abs() < 1.0
        top = int(torch.argmax(torch.where(near, out, 0.0)))
        assert abs(float(grid[top]) - centre) <= 0.01 + 1e-9
        assert float(out[top]) == pytest.approx(height, rel=0.01)
        fwhm = math.degrees(0.9 * 1.540593 / (400.0 * math.cos(math.radians(centre / 2))))
        above = grid[near & (out > float(out[top]) / 2)]
        assert float(above[-1] - above[0]) == pytest.approx(fwhm, abs=0.02)


def test_rerender_peaks_drops_the_noise_and_peaks_under_it() -> None:
    """On a background-free pattern with Gaussian counting-like noise of σ = 0.005: a peak of 40 σ stays,
    one of 1 σ and the noise itself are gone (the default 4 σ threshold after 0.06° smoothing)."""
    grid = rerender_grid()
    g = torch.Generator().manual_seed(0)
    noise = 0.005 * torch.randn(grid.shape, generator=g, dtype=torch.float64)
    pattern = gaussian_peak(grid, 33.0, 0.08, 1.0) + gaussian_peak(grid, 55.0, 0.08, 0.005) + noise
    out = T.rerender_peaks(T.remove_background(pattern[None], grid, 3.0), grid, 1.540593)[0]
    assert float(out[(grid - 33.0).abs() < 0.2].max()) > 0.5
    assert float(out[(grid - 55.0).abs() < 0.5].max()) == 0.0
    assert float(out[(grid - 33.0).abs() > 1.0].max()) == 0.0


def test_rerender_peaks_makes_a_doublet_and_its_kalpha1_pattern_alike(crystals) -> None:
    """Narrow (300 nm) peaks: with the Kα2 line stripped, the re-drawn doublet pattern is much closer to the
    re-drawn Kα1 pattern (cosine similarity) than the two patterns themselves are."""
    settings = dict(crystallite_size_nm=300.0, dtype=torch.float64)
    ka1 = PowderSimulator(FINE_GRID, **settings)(crystals)
    doublet = PowderSimulator(FINE_GRID, wavelength="CuKa", **settings)(crystals)
    grid = torch.linspace(*FINE_GRID[:2], FINE_GRID[2], dtype=torch.float64)

    def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))

    redrawn = [T.rerender_peaks(p, grid, 1.540593, 50.0, kalpha2_wavelength=1.544414) for p in (ka1, doublet)]
    assert bool((cosine(*redrawn) > 0.96).all())
    assert bool((cosine(*redrawn) > cosine(ka1, doublet) + 0.05).all())


def test_rerender_peaks_is_batch_consistent_and_refuses_bad_input() -> None:
    patterns, grid = flat_patterns(points=800)
    together = T.rerender_peaks(patterns, grid, 1.54, 50.0, kalpha2_wavelength=1.5444)
    for k in range(len(patterns)):
        single = T.rerender_peaks(patterns[k : k + 1], grid, 1.54, 50.0, kalpha2_wavelength=1.5444)
        torch.testing.assert_close(single[0], together[k])
    assert torch.equal(T.rerender_peaks(torch.zeros(2, 800), grid.float(), 1.54), torch.zeros(2, 800))
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="size_nm"):
            T.rerender_peaks(patterns, grid, 1.54, bad)
    with pytest.raises(ValueError, match="min_relative"):
        T.rerender_peaks(patterns, grid, 1.54, 50.0, min_relative=1.5)
    with pytest.raises(ValueError, match="grid"):
        T.rerender_peaks(patterns, grid[:-1], 1.54)


# ------------------------------------------------------------------------------------------------- presets
@pytest.mark.parametrize("name", T.PRESETS)
def test_presets_give_finite_patterns_with_maximum_one(name, device) -> None:
    sampler = xs.SpaceGroupSampler(seed=2, device=device, max_atoms=100)
    augmented = T.preset(name, two_theta=GRID, device=device, seed=1)
    patterns = augmented(sampler.sample(16))
    assert patterns.shape == (16, GRID[2]) and patterns.device.type == torch.device(device).type
    assert bool(torch.isfinite(patterns).all()) and bool((patterns >= 0).all())
    assert torch.allclose(patterns.amax(dim=1), torch.ones(16, device=device))


def test_presets_are_reproducible_and_feed_datasets() -> None:
    sampler = xs.SpaceGroupSampler(seed=2, max_atoms=100)
    augmented = T.preset("laboratory-cu", two_theta=GRID, seed=4)
    stream = xs.data.SyntheticPowderDataset(sampler, augmented, batch_size=8, seed=9, num_batches=2)
    first, second = list(stream), list(stream)
    for (a, la), (b, lb) in zip(first, second, strict=True):
        torch.testing.assert_close(a, b)
        assert torch.equal(la["space_group"], lb["space_group"])
    assert not torch.equal(first[0][0], first[1][0])
    with pytest.raises(ValueError, match="unknown preset"):
        T.preset("synchrotron")


def test_laboratory_preset_has_doublets_noise_and_broad_size_range() -> None:
    transforms = T.laboratory_cu_transforms()
    kinds = {type(t).__name__ for t in transforms}
    assert {"KAlphaDoublet", "InstrumentFunction", "CrystalliteSize", "PoissonNoise", "Background",
            "PreferredOrientation", "ScanRange", "Impurity"} <= kinds  # fmt: skip
    size = next(t for t in transforms if isinstance(t, T.CrystalliteSize))
    assert size.size_nm[0] <= 50.0 and size.size_nm[1] >= 1000.0  # tens of nm to µm


@pytest.mark.parametrize("transform", ALL_PATTERN_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_an_empty_pattern_stays_finite(transform) -> None:
    """A crystal without reflections in range gives zeros; no transform may turn them into NaN."""
    patterns, grid = flat_patterns()
    patterns[1] = 0.0
    assert bool(torch.isfinite(transform(patterns, grid, generator())).all())


def test_axial_divergence_pulls_low_angle_peaks_down_as_cot_two_theta() -> None:
    """The tail goes to lower 2θ below 90° (higher above) and grows as cot 2θ: each isolated peak's centroid
    moves by the mean satellite fraction times (a²/2) cot 2θ."""
    pyrite = xs.Crystal.from_cif(cif_path("pyrite"))
    sim = PowderSimulator((10.0, 150.0, 14001), crystallite_size_nm=200.0, dtype=torch.float64)
    parameters = T.AxialDivergence(ratio=0.05).draw(1, generator(), torch.float64)
    plain, tailed = sim([pyrite])[0].numpy(), sim([pyrite], parameters=parameters)[0].numpy()
    x = sim.two_theta.numpy()
    peaks = sim.peaks(pyrite)
    checked = 0
    for position in peaks.two_theta[peaks.intensity > 5]:
        if (np.abs(peaks.two_theta - position) < 1.0).sum() > 1:
            continue  # another peak within the window would blur the centroid
        window = (x > position - 1.0) & (x < position + 1.0)

        def centroid(y: np.ndarray, window=window) -> float:
            return float((y[window] * x[window]).sum() / y[window].sum())

        mean_fraction = np.mean([((k + 0.5) / 4) ** 2 for k in range(4)])
        expected = -mean_fraction * np.degrees(0.05**2 / 2 / np.tan(np.radians(position)))
        assert centroid(tailed) - centroid(plain) == pytest.approx(expected, rel=0.05, abs=2e-4)
        checked += 1
    assert checked >= 5
    with pytest.raises(ValueError, match="ratio"):
        T.AxialDivergence(ratio=(0.0, 0.9))


def test_preset_overrides_change_only_the_named_arguments() -> None:
    """An override replaces the named arguments of one effect; its other arguments and every other effect
    stay the preset's, and the patterns of a preset without overrides are those of the plain preset."""
    plain = T.laboratory_cu_transforms()
    changed = T.laboratory_cu_transforms({"PreferredOrientation": {"r": [0.35, 1.8]}})
    assert [type(t) for t in plain] == [type(t) for t in changed]
    for a, b in zip(plain, changed, strict=True):
        if isinstance(a, T.PreferredOrientation):
            assert b.r == (0.35, 1.8) and b.p == a.p == 0.5
        else:
            assert repr(a) == repr(b)
    crystals = xs.SpaceGroupSampler(seed=4).sample(8)
    same = T.preset("laboratory-cu", two_theta=GRID, seed=3, overrides={})(crystals)
    torch.testing.assert_close(same, T.preset("laboratory-cu", two_theta=GRID, seed=3)(crystals))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Texture": {"r": 0.5}}, "no effect 'Texture'"),
        ({"PreferredOrientation": {"strength": 0.5}}, "PreferredOrientation: .*strength"),
        ({"PreferredOrientation": {"r": -1.0}}, "PreferredOrientation: r must"),
        ({"PreferredOrientation": 0.5}, "must map argument names"),
    ],
)
def test_preset_overrides_refuse_what_the_preset_cannot_take(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        T.preset("laboratory-cu", two_theta=GRID, overrides=overrides)
    with pytest.raises(ValueError, match="no effects to override"):
        T.preset("clean", two_theta=GRID, overrides={"PreferredOrientation": {"r": 0.5}})
