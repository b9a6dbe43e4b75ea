"""PowderSimulator: closed-form physics, symmetry reduction, profiles, effects, bad input, gradients."""

from __future__ import annotations

import itertools
import math
import pickle
import warnings

import numpy as np
import pytest
import torch

import xrdsynth as xs
from conftest import FIXTURE_CIFS
from xrdsynth.examples import cif_path
from xrdsynth.simulate import PatternParameters, PowderSimulator, resolve_wavelength
from xrdsynth.simulate.functional import Widths, peak_widths, render

CU_KA1, CU_KA2 = 1.540593, 1.544414


def cubic(a: float, sites: list[tuple[float, float, float]], z: int, space_group: int) -> xs.Crystal:
    return xs.Crystal(np.eye(3) * a, np.array(sites), np.full(len(sites), z), space_group=space_group)


def bragg_two_theta(d: np.ndarray, wavelength: float = CU_KA1) -> np.ndarray:
    return 2.0 * np.degrees(np.arcsin(wavelength / (2.0 * d)))


def allowed_shells(a: float, rule, wavelength: float = CU_KA1, top: float = 90.0) -> np.ndarray:
    """Sorted distinct 2θ of the cubic reflections that satisfy ``rule`` (closed form d = a / |hkl|)."""
    n = int(2 * a / wavelength) + 2
    norms = {
        h * h + k * k + l * l
        for h, k, l in itertools.product(range(-n, n + 1), repeat=3)
        if (h, k, l) != (0, 0, 0) and rule(h, k, l)
    }
    d = a / np.sqrt(np.array(sorted(norms), dtype=float))
    d = d[wavelength / (2 * d) < 1]
    tt = bragg_two_theta(d, wavelength)
    return np.sort(tt[(tt >= 5.0) & (tt <= top)])


# --------------------------------------------------------------------------------------------- wavelengths
def test_named_wavelengths_and_doublet() -> None:
    assert resolve_wavelength("CuKa1").wavelengths == (CU_KA1,)
    assert resolve_wavelength("cuka1").wavelength == CU_KA1
    doublet = resolve_wavelength("CuKa")
    assert doublet.wavelengths == (CU_KA1, CU_KA2) and doublet.weights == (1.0, 0.5)
    assert resolve_wavelength(0.7093).wavelengths == (0.7093,)
    for name in ("MoKa1", "CoKa1", "CrKa1", "FeKa1", "AgKa1"):
        assert 0.5 < resolve_wavelength(name).wavelength < 2.3


@pytest.mark.parametrize(
    "bad", [0.0, -1.5, float("nan"), float("inf"), "CuKb", "", True, None, "-1.5", "nan", "1.5 Å"]
)
def test_bad_wavelength(bad) -> None:
    with pytest.raises(ValueError, match="wavelength"):
        PowderSimulator(wavelength=bad)


def test_numeric_wavelength_strings_are_angstrom_as_on_the_command_line() -> None:
    assert resolve_wavelength("1.5406") == resolve_wavelength(1.5406)
    assert resolve_wavelength(" 0.7093 ").wavelengths == (0.7093,)
    assert PowderSimulator(wavelength="1.54").wavelength == 1.54


# ------------------------------------------------------------------------------------------------ grids
def test_a_tuple_of_three_is_start_stop_num_with_an_integral_count() -> None:
    grid = PowderSimulator(two_theta=(5, 90, 1000.0)).two_theta
    assert len(grid) == 1000 and float(grid[0]) == 5.0 and float(grid[-1]) == 90.0
    with pytest.raises(ValueError, match=r"whole number of points, got num=1000.5"):
        PowderSimulator(two_theta=(5, 90, 1000.5))
    # Three angles as a list or an array are three points.
    assert PowderSimulator(two_theta=[10.0, 20.0, 30.0]).two_theta.tolist() == [10.0, 20.0, 30.0]
    assert len(PowderSimulator(two_theta=np.array([10.0, 20.0, 30.0])).two_theta) == 3


def test_a_read_only_grid_is_copied_without_a_warning() -> None:
    measured = xs.io.read_pattern(xs.examples.measured_path("CdS"))
    assert not measured.two_theta.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim = PowderSimulator(two_theta=measured.two_theta)
    np.testing.assert_allclose(sim.two_theta.numpy(), measured.two_theta, rtol=1e-6)


def test_help_of_the_constructor_is_not_torchs() -> None:
    doc = PowderSimulator.__init__.__doc__ or ""
    assert "Initialize internal Module state" not in doc and "help(PowderSimulator)" in doc


# ------------------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize(
    ("name", "sites", "group", "rule"),
    [
        ("primitive", [(0, 0, 0)], 221, lambda h, k, l: True),
        ("body-centred", [(0, 0, 0), (0.5, 0.5, 0.5)], 229, lambda h, k, l: (h + k + l) % 2 == 0),
        (
            "face-centred",
            [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
            225,
            lambda h, k, l: h % 2 == k % 2 == l % 2,
        ),
        (
            "diamond",
            [
                (x + dx, y + dy, z + dz)
                for x, y, z in [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
                for dx, dy, dz in [(0, 0, 0), (0.25, 0.25, 0.25)]
            ],
            227,
            lambda h, k, l: (h % 2 == k % 2 == l % 2) and ((h % 2 == 1) or (h + k + l) % 4 == 0),
        ),
    ],
)
def test_cubic_positions_and_absences(name: str, sites, group: int, rule) -> None:
    """Peak positions are Bragg's law on d = a/|hkl|; centring and the diamond glide remove the rest."""
    a = 4.0 if name != "diamond" else 5.431
    crystal = cubic(a, sites, 14, group)
    peaks = PowderSimulator().peaks(crystal, min_intensity=1e-6)
    expected = allowed_shells(a, rule)
    assert len(peaks) == len(expected), name
    np.testing.assert_allclose(peaks.two_theta, expected, atol=1e-9)
    np.testing.assert_allclose(peaks.d, a / np.sqrt((peaks.hkl**2).sum(1)), rtol=1e-12)
    for hkl in peaks.hkl:
        assert rule(*hkl), (name, hkl)


def test_cubic_multiplicities_sum_to_all_reflections() -> None:
    """In a primitive cubic cell every lattice point inside the sphere is one reflection of some peak."""
    a = 3.0
    peaks = PowderSimulator(two_theta=(1.0, 179.0, 1000)).peaks(
        cubic(a, [(0, 0, 0)], 29, 221), min_intensity=0
    )
    n_max = 2 * a / CU_KA1
    grid = np.arange(-4, 5)
    h, k, l = np.meshgrid(grid, grid, grid, indexing="ij")
    norm = np.sqrt(h**2 + k**2 + l**2)
    in_sphere = (norm > 0) & (norm <= n_max)
    two_theta = bragg_two_theta(a / np.where(in_sphere, norm, n_max))
    inside = in_sphere & (two_theta >= 1.0)
    assert peaks.multiplicity.sum() == inside.sum()
    # m-3m orbit sizes: {100} 6, {110} 12, {111} 8, {210} 24, {211} 24, {321} 48.
    by_hkl = {tuple(sorted(np.abs(h))): m for h, m in zip(peaks.hkl, peaks.multiplicity, strict=True)}
    assert by_hkl[(0, 0, 1)] == 6 and by_hkl[(0, 1, 1)] == 12 and by_hkl[(1, 1, 1)] == 8


def test_lorentz_polarisation_and_debye_waller_closed_form() -> None:
    """One atom at the origin: I = m f(s)^2 exp(-2Bs^2) (1 + cos^2 2θ) / (sin^2 θ cos θ)."""
    sim = PowderSimulator()
    b = 0.8
    base = cubic(3.5, [(0, 0, 0)], 26, 221)
    warm = xs.Crystal(base.lattice, base.frac_coords, base.numbers, b_iso=[b], space_group=221)
    cold, hot = sim.peaks(base, min_intensity=0), sim.peaks(warm, min_intensity=0)
    theta = np.radians(cold.two_theta / 2)
    s2 = (1.0 / (2.0 * cold.d)) ** 2
    coef = np.array(__import__("gemmi").Element("Fe").it92.get_coefs())
    f = (coef[:4] * np.exp(-coef[4:8] * s2[:, None])).sum(1) + coef[8]
    expected = cold.multiplicity * f**2 * (1 + np.cos(2 * theta) ** 2) / (np.sin(theta) ** 2 * np.cos(theta))
    np.testing.assert_allclose(cold.intensity, 100 * expected / expected.max(), rtol=1e-10)
    ratio = hot.intensity / cold.intensity
    dw = np.exp(-2 * b * s2)
    np.testing.assert_allclose(
        ratio, dw / dw[np.argmax(cold.intensity)] * (hot.intensity.max() / 100), rtol=1e-9
    )


def test_doubled_cell_gives_the_same_pattern() -> None:
    quartz = xs.Crystal.from_cif(cif_path("quartz"))
    lattice = quartz.lattice.copy()
    lattice[0] *= 2
    frac = np.concatenate([quartz.frac_coords * [0.5, 1, 1], quartz.frac_coords * [0.5, 1, 1] + [0.5, 0, 0]])
    double = xs.Crystal(lattice, frac, np.tile(quartz.numbers, 2), space_group=1)
    sim = PowderSimulator()
    single, doubled = sim.peaks(quartz), sim.peaks(double)
    np.testing.assert_allclose(doubled.two_theta, single.two_theta, atol=1e-9)
    np.testing.assert_allclose(doubled.intensity, single.intensity, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("path", FIXTURE_CIFS[::3], ids=lambda p: p.stem)
def test_laue_reduction_equals_no_reduction(path) -> None:
    """Reducing hkl by the Laue group (with multiplicities) gives what the triclinic enumeration gives."""
    crystal = xs.Crystal.from_cif(path)
    as_p1 = xs.Crystal(
        crystal.lattice,
        crystal.frac_coords,
        crystal.numbers,
        crystal.occupancies,
        crystal.b_iso,
        space_group=1,
    )
    sim = PowderSimulator()
    full, reduced = sim.peaks(as_p1), sim.peaks(crystal)
    np.testing.assert_allclose(reduced.two_theta, full.two_theta, atol=1e-9)
    np.testing.assert_allclose(reduced.intensity, full.intensity, rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(reduced.multiplicity, full.multiplicity)


def test_wrong_setting_falls_back_to_friedel_symmetry() -> None:
    """A monoclinic crystal with unique axis c, labelled with its group number (whose default setting has
    unique axis b), must not be merged by the wrong 2-fold axis."""
    rng = np.random.default_rng(1)
    lattice = xs.Crystal.lattice_from_parameters(5.1, 6.3, 7.2, 90, 90, 104)
    x = rng.random((3, 3))
    frac = np.concatenate([x, x * [-1, -1, 1] + [0, 0, 0.5]])  # 2_1 along c
    numbers = np.tile([8, 14, 26], 2)
    as_p1 = xs.Crystal(lattice, frac, numbers, space_group=1)
    mislabelled = xs.Crystal(lattice, frac, numbers, space_group=4)  # P2_1, whose default axis is b
    sim = PowderSimulator()
    np.testing.assert_allclose(sim.peaks(mislabelled).intensity, sim.peaks(as_p1).intensity, rtol=1e-9)


def test_invariance_under_origin_shift_and_atom_order() -> None:
    quartz = xs.Crystal.from_cif(cif_path("quartz"))
    order = np.random.default_rng(0).permutation(quartz.num_atoms)
    moved = xs.Crystal(
        quartz.lattice,
        (quartz.frac_coords + np.array([0.13, 0.71, 0.29]))[order],
        quartz.numbers[order],
        space_group=1,
    )
    sim = PowderSimulator()
    np.testing.assert_allclose(sim.peaks(moved).intensity, sim.peaks(quartz).intensity, rtol=1e-8)


def test_kalpha_doublet_splitting() -> None:
    crystal = cubic(4.0, [(0, 0, 0)], 29, 221)
    single = PowderSimulator(wavelength="CuKa1").peaks(crystal)
    doublet = PowderSimulator(wavelength="CuKa").peaks(crystal, merge_tolerance=1e-9)
    ka2 = doublet.wavelength == CU_KA2
    assert ka2.sum() == (doublet.wavelength == CU_KA1).sum() == len(single)
    expected = bragg_two_theta(single.d, CU_KA2)
    np.testing.assert_allclose(doublet.two_theta[ka2], expected, atol=1e-9)
    # Δ2θ = 2 (Δλ/λ) tanθ to first order: grows with angle, 0.1° near 2θ = 60°.
    split = doublet.two_theta[ka2] - doublet.two_theta[~ka2]
    theta = np.radians(single.two_theta / 2)
    np.testing.assert_allclose(split, np.degrees(2 * (CU_KA2 - CU_KA1) / CU_KA1 * np.tan(theta)), rtol=2e-3)

    # Kα2 at half the intensity, times the ratio of its own Lorentz-polarisation factor.
    def lp(tt: np.ndarray) -> np.ndarray:
        return (1 + np.cos(np.radians(tt)) ** 2) / (
            np.sin(np.radians(tt / 2)) ** 2 * np.cos(np.radians(tt / 2))
        )

    ratio = doublet.intensity[ka2] / doublet.intensity[~ka2]
    np.testing.assert_allclose(
        ratio, 0.5 * lp(doublet.two_theta[ka2]) / lp(doublet.two_theta[~ka2]), rtol=1e-6
    )


def test_reflections_beyond_180_are_skipped() -> None:
    sim = PowderSimulator(two_theta=(10.0, 179.0, 3000), wavelength="CrKa1")
    peaks = sim.peaks(cubic(2.9, [(0, 0, 0), (0.5, 0.5, 0.5)], 26, 229))
    assert np.all(peaks.two_theta < 180) and np.all(peaks.d >= 2.28976 / 2)
    assert len(peaks) == len(allowed_shells(2.9, lambda h, k, l: (h + k + l) % 2 == 0, 2.28976, top=179.0))


# --------------------------------------------------------------------------------------------- profiles
@pytest.mark.parametrize("profile", ["gaussian", "lorentzian", "pseudo_voigt"])
@pytest.mark.parametrize("kind", ["instrument_fwhm", "size+caglioti", "strain"])
def test_profiles_conserve_area_and_match_closed_form(profile: str, kind: str) -> None:
    grid = torch.linspace(5.0, 90.0, 8501, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    widths = {
        "instrument_fwhm": Widths(CU_KA1, instrument_fwhm=0.15 * one),
        "size+caglioti": Widths(
            CU_KA1,
            crystallite_size_nm=40 * one,
            caglioti=torch.tensor([[0.004, -0.002, 0.003]], dtype=torch.float64),
        ),
        "strain": Widths(CU_KA1, microstrain=2e-3 * one, instrument_fwhm=0.02 * one),
    }[kind]
    position = torch.tensor([25.0, 47.3, 71.9], dtype=torch.float64)
    area = torch.tensor([1.0, 2.5, 0.7], dtype=torch.float64)
    y = render(grid, torch.zeros(3, dtype=torch.long), position, area, 1, widths, profile)[0]
    fwhm, eta = peak_widths(position, widths, profile)
    expected = torch.zeros_like(grid)
    for p, a, h, e in zip(position, area, fwhm[0], eta[0], strict=True):
        sigma = h / (2 * math.sqrt(2 * math.log(2)))
        gauss = torch.exp(-0.5 * ((grid - p) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        lorentz = (h / 2) / math.pi / ((grid - p) ** 2 + (h / 2) ** 2)
        expected += a * ((1 - e) * gauss + e * lorentz)
    step = float(grid[1] - grid[0])
    # Area: what the closed-form profiles put inside the grid (Lorentzian tails reach beyond it).
    assert float(y.sum()) * step == pytest.approx(float(expected.sum()) * step, rel=2e-3)
    assert float((y - expected).abs().max()) < 1.5e-3 * float(expected.max())


def _gaussian_cell_means(
    edges: torch.Tensor, position: torch.Tensor, area: torch.Tensor, fwhm: torch.Tensor
) -> torch.Tensor:
    """Closed form: the mean over each cell of a sum of Gaussians, from differences of their erf."""
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    z = (edges.view(1, -1) - position.view(-1, 1)) / (sigma.view(-1, 1) * math.sqrt(2))
    mass = (area.view(-1, 1) * 0.5 * torch.diff(torch.special.erf(z), dim=1)).sum(0)
    return mass / torch.diff(edges)


@pytest.mark.parametrize("fwhm", [0.3, 0.03, 0.002])
def test_step_average_is_the_mean_of_the_profile_over_each_step(fwhm: float) -> None:
    """step_average: each point the mean over its cell of the exact Gaussians (erf differences), from peaks
    15 steps wide to peaks a tenth of a step wide, on an uneven grid too (cells between midpoints)."""
    from xrdsynth.simulate._profiles import cell_edges

    even = torch.linspace(5.0, 90.0, 4251, dtype=torch.float64)
    uneven = 5.0 + 85.0 * torch.linspace(0.0, 1.0, 3001, dtype=torch.float64) ** 1.3
    position = torch.tensor([25.013, 47.3, 71.9071], dtype=torch.float64)
    area = torch.tensor([1.0, 2.5, 0.7], dtype=torch.float64)
    widths = Widths(CU_KA1, instrument_fwhm=fwhm * torch.ones(1, dtype=torch.float64))
    for grid in (even, uneven):
        pattern = torch.zeros(3, dtype=torch.long)
        y = render(grid, pattern, position, area, 1, widths, "gaussian", step_average=True)[0]
        expected = _gaussian_cell_means(cell_edges(grid), position, area, fwhm * torch.ones(3))
        assert float((y - expected).abs().max()) < 1e-3 * float(expected.max())
        # Every peak's area is on the grid, however narrow (the points alone miss or over-read it).
        assert float((y * torch.diff(cell_edges(grid))).sum()) == pytest.approx(float(area.sum()), rel=1e-4)


def test_step_average_keeps_the_peaks_that_points_miss() -> None:
    """3 µm crystallites on a 0.02° grid: sampled at the points, the peaks' areas come out anywhere from 0
    to hundreds of times the stick's; averaged over the steps, each is the stick's to 1e-3."""
    crystal = xs.Crystal.from_cif(cif_path("pyrite"))
    grid = torch.linspace(5.0, 90.0, 4251, dtype=torch.float64)
    areas = {}
    for step_average in (False, True):
        sim = PowderSimulator(
            grid, crystallite_size_nm=3000.0, step_average=step_average, dtype=torch.float64
        )
        y = sim([crystal])[0]
        sticks = sim.peaks(crystal)
        areas[step_average] = np.array(
            [float(y[(grid - p).abs() < 0.2].sum()) for p in sticks.two_theta]
        ) / np.asarray(sticks.intensity)
    exact = areas[True] / areas[True][0]
    sampled = areas[False] / areas[False][0]
    assert np.allclose(exact, 1.0, atol=1e-3)
    assert np.abs(sampled - 1.0).max() > 0.5
    assert "step_average=True" in repr(PowderSimulator((5.0, 90.0, 100), step_average=True))


def test_step_average_of_broad_peaks_is_close_to_the_points_and_differentiable() -> None:
    """Peaks 10 steps wide: the mean over a step differs from the value at the point by ~0.2 % of the
    height (FWHM²/24 curvature); gradients flow through the averaged read-back."""
    crystal = xs.Crystal.from_cif(cif_path("pyrite"))
    batch = xs.CrystalBatch.from_crystals([crystal], dtype=torch.float64)
    grid = (5.0, 90.0, 8501)
    points = PowderSimulator(grid, crystallite_size_nm=None, instrument_fwhm=0.1, dtype=torch.float64)
    means = PowderSimulator(
        grid, crystallite_size_nm=None, instrument_fwhm=0.1, dtype=torch.float64, step_average=True
    )
    difference = (points(batch) - means(batch)).abs().max()
    assert 1e-4 < float(difference) < 5e-3
    area = torch.ones(2, dtype=torch.float64, requires_grad=True)
    widths = Widths(CU_KA1, instrument_fwhm=0.02 * torch.ones(1, dtype=torch.float64))
    y = render(
        torch.linspace(5.0, 90.0, 2001, dtype=torch.float64),
        torch.zeros(2, dtype=torch.long),
        torch.tensor([30.0, 60.0], dtype=torch.float64),
        area,
        1,
        widths,
        "pseudo_voigt",
        step_average=True,
    )
    (y[0] * torch.linspace(0.0, 1.0, 2001, dtype=torch.float64)).sum().backward()
    assert area.grad is not None
    assert bool(torch.isfinite(area.grad).all()) and float(area.grad.abs().min()) > 0


def test_patterns_of_different_widths_rendered_in_groups_match_closed_form() -> None:
    """A batch whose patterns differ in peak width is rendered in groups with their own FFT lengths; every
    pattern still matches the closed-form Gaussians, and patterns come back in batch order."""
    from xrdsynth.simulate._profiles import _length_groups

    grid = torch.linspace(5.0, 90.0, 2001, dtype=torch.float64)
    n = 256
    sizes = torch.linspace(15.0, 120.0, n, dtype=torch.float64)[
        torch.randperm(n, generator=torch.Generator().manual_seed(0))
    ]
    widths = Widths(CU_KA1, crystallite_size_nm=sizes)
    pattern = torch.arange(n).repeat_interleave(2)
    position = torch.tensor([21.0, 63.5], dtype=torch.float64).repeat(n) + 0.01 * pattern
    area = torch.ones(2 * n, dtype=torch.float64)
    # Each pattern's length in FWHM (what the renderer groups by): the batch takes the grouped path.
    lengths = (1.0 / peak_widths(grid, widths, "gaussian")[0]).sum(1) * float(grid[1] - grid[0])
    assert len(_length_groups(lengths, 8)) > 1
    y = render(grid, pattern, position, area, n, widths, "gaussian")
    fwhm = peak_widths(position.view(n, 2), widths, "gaussian")[0]  # (n, 2)
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    centres = position.view(n, 2)
    expected = (
        torch.exp(-0.5 * ((grid.view(1, 1, -1) - centres.unsqueeze(-1)) / sigma.unsqueeze(-1)) ** 2)
        / (sigma.unsqueeze(-1) * math.sqrt(2 * math.pi))
    ).sum(1)
    error = (y - expected).abs().amax(1) / expected.amax(1)
    assert float(error.max()) < 1.5e-3


@pytest.mark.parametrize("step_average", [False, True])
@pytest.mark.parametrize(
    ("points", "profile", "largest_nm"), [(4001, "gaussian", 30.0), (301, "pseudo_voigt", 100.0)]
)
def test_rendering_without_autograd_equals_the_differentiable_path(
    points: int, profile: str, largest_nm: float, step_average: bool
) -> None:
    """Without autograd the read-back runs a block of patterns at a time; with it, on the whole batch at once.
    Both give the same profiles, where the rendering grid has fewer samples than the output (4001 points)
    and more (301 points: the spline is then evaluated at the points, not per interval), read at the points
    or averaged over the steps."""
    grid = torch.linspace(5.0, 90.0, points, dtype=torch.float64)
    n = 40
    generator = torch.Generator().manual_seed(3)
    sizes = 10.0 + (largest_nm - 10.0) * torch.rand(n, generator=generator)
    widths = Widths(CU_KA1, crystallite_size_nm=sizes)
    pattern = torch.arange(n).repeat_interleave(30)
    position = 6.0 + 83.0 * torch.rand(30 * n, generator=generator, dtype=torch.float64)
    area = torch.rand(30 * n, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        blocked = render(grid, pattern, position, area, n, widths, profile, step_average=step_average)
    whole = render(
        grid, pattern, position, area.clone().requires_grad_(), n, widths, profile, step_average=step_average
    )
    assert whole.requires_grad
    assert torch.allclose(blocked, whole.detach(), rtol=0, atol=1e-12 * float(blocked.abs().max()))


def test_peaks_too_narrow_for_the_rendering_grid_warn() -> None:
    """FWHM of 1e-4° over 85°: the capped FFT holds under 3 samples per FWHM, which the renderer says."""
    grid = torch.linspace(5.0, 90.0, 1001, dtype=torch.float64)
    widths = Widths(CU_KA1, instrument_fwhm=torch.full((1,), 1e-4, dtype=torch.float64))
    one = torch.ones(1, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="samples per FWHM"):
        render(grid, torch.zeros(1, dtype=torch.long), 30.0 * one, one, 1, widths, "gaussian")


def test_scherrer_width() -> None:
    """A crystallite of L nm gives FWHM = K λ / (L cos θ) (radians) in a Gaussian profile."""
    sim = PowderSimulator(crystallite_size_nm=25.0, dtype=torch.float64)
    crystal = cubic(4.0, [(0, 0, 0)], 29, 221)
    x = sim([crystal])[0].numpy()
    tt = sim.two_theta.numpy()
    peak = sim.peaks(crystal).two_theta[0]
    window = np.abs(tt - peak) < 1.5
    above = tt[window][x[window] >= 0.5 * x[window].max()]
    expected = np.degrees(0.9 * CU_KA1 / (250.0 * np.cos(np.radians(peak / 2))))
    assert above[-1] - above[0] == pytest.approx(expected, abs=2 * (tt[1] - tt[0]))


# ------------------------------------------------------------------------------------------ batch / dtype
def crystals() -> list[xs.Crystal]:
    return [xs.Crystal.from_cif(p) for p in FIXTURE_CIFS[:6]]


def test_batch_equals_single_and_shapes(device: str) -> None:
    sim = PowderSimulator(crystallite_size_nm=50.0, device=device)
    batch = xs.CrystalBatch.from_crystals(crystals())
    x = sim(batch)
    assert x.shape == (6, 8501) and x.dtype == torch.float32 and x.device.type == device
    torch.testing.assert_close(x.amax(1), torch.ones(6, device=device))
    singles = torch.cat([sim([c]) for c in crystals()])
    torch.testing.assert_close(x, singles, atol=2e-6, rtol=0)
    assert sim.two_theta.shape == (8501,) and float(sim.two_theta[0]) == 5.0


def test_float32_matches_float64() -> None:
    x32 = PowderSimulator(crystallite_size_nm=30.0)(crystals())
    x64 = PowderSimulator(crystallite_size_nm=30.0, dtype=torch.float64)(crystals())
    assert x64.dtype == torch.float64
    assert float((x32.double() - x64).abs().max()) < 1e-4


def test_random_sizes_are_seeded_and_fresh() -> None:
    batch = crystals()[:2]
    a, b = PowderSimulator(seed=3), PowderSimulator(seed=3)
    first = a(batch)
    torch.testing.assert_close(first, b(batch))
    assert not torch.allclose(first, a(batch))  # the next call draws new sizes
    copy = pickle.loads(pickle.dumps(PowderSimulator(seed=3)))
    torch.testing.assert_close(copy(batch), first)


def test_q_grid() -> None:
    sim = PowderSimulator(q=(0.5, 6.0, 2000))
    torch.testing.assert_close(sim.q, torch.linspace(0.5, 6.0, 2000), atol=1e-5, rtol=0)
    assert float(sim.two_theta[0]) == pytest.approx(2 * math.degrees(math.asin(0.5 * CU_KA1 / (4 * math.pi))))
    assert sim(crystals()[:1]).shape == (1, 2000)
    with pytest.raises(ValueError, match="q grid"):
        PowderSimulator(q=(0.5, 9.0, 100))


# ------------------------------------------------------------------------------------------ sample effects
def test_zero_shift_and_displacement_move_peaks() -> None:
    crystal = cubic(4.0, [(0, 0, 0)], 29, 221)
    base = PowderSimulator(crystallite_size_nm=80.0, dtype=torch.float64)
    shifted = PowderSimulator(crystallite_size_nm=80.0, zero_shift=0.3, dtype=torch.float64)
    moved = PowderSimulator(crystallite_size_nm=80.0, specimen_displacement_mm=0.2, dtype=torch.float64)
    tt = base.two_theta.numpy()
    peak = base.peaks(crystal).two_theta[0]

    def centre(sim: PowderSimulator) -> float:
        y = sim([crystal])[0].numpy()
        window = np.abs(tt - peak) < 1.0
        return float((tt[window] * y[window]).sum() / y[window].sum())

    assert centre(shifted) - centre(base) == pytest.approx(0.3, abs=2e-3)
    expected = -np.degrees(2 * 0.2 * np.cos(np.radians(peak / 2)) / 240.0)
    assert centre(moved) - centre(base) == pytest.approx(expected, abs=2e-3)


def test_march_dollase() -> None:
    """r = 1 is a random powder; r < 1 (platelets on 001) boosts 00l against hk0."""
    crystal = xs.Crystal(
        xs.Crystal.lattice_from_parameters(3, 3, 5, 90, 90, 90), [[0, 0, 0]], [29], space_group=123
    )
    grid = (10.0, 90.0, 4001)
    plain = PowderSimulator(grid, crystallite_size_nm=60.0)([crystal])
    random_powder = PowderSimulator(
        grid, crystallite_size_nm=60.0, march_dollase=1.0, preferred_orientation_hkl=(0, 0, 1)
    )([crystal])
    torch.testing.assert_close(random_powder, plain)
    textured = PowderSimulator(
        grid, crystallite_size_nm=60.0, march_dollase=0.6, preferred_orientation_hkl=(0, 0, 1)
    )([crystal])
    peaks = PowderSimulator(grid).peaks(crystal)
    tt = torch.linspace(*grid[:2], grid[2])

    def height(x: torch.Tensor, hkl: tuple[int, int, int]) -> float:
        k = next(i for i, h in enumerate(peaks.hkl) if tuple(h) == hkl)
        return float(x[0, torch.argmin((tt - peaks.two_theta[k]).abs())])

    assert height(textured, (0, 0, 1)) / height(textured, (1, 0, 0)) > 2 * height(plain, (0, 0, 1)) / height(
        plain, (1, 0, 0)
    )


CALCITE = next(path for path in FIXTURE_CIFS if path.name == "amcsd_0000098.cif")


def _intensity_of(peaks: xs.PeakList, d: float) -> float:
    """Intensity of the peak at d-spacing ``d`` (Å)."""
    return float(peaks.intensity[np.argmin(np.abs(peaks.d - d))])


def test_peaks_apply_fixed_texture_with_the_march_dollase_closed_form() -> None:
    calcite = xs.Crystal.from_cif(CALCITE)
    r = 0.5
    plain = PowderSimulator().peaks(calcite)
    textured = PowderSimulator(march_dollase=r, preferred_orientation_hkl=(0, 0, 1)).peaks(calcite)
    c, a = calcite.cell_parameters[2], calcite.cell_parameters[0]
    d_00l, d_hk0 = c / 12, a / 2  # (0 0 12) lies on the axis, (1 1 0) and its equivalents at 90° to it
    # (r² cos²α + sin²α / r)^-3/2 is r^-3 on the axis and r^3/2 perpendicular to it.
    ratio = (_intensity_of(textured, d_00l) / _intensity_of(textured, d_hk0)) / (
        _intensity_of(plain, d_00l) / _intensity_of(plain, d_hk0)
    )
    assert ratio == pytest.approx(r**-3 / r**1.5, rel=1e-9)


def test_peaks_of_a_textured_shifted_sample_are_the_maxima_of_its_profile() -> None:
    calcite = xs.Crystal.from_cif(CALCITE)
    sim = PowderSimulator(
        crystallite_size_nm=200.0, march_dollase=0.5, preferred_orientation_hkl=(0, 0, 1), zero_shift=0.1,
        dtype=torch.float64,
    )  # fmt: skip
    peaks = sim.peaks(calcite)
    y, tt = sim([calcite])[0].numpy(), sim.two_theta.numpy()
    maxima = [i for i in range(1, len(y) - 1) if y[i] > y[i - 1] and y[i] >= y[i + 1]]
    top = sorted(maxima, key=lambda i: -y[i])[:3]
    strongest = np.argsort(-peaks.intensity)[:3]
    # The three strongest sticks (texture makes (0 0 12) one of them) sit on the three highest maxima.
    np.testing.assert_allclose(np.sort(tt[top]), np.sort(peaks.two_theta[strongest]), atol=0.011)
    assert any(tuple(h) == (0, 0, 12) for h in peaks.hkl[strongest])


def test_peaks_apply_fixed_shifts_and_leave_out_ranges() -> None:
    calcite = xs.Crystal.from_cif(CALCITE)
    plain = PowderSimulator().peaks(calcite)
    zero = PowderSimulator(zero_shift=0.1).peaks(calcite)
    np.testing.assert_allclose(zero.two_theta, plain.two_theta + 0.1, atol=1e-9)
    np.testing.assert_allclose(zero.d, plain.d)
    moved = PowderSimulator(specimen_displacement_mm=0.2, goniometer_radius_mm=200.0).peaks(calcite)
    expected = plain.two_theta - np.degrees(2 * 0.2 * np.cos(np.radians(plain.two_theta / 2)) / 200.0)
    np.testing.assert_allclose(moved.two_theta, expected, atol=1e-9)
    # Per-pattern draws (ranges, a random texture direction) are not sticks of one pattern: left out.
    for random in (
        {"zero_shift": (-0.1, 0.1)},
        {"specimen_displacement_mm": (0.0, 0.2)},
        {"march_dollase": (0.5, 0.9), "preferred_orientation_hkl": (0, 0, 1)},
        {"march_dollase": 0.5},
    ):
        drawn = PowderSimulator(**random).peaks(calcite)
        np.testing.assert_allclose(drawn.two_theta, plain.two_theta)
        np.testing.assert_allclose(drawn.intensity, plain.intensity)


def _families_of(crystal: xs.Crystal, hkl: np.ndarray) -> set[tuple[int, int, int]]:
    """The orbit of hkl under the Laue group of the crystal's space group (spglib's operations, not the
    simulator's tables): h -> h R for x -> R x, and Friedel's -h."""
    rotations = xs.symmetry.SpaceGroup(crystal.space_group).operations.rotations
    images = {tuple(int(v) for v in np.asarray(hkl) @ r) for r in rotations}
    return images | {tuple(-v for v in image) for image in images}


def _table_choice(family: set[tuple[int, int, int]]) -> tuple[int, int, int]:
    """The member powder tables list: fewest negative indices, largest indices first, negatives first."""
    return min(
        family,
        key=lambda h: (sum(v < 0 for v in h), tuple(-abs(v) for v in h), tuple(v >= 0 for v in h)),
    )


def test_peak_labels_name_every_family_by_its_conventional_member() -> None:
    calcite = xs.Crystal.from_cif(CALCITE)
    peaks = PowderSimulator().peaks(calcite)
    labels, hkil = peaks.labels(), peaks.labels(bravais_miller=True)
    strongest = np.argsort(-peaks.intensity)[:6]
    # As powder tables list calcite (ICDD 5-586): 104, 116, 018, 113, 202, 110.
    assert [labels[k] for k in strongest] == ["1 0 4", "1 1 6", "0 1 8", "1 1 3", "2 0 2", "1 1 0"]
    assert [hkil[k] for k in strongest[:3]] == ["1 0 -1 4", "1 1 -2 6", "0 1 -1 8"]
    assert peaks.hexagonal and peaks.hkil[strongest[0]].tolist() == [1, 0, -1, 4]
    np.testing.assert_array_equal(peaks.hkl[strongest[0]], [1, 0, 4])
    # Quartz's 26.6° peak merges two forms of one d-spacing; both are named, the stronger first.
    quartz = xs.Crystal.from_cif(cif_path("quartz"))
    peaks = PowderSimulator().peaks(quartz)
    k = int(np.argmax(peaks.intensity))
    assert sorted(map(tuple, peaks.families[k].tolist())) == [(0, 1, 1), (1, 0, 1)]
    assert peaks.labels()[k] in ("0 1 1, 1 0 1", "1 0 1, 0 1 1")
    assert "1 0 -1 1" in peaks.labels(bravais_miller=True)[k]
    for crystal in (calcite, quartz, xs.Crystal.from_cif(cif_path("pyrite"))):
        peaks = PowderSimulator().peaks(crystal)
        for families, multiplicity in zip(peaks.families, peaks.multiplicity, strict=True):
            orbits = [_families_of(crystal, h) for h in families]
            # Distinct families, each named by the member tables list, together all reflections of the peak.
            assert all(_table_choice(orbit) == tuple(h) for orbit, h in zip(orbits, families, strict=True))
            assert len(set().union(*orbits)) == sum(len(o) for o in orbits) == multiplicity
    with pytest.raises(ValueError, match="hexagonal axes"):
        PowderSimulator().peaks(crystal).labels(bravais_miller=True)


def test_background_noise_impurity_and_sqrt() -> None:
    batch = crystals()[:4]
    clean = PowderSimulator(crystallite_size_nm=50.0)(batch)
    noisy = PowderSimulator(
        crystallite_size_nm=50.0,
        background=(0.2, 0.3),
        amorphous_hump=0.1,
        poisson_counts=(1e3, 1e4),
        gaussian_noise=0.01,
        impurity_fraction=0.05,
    )(batch)
    assert noisy.shape == clean.shape and torch.isfinite(noisy).all()
    torch.testing.assert_close(noisy.amax(1), torch.ones(4))
    assert float(noisy.median(1).values.min()) > float(clean.median(1).values.max())  # a background lifts all
    root = PowderSimulator(crystallite_size_nm=50.0, sqrt_scale=True)(batch)
    torch.testing.assert_close(root, clean.sqrt())
    with pytest.raises(ValueError, match="at least 2"):
        PowderSimulator(impurity_fraction=0.05)(batch[:1])


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_crystals_raise_before_work() -> None:
    sim = PowderSimulator()
    good = xs.CrystalBatch.from_crystals(crystals()[:2])
    cases = {
        "non-finite lattice": dict(lattice=good.lattice.clone().fill_(float("nan"))),
        "zero or negative volume": dict(lattice=torch.zeros_like(good.lattice)),
        "atomic number outside": dict(numbers=torch.where(good.mask, 99, 0)),
        "has no atoms": dict(mask=torch.zeros_like(good.mask), numbers=torch.zeros_like(good.numbers)),
        "non-finite fractional": dict(frac_coords=good.frac_coords.clone().fill_(float("inf"))),
    }
    for message, change in cases.items():
        fields = {
            name: getattr(good, name)
            for name in (
                "lattice",
                "frac_coords",
                "numbers",
                "occupancies",
                "b_iso",
                "charges",
                "mask",
                "space_group",
            )
        }
        fields.update(change)
        with pytest.raises(ValueError, match=message):
            sim(xs.CrystalBatch(**fields))
    with pytest.raises(ValueError, match="no crystals"):
        sim([])
    with pytest.raises(ValueError, match="not a Crystal"):
        sim(["quartz.cif"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(profile="voigt"), "profile"),
        (dict(two_theta=(90.0, 5.0, 100)), "start < stop"),
        (dict(two_theta=(5.0, 190.0, 100)), r"\(0, 180\)"),
        (dict(two_theta=[5.0, 4.0, 6.0]), "increasing"),
        (dict(crystallite_size_nm=-5.0), "crystallite_size_nm"),
        (dict(crystallite_size_nm=(50.0, 20.0)), "low <= high"),
        (dict(crystallite_size_nm=None), "no peak width"),
        (dict(caglioti=(1.0, 2.0)), "caglioti"),
        (dict(dtype=torch.int32), "dtype"),
        (dict(preferred_orientation_hkl=(0, 0, 0)), "preferred_orientation_hkl"),
    ],
)
def test_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PowderSimulator(**kwargs)


def test_fwhm_is_a_deprecated_alias_of_instrument_fwhm() -> None:
    """``fwhm`` was the added instrument width's old name (``fwhm`` now only means a peak's total FWHM): it
    still works, with a DeprecationWarning, gives the same patterns, and cannot be given with its new name."""
    batch = crystals()[:2]
    new = PowderSimulator(crystallite_size_nm=None, instrument_fwhm=0.12, dtype=torch.float64)
    with pytest.warns(DeprecationWarning, match="'fwhm' is deprecated.*'instrument_fwhm'"):
        old = PowderSimulator(crystallite_size_nm=None, fwhm=0.12, dtype=torch.float64)
    assert old.instrument_fwhm == new.instrument_fwhm == (0.12, 0.12)
    with pytest.warns(DeprecationWarning, match="instrument_fwhm"):
        assert old.fwhm == (0.12, 0.12)
    torch.testing.assert_close(old(batch), new(batch), rtol=0, atol=0)
    with pytest.raises(TypeError, match="not both"):
        PowderSimulator(fwhm=0.1, instrument_fwhm=0.1)
    one = torch.ones(1, dtype=torch.float64)
    for cls, args in ((Widths, (CU_KA1,)), (PatternParameters, ())):
        with pytest.warns(DeprecationWarning, match="instrument_fwhm"):
            alias = cls(*args, fwhm=one)
        assert alias.instrument_fwhm is one
        with pytest.raises(TypeError, match="not both"):
            cls(*args, fwhm=one, instrument_fwhm=one)
    with pytest.raises(TypeError, match="not both"):  # the new name given by position
        Widths(CU_KA1, None, None, one, fwhm=one)


# ------------------------------------------------------------------------------------------------ gradients
def test_gradients_match_finite_differences() -> None:
    """d(pattern . w)/d(lattice, coordinates, occupancies, B) by autograd equals central differences."""
    quartz = xs.Crystal.from_cif(cif_path("quartz"))
    batch = xs.CrystalBatch.from_crystals([quartz], dtype=torch.float64)
    sim = PowderSimulator((15.0, 60.0, 1500), crystallite_size_nm=15.0, dtype=torch.float64)
    weights = torch.linspace(0.0, 1.0, 1500, dtype=torch.float64) ** 2

    def loss(lattice, frac, occ, b_iso) -> torch.Tensor:
        crystal = xs.CrystalBatch(
            lattice, frac, batch.numbers, occ, b_iso, batch.charges, batch.mask, batch.space_group
        )
        return (sim.profiles(crystal) * weights).sum()

    inputs = [
        t.clone().requires_grad_(True)
        for t in (batch.lattice, batch.frac_coords, batch.occupancies, batch.b_iso + 0.5)
    ]
    grads = torch.autograd.grad(loss(*inputs), inputs)
    rng = np.random.default_rng(0)
    for which, (tensor, grad) in enumerate(zip(inputs, grads, strict=True)):
        flat = tensor.detach().reshape(-1)
        for index in rng.choice(len(flat), size=2, replace=False):
            eps = 1e-6
            # Inputs that require grad, as in the autograd call: the simulator then keeps the same
            # (Friedel-only) reflection list, so the two sides differentiate the same function.
            up_values = [t.detach().clone() for t in inputs]
            up_values[which].view(-1)[index] += eps
            down_values = [t.detach().clone() for t in inputs]
            down_values[which].view(-1)[index] -= eps
            up = loss(*(t.requires_grad_(True) for t in up_values)).detach()
            down = loss(*(t.requires_grad_(True) for t in down_values)).detach()
            numeric = float((up - down) / (2 * eps))
            assert float(grad.reshape(-1)[index]) == pytest.approx(
                numeric, rel=1e-4, abs=1e-6 * abs(float(up))
            )


def test_compiled_rendering_gives_the_same_patterns() -> None:
    """compile=True fuses the per-point stages with torch.compile; the numbers must not change (where
    compilation is impossible the simulator falls back to eager code, with a RuntimeWarning)."""
    batch = crystals()[:3]
    eager = PowderSimulator(crystallite_size_nm=(20.0, 100.0), seed=5)(batch)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.compile failed", category=RuntimeWarning)
        fused = PowderSimulator(crystallite_size_nm=(20.0, 100.0), seed=5, compile=True)(batch)
    torch.testing.assert_close(fused, eager, atol=1e-6, rtol=0)


@pytest.mark.parametrize("profile", ["gaussian", "pseudo_voigt"])
@pytest.mark.parametrize("width", ["crystallite_size_nm", "instrument_fwhm"])
def test_shared_width_table_gives_the_general_patterns(profile: str, width: str) -> None:
    """With one width parameter per pattern (a size or an instrument FWHM alone), the renderer builds one
    table of u = integral of 1/FWHM and scales it per pattern; adding a zero microstrain forces a table per
    pattern.
    Both give the same patterns (the sizes are drawn before the microstrain, so they are the same draws; the
    FWHM, drawn after it, is fixed)."""
    batch = crystals()[:6]
    ranges = {"crystallite_size_nm": (20.0, 100.0), "instrument_fwhm": 0.12}
    options = {width: ranges[width], "profile": profile, "dtype": torch.float64, "seed": 7}
    if width == "instrument_fwhm":
        options["crystallite_size_nm"] = None
    shared = PowderSimulator(**options)(batch)
    general = PowderSimulator(microstrain=0.0, **options)(batch)
    torch.testing.assert_close(shared, general, rtol=0, atol=1e-10)


def test_reused_render_buffers_leave_results_alone() -> None:
    """The simulator keeps its rendering buffers between calls: a later call (larger, smaller, or with other
    widths) must neither change an earlier result nor depend on what the buffers held."""
    small, large = crystals()[:2], crystals()[:7]
    sim = PowderSimulator(crystallite_size_nm=60.0, dtype=torch.float64)
    first = sim(small)
    kept = first.clone()
    sim(large)
    PowderSimulator(crystallite_size_nm=15.0, dtype=torch.float64)(small)
    again = sim(small)
    torch.testing.assert_close(first, kept, rtol=0, atol=0)
    torch.testing.assert_close(again, kept, rtol=0, atol=0)
    torch.testing.assert_close(PowderSimulator(crystallite_size_nm=60.0, dtype=torch.float64)(small), kept)


def test_cell_without_the_labels_metric_symmetry_is_not_merged() -> None:
    """Atoms with tetragonal symmetry in a cell with a != b: h00 and 0k0 lie at different angles and must stay
    apart even though the label (P4/mmm) says they are equivalent."""
    lattice = xs.Crystal.lattice_from_parameters(4.00, 4.05, 6.0, 90, 90, 90)
    frac = [[0, 0, 0], [0.5, 0.5, 0.5]]
    labelled = xs.Crystal(lattice, frac, [26, 8], space_group=123)
    as_p1 = xs.Crystal(lattice, frac, [26, 8], space_group=1)
    sim = PowderSimulator()
    np.testing.assert_allclose(sim.peaks(labelled).two_theta, sim.peaks(as_p1).two_theta, atol=1e-9)
    np.testing.assert_allclose(sim.peaks(labelled).intensity, sim.peaks(as_p1).intensity, rtol=1e-9)


def test_hexagonal_and_trigonal_crystals_keep_their_laue_group() -> None:
    """h -> h R for the operations x -> R x of the group: in hexagonal axes R^T is not an operation, so
    using it would make the metric check fail and cost the symmetry reduction (correct, but slow)."""
    from xrdsynth.simulate.functional import laue_tables, verified_laue_ids

    quartz = xs.Crystal.from_cif(cif_path("quartz"))  # P3_221, trigonal on hexagonal axes
    hexagonal = xs.Crystal(
        xs.Crystal.lattice_from_parameters(3.0, 3.0, 5.0, 90, 90, 120), [[0, 0, 0]], [14], space_group=191
    )
    batch = xs.CrystalBatch.from_crystals([quartz, hexagonal])
    tables = laue_tables()
    weights = batch.numbers.double() * batch.occupancies
    ids = verified_laue_ids(batch.space_group, batch.lattice, batch.frac_coords, weights, tables)
    torch.testing.assert_close(ids, tables.laue_id[batch.space_group])
    assert tables.count[ids].tolist() == [12, 24]
    peaks = PowderSimulator().peaks(hexagonal)
    # 1/d^2 = 4/3 (h^2 + hk + k^2) / a^2 + l^2 / c^2: 001, 100, 002, 101 in order of decreasing d.
    d = 1 / np.sqrt(np.array([1 / 25, 4 / 27, 4 / 25, 4 / 27 + 1 / 25]))
    np.testing.assert_allclose(peaks.two_theta[:4], bragg_two_theta(d), atol=1e-9)
    assert peaks.multiplicity[:4].tolist() == [2, 6, 2, 12]


# ------------------------------------------------------------------------------ symmetry shortcuts
def _symmetry(crystal: xs.Crystal):
    from xrdsynth.simulate.functional import lattice_symmetry, scatterer_types

    batch = xs.CrystalBatch.from_crystals([crystal])
    types = scatterer_types(batch.numbers, batch.b_iso, batch.mask)
    return lattice_symmetry(
        batch.frac_coords, batch.occupancies, types.index, types.numbers.shape[1], batch.mask
    )


def _is_centric(crystal: xs.Crystal) -> bool:
    return bool(_symmetry(crystal).centric[0])


def _maps_onto_itself(crystal: xs.Crystal, operation) -> bool:
    """Brute force: every atom's image is an atom of the same kind (within 1e-4 Å)."""
    frac = crystal.frac_coords
    kinds = zip(crystal.numbers, crystal.occupancies, crystal.b_iso, strict=True)
    key = [(int(z), round(o, 6), round(b, 6)) for z, o, b in kinds]
    delta = operation(frac)[:, None, :] - frac[None, :, :]
    delta -= np.round(delta)
    close = np.linalg.norm(delta @ crystal.lattice, axis=-1) < 1e-4
    same = np.array([[a == b for b in key] for a in key])
    return bool((close & same).any(axis=1).all())


def test_centric_detection_against_inversion_of_the_atoms() -> None:
    """A crystal counts as centric exactly when -x maps its atoms onto atoms of the same kind."""
    fcc = np.array([(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)])

    def two_sites(a: float, shift: float, numbers: tuple[int, int], group: int) -> xs.Crystal:
        frac = np.concatenate([fcc, (fcc + shift) % 1.0])
        return xs.Crystal(np.eye(3) * a, frac, np.repeat(numbers, 4), space_group=group)

    rock_salt = two_sites(5.64, 0.5, (11, 17), 225)
    zinc_blende = two_sites(5.41, 0.25, (30, 16), 216)
    assert _is_centric(rock_salt)
    assert not _is_centric(zinc_blende)  # atoms on quarter coordinates: sine terms only at odd sums
    assert not _is_centric(xs.Crystal.from_cif(cif_path("quartz")))
    shift = np.array([0.1, 0.2, 0.3])
    shifted = xs.Crystal(
        rock_salt.lattice, (rock_salt.frac_coords + shift) % 1.0, rock_salt.numbers, space_group=225
    )
    assert not _is_centric(shifted)  # centrosymmetric, but not about the origin
    for path in FIXTURE_CIFS:
        crystal = xs.Crystal.from_cif(path)
        assert _is_centric(crystal) == _maps_onto_itself(crystal, lambda x: -x), path.name


def _supercell(crystal: xs.Crystal, repeats: tuple[int, int, int]) -> xs.Crystal:
    """The same structure in a cell repeated along a, b, c (a P1 description with translations 1/n)."""
    shifts = np.array(list(np.ndindex(*repeats)), dtype=float)
    frac = ((crystal.frac_coords[None, :, :] + shifts[:, None, :]) / repeats).reshape(-1, 3)
    n = len(shifts)
    return xs.Crystal(
        crystal.lattice * np.array(repeats)[:, None],
        frac,
        np.tile(crystal.numbers, n),
        occupancies=np.tile(crystal.occupancies, n),
        b_iso=np.tile(crystal.b_iso, n),
        space_group=1,
    )


def test_centring_detection_against_translations_of_the_atoms() -> None:
    """A centring translation is found exactly when it maps the atoms onto atoms of the same kind: on the
    fixtures, and on supercells whose halves or thirds of the cell (not centrings) make the structure sums
    vanish on whole classes of reflections."""
    from xrdsynth.simulate.functional import CENTRING_TRANSLATIONS, CENTRINGS

    quartz = xs.Crystal.from_cif(cif_path("quartz"))
    crystals = [xs.Crystal.from_cif(p) for p in FIXTURE_CIFS]
    crystals += [
        _supercell(quartz, r) for r in ((2, 1, 1), (1, 1, 2), (2, 2, 1), (1, 3, 1), (2, 1, 3), (3, 2, 2))
    ]
    found = set()
    for crystal in crystals:
        symmetry = _symmetry(crystal)
        expected = [_maps_onto_itself(crystal, lambda x, t=t: x + np.array(t)) for t in CENTRING_TRANSLATIONS]
        assert symmetry.translations[0].tolist() == expected, crystal
        found.add(CENTRINGS[int(symmetry.centring[0])])
        # The kept atoms stand for the whole crystal: order x their number is the number of atoms.
        assert int(symmetry.kept.sum()) * int(symmetry.order[0]) == crystal.num_atoms
    assert {"P", "C", "F", "I", "R_obverse"} <= found  # the fixtures cover the common centrings


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_symmetry_shortcuts_give_the_general_patterns(dtype) -> None:
    """Skipping sine sums (centric), centring-forbidden reflections and centring-equivalent atoms changes no
    pattern: the same call with every crystal treated as P1 without inversion gives the same result."""
    crystals = [xs.Crystal.from_cif(p) for p in FIXTURE_CIFS]
    settings = {"two_theta": (5.0, 90.0, 3001), "crystallite_size_nm": 40.0, "dtype": dtype}
    sim = PowderSimulator(**settings)
    fast = sim(crystals)
    sticks = [sim.peaks(c) for c in crystals[:12]]

    sim = PowderSimulator(**settings, symmetry_shortcuts=False)
    assert "symmetry_shortcuts=False" in repr(sim)
    general = sim(crystals)
    tolerance = {"rtol": 1e-9, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 0, "atol": 2e-5}
    torch.testing.assert_close(fast, general, **tolerance)
    for fast_peaks, crystal in zip(sticks, crystals[:12], strict=True):
        general_peaks = sim.peaks(crystal)
        np.testing.assert_allclose(fast_peaks.two_theta, general_peaks.two_theta, atol=1e-9)
        np.testing.assert_allclose(fast_peaks.intensity, general_peaks.intensity, rtol=1e-7, atol=1e-7)


def test_reciprocal_basis_and_metric_against_numpy() -> None:
    """The closed-form reciprocal basis (cross products over the volume) is inv(L)^T, its metric (L L^T)^-1,
    for skewed cells of either handedness."""
    from xrdsynth.simulate.functional import reciprocal_basis, reciprocal_metric

    rng = np.random.default_rng(3)
    lattices = np.eye(3) * rng.uniform(3, 12, size=(20, 1, 1)) + rng.uniform(-2, 2, size=(20, 3, 3))
    lattices[::2, 2] *= -1  # left-handed rows as well
    basis = reciprocal_basis(torch.from_numpy(lattices)).numpy()
    metric = reciprocal_metric(torch.from_numpy(lattices)).numpy()
    np.testing.assert_allclose(basis, np.linalg.inv(lattices).transpose(0, 2, 1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        metric, np.linalg.inv(lattices @ lattices.transpose(0, 2, 1)), rtol=1e-11, atol=1e-14
    )


# ------------------------------------------------------------------------------------------------ threads
def test_num_threads_holds_during_a_call_and_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default a call runs on one intra-op thread and gives back torch's count afterwards, also when the
    call fails; ``num_threads=None`` uses torch's count; the patterns are the same either way."""
    import xrdsynth.simulate.functional as functional

    seen: list[int] = []
    original = functional.render

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(functional, "render", spy)
    crystals = [xs.Crystal.from_cif(cif_path(name)) for name in ("quartz", "rutile", "pyrite")]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        own = PowderSimulator(two_theta=(10.0, 80.0, 1401), crystallite_size_nm=40.0)(crystals)
        assert seen == [1] and torch.get_num_threads() == 2
        torch_setting = PowderSimulator(
            two_theta=(10.0, 80.0, 1401), crystallite_size_nm=40.0, num_threads=None
        )
        assert torch.allclose(torch_setting(crystals), own, rtol=0, atol=1e-6)
        assert seen == [1, 2]
        with pytest.raises(ValueError):
            PowderSimulator(two_theta=(10.0, 80.0, 1401))([])  # fails inside the call
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_num_threads_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="num_threads"):
        PowderSimulator(num_threads=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_threads"):
        xs.SpaceGroupSampler(num_threads=bad)  # type: ignore[arg-type]


def test_a_crystal_without_reflections_in_range_warns_at_the_callers_line() -> None:
    """Pyrite's first reflection (111) lies at 28.5° 2θ with Cu Kα1: its pattern on 5–22° is all zero (quartz
    has 100 at 20.9°), and the warning names the line that called the simulator (here), not a line inside
    xrdsynth or torch."""
    simulator = PowderSimulator(two_theta=(5.0, 22.0, 851))
    pyrite, quartz = (xs.Crystal.from_cif(cif_path(name)) for name in ("pyrite", "quartz"))
    with pytest.warns(RuntimeWarning, match="1 of 2 crystals have no reflection") as record:
        patterns = simulator([pyrite, quartz])
    assert record[0].filename == __file__
    assert float(patterns[0].abs().max()) == 0.0 and float(patterns[1].max()) == pytest.approx(1.0)
