"""PowderSimulator: batched powder diffraction patterns of crystals, in torch."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._base import DEFAULT_TWO_THETA
from .._deprecation import renamed_attributes
from .._radiation import Radiation, resolve_wavelength
from .._threads import check_num_threads, in_own_threads
from ..structure import Crystal, CrystalBatch
from . import functional as F
from ._compile import fused
from ._parameters import PatternParameters
from ._pattern_effects import PatternEffects, finish_patterns
from ._peaks import PeakList, stick_pattern
from ._settings import (
    Setting,
    as_batch,
    check_caglioti,
    check_monochromator,
    check_orientation_hkl,
    draw_uniform,
    fixed_value,
    make_grid,
    optional_range,
    seeded_generator,
)
from ._widths import PROFILES

__all__ = ["PeakList", "PowderSimulator"]

Range = float | tuple[float, float] | None
# The settings that can be off (None), in the order repr() lists those that are on.
_OPTIONAL_SETTINGS = (
    "crystallite_size_nm", "microstrain", "instrument_fwhm", "caglioti", "monochromator_two_theta",
    "zero_shift", "specimen_displacement_mm", "march_dollase", "preferred_orientation_hkl",
    "impurity_fraction", "background", "amorphous_hump", "poisson_counts", "gaussian_noise",
)  # fmt: skip
# Low-index directions a random preferred orientation is drawn from (as reciprocal-lattice vectors hkl).
_ORIENTATIONS = ((0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1))


@renamed_attributes(fwhm="instrument_fwhm")
class PowderSimulator(torch.nn.Module):
    r"""Powder X-ray diffraction patterns of batches of crystals.

    For each crystal, every reflection hkl inside the limiting sphere
    :math:`|g| \le 2\sin\theta_{max}/\lambda` is enumerated (one per orbit of the crystal's Laue group,
    with its multiplicity), and its integrated intensity is

    .. math::

        I(hkl) = m\,|F(hkl)|^2\,LP(\theta), \qquad
        F(hkl) = \sum_j o_j f_j(s)\, e^{-B_j s^2}\, e^{2\pi i (hx_j + ky_j + lz_j)},

    with :math:`s = \sin\theta/\lambda = 1/2d`, IT92 form factors :math:`f_j` (gemmi's tables, neutral
    atoms), occupancies :math:`o_j`, isotropic displacement parameters :math:`B_j` and, for an unpolarised
    laboratory source with an optional monochromator at angle :math:`2\theta_M`,

    .. math::

        LP(\theta) = \frac{1 + \cos^2 2\theta_M \cos^2 2\theta}{\sin^2\theta \cos\theta}.

    Peak positions follow Bragg's law :math:`\lambda = 2d\sin\theta`; reflections beyond 2θ = 180° do not
    occur. Each stick becomes a peak of the chosen profile whose FWHM combines Scherrer size broadening
    (K = 0.9), microstrain broadening, a Caglioti instrument function and/or an instrument FWHM (see
    :mod:`xrdsynth.simulate`), and the pattern is normalised to a maximum of 1. References: B. D. Cullity,
    *Elements of X-ray Diffraction*, ch. 4; International Tables Vol. C, 6.1.1 (form factors) and 6.2
    (Lorentz-polarisation).

    Patterns are differentiable with respect to the batch's lattice, coordinates, occupancies and B (give
    tensors with ``requires_grad``); each atom and cell edge then counts as free, so the symmetry reduction
    of the reflections is limited to Friedel pairs for such a call (slower, and exact for any change).

    Parameters given as a number are fixed; a ``(low, high)`` pair is drawn uniformly for each pattern by the
    simulator's generator (seeded by ``seed``), so every call gives fresh samples. Every sample or instrument
    effect is off (``None``) by default except the crystallite size.

    Args:
        two_theta: the 2θ grid in degrees: a tuple ``(start, stop, num)`` for ``torch.linspace`` (``num`` an
            integer, or a float with an integral value such as 1000.0), or an increasing 1-D array or list
            inside (0, 180). A tuple of three numbers is always ``(start, stop, num)``.
        q: instead of ``two_theta``, a grid in Q = 4π sinθ/λ (1/Å): ``(start, stop, num)`` or an array.
            Patterns are still intensities per degree 2θ, sampled at these Q.
        wavelength: Å (a number, or a numeric string such as "1.5406"), or a line name ("CuKa1", "MoKa1",
            ...; "CuKa" is the Kα1 + Kα2 doublet at 2:1). "CuKa1" is 1.540593 Å (Hölzer et al. 1997);
            pymatgen's XRDCalculator uses 1.54056 Å, which moves peaks by up to 2.4e-3° 2θ at 90°.
        profile: "gaussian", "lorentzian" or "pseudo_voigt" (Thompson–Cox–Hastings: instrument widths
            Gaussian, size and strain Lorentzian).
        crystallite_size_nm: Scherrer crystallite size in nm (paper default: uniform in 20–100 nm).
        microstrain: dimensionless microstrain ε; FWHM = 4ε tanθ.
        instrument_fwhm: an instrument FWHM in degrees, combined with the Caglioti width in quadrature (its
            square adds to W; alone, a constant instrument width). ``fwhm=`` is its deprecated former name.
        caglioti: (U, V, W) in degrees²; FWHM² = U tan²θ + V tanθ + W.
        monochromator_two_theta: 2θ of a monochromator crystal in degrees (e.g. 26.6 for graphite with Cu);
            None for an unpolarised beam without one.
        zero_shift: an offset of all peaks in degrees 2θ (a misaligned goniometer zero).
        specimen_displacement_mm: height error of the sample surface in mm; shifts peaks by
            −2 s cosθ / R (radians), R = ``goniometer_radius_mm``.
        goniometer_radius_mm: diffractometer radius in mm.
        march_dollase: March–Dollase parameter r of preferred orientation (r < 1 platelets, r > 1
            needles, 1 = random powder). Intensities are multiplied by the average over equivalent
            reflections of (r² cos²α + sin²α / r)^(-3/2), α the angle to the orientation direction.
        preferred_orientation_hkl: the orientation direction as a reciprocal-lattice vector; None draws one
            of 001, 010, 100, 110, 101, 011, 111 per pattern.
        impurity_fraction: peak height of an impurity phase relative to the main phase (e.g. (0.01, 0.05));
            the impurity is another crystal of the same batch (the batch is rolled by a random offset).
        background: height of a smooth background (Chebyshev series of ``background_order``) relative
            to the strongest peak.
        background_order: number of Chebyshev terms of the background.
        amorphous_hump: height of a broad amorphous hump relative to the strongest peak; its centre is at
            d = 3–6 Å and its FWHM 5–15° 2θ, both drawn per pattern.
        poisson_counts: counts at the strongest peak for Poisson counting noise (e.g. (1e3, 1e5)).
        gaussian_noise: standard deviation of additive Gaussian noise relative to the strongest peak.
        sqrt_scale: return the square root of the normalised pattern (compresses the dynamic range).
        step_average: each point holds the mean of the profile over its step (from the midpoint to the
            previous point to the midpoint to the next), as a detector counting through a continuous scan
            records it, and as a classifier averages a finer measured scan onto its grid
            (:func:`xrdsynth.models.resample_pattern`). False (default): the profile's value at the point,
            which misses or over-reads peaks narrower than the step (a 3 µm crystallite's peaks on a 0.02°
            grid); the two agree to ~0.2 % of a peak's height where its FWHM spans 10 steps.
        dtype: float32 (default) or float64, for the computation and the output.
        device: where tensors live and the work runs.
        seed: int, a torch.Generator, or None (nondeterministic) for the per-pattern parameters.
        max_chunk_elements: bound on reflections x atoms per step of the structure-factor sum (memory).
        compile: fuse the per-point stages of the profile rendering with ``torch.compile`` (needs a C++
            compiler on CPUs): identical patterns several times faster after a one-time compilation of ~20 s;
            falls back to eager code with a warning when compilation fails.
        symmetry_shortcuts: use the inversion centre and centring translations found on each crystal's
            atoms to skip sine sums, the reflections a centring forbids and the atoms a centring repeats
            (default). False treats every crystal as P1 without inversion in the structure-factor sums: the
            same patterns (to round-off), slower; for checking the shortcuts or timing without them. The
            merging of reflections by Laue class is not a shortcut and stays.
        num_threads: torch intra-op threads during a call on the CPU (restored afterwards). One (default)
            is nearly as fast as two on a quiet 2-core machine and does not slow down next to a busy
            process, where two threads took 4-6x longer: scale with processes (data-loader workers) instead.
            None keeps torch's setting (``torch.set_num_threads``), which can be faster for large batches
            on many idle cores.

    Example:
        >>> sim = PowderSimulator(two_theta=(5.0, 90.0, 8501), wavelength="CuKa1")
        >>> x = sim([xrdsynth.Crystal.from_cif("quartz.cif")])   # (1, 8501), max 1
    """

    def __init__(
        self,
        two_theta: tuple[float, float, int] | Sequence[float] | torch.Tensor | np.ndarray = DEFAULT_TWO_THETA,
        *,
        q: tuple[float, float, int] | Sequence[float] | torch.Tensor | np.ndarray | None = None,
        wavelength: str | float = "CuKa1",
        profile: str = "gaussian",
        crystallite_size_nm: Range = (20.0, 100.0),
        microstrain: Range = None,
        instrument_fwhm: Range = None,
        caglioti: tuple[float, float, float] | None = None,
        monochromator_two_theta: float | None = None,
        zero_shift: Range = None,
        specimen_displacement_mm: Range = None,
        goniometer_radius_mm: float = 240.0,
        march_dollase: Range = None,
        preferred_orientation_hkl: tuple[int, int, int] | None = None,
        impurity_fraction: Range = None,
        background: Range = None,
        background_order: int = 6,
        amorphous_hump: Range = None,
        poisson_counts: Range = None,
        gaussian_noise: Range = None,
        sqrt_scale: bool = False,
        step_average: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        seed: int | torch.Generator | None = 0,
        max_chunk_elements: int = 2**21,
        compile: bool = False,
        symmetry_shortcuts: bool = True,
        num_threads: int | None = 1,
    ) -> None:
        """Check and store the settings (the arguments are described in the class docstring, see
        ``help(PowderSimulator)``); the grid and the tables become buffers on ``device``.

        Raises:
            ValueError: an invalid setting, naming it.
        """
        super().__init__()
        self.radiation: Radiation = resolve_wavelength(wavelength)
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.profile = profile
        self.crystallite_size_nm = optional_range("crystallite_size_nm", crystallite_size_nm, 0.0)
        self.microstrain = optional_range("microstrain", microstrain, 0.0, allow_low=True)
        self.instrument_fwhm = optional_range("instrument_fwhm", instrument_fwhm, 0.0)
        self.caglioti = caglioti = check_caglioti(caglioti)
        widths = (self.crystallite_size_nm, self.microstrain, self.instrument_fwhm, caglioti)
        if all(v is None for v in widths):
            raise ValueError("no peak width (crystallite_size_nm, microstrain, instrument_fwhm, caglioti)")
        self.monochromator_two_theta = check_monochromator(monochromator_two_theta)
        self.zero_shift = optional_range("zero_shift", zero_shift, -math.inf)
        self.specimen_displacement_mm = optional_range(
            "specimen_displacement_mm", specimen_displacement_mm, -math.inf
        )
        if not goniometer_radius_mm > 0:
            raise ValueError(f"goniometer_radius_mm must be positive, got {goniometer_radius_mm}")
        self.goniometer_radius_mm = float(goniometer_radius_mm)
        self.march_dollase = optional_range("march_dollase", march_dollase, 0.0)
        self.preferred_orientation_hkl = check_orientation_hkl(preferred_orientation_hkl)
        self.impurity_fraction = optional_range(
            "impurity_fraction", impurity_fraction, 0.0, 1.0, allow_low=True
        )
        self.background = optional_range("background", background, 0.0, allow_low=True)
        if int(background_order) < 1:
            raise ValueError(f"background_order must be >= 1, got {background_order}")
        self.background_order = int(background_order)
        self.amorphous_hump = optional_range("amorphous_hump", amorphous_hump, 0.0, allow_low=True)
        self.poisson_counts = optional_range("poisson_counts", poisson_counts, 0.0)
        self.gaussian_noise = optional_range("gaussian_noise", gaussian_noise, 0.0, allow_low=True)
        self.sqrt_scale = bool(sqrt_scale)
        if int(max_chunk_elements) < 1024:
            raise ValueError(f"max_chunk_elements must be >= 1024, got {max_chunk_elements}")
        self.max_chunk_elements = int(max_chunk_elements)
        self.compile = bool(compile)
        self.step_average = bool(step_average)
        self.symmetry_shortcuts = bool(symmetry_shortcuts)
        self.num_threads = check_num_threads(num_threads)
        self.dtype = dtype
        self.seed = seed
        self._generator: torch.Generator | None = None
        self._workspaces: threading.local | None = threading.local()

        device = torch.device(device)
        kind, spec = ("q", q) if q is not None else ("two_theta", two_theta)
        self.register_buffer("_two_theta", make_grid(kind, spec, self.radiation.wavelength), persistent=False)
        self._two_theta: torch.Tensor  # (P,) float64 on the device
        self.register_buffer("_form_factors", F.form_factor_table(), persistent=False)
        self._form_factors: torch.Tensor
        tables = F.laue_tables()
        self.register_buffer("_laue_id", tables.laue_id, persistent=False)
        self.register_buffer("_laue_rotations", tables.rotations, persistent=False)
        self.register_buffer("_laue_count", tables.count, persistent=False)
        self.register_buffer("_laue_generators", tables.generators, persistent=False)
        self.register_buffer("_laue_flips", tables.flips, persistent=False)
        self._laue_triclinic = tables.triclinic
        self.to(device)

    # ----------------------------------------------------------------------------------------- set-up
    @property
    def two_theta(self) -> torch.Tensor:
        """(P,) the 2θ grid in degrees, on the simulator's device, in its dtype."""
        return self._two_theta.to(self.dtype)

    @property
    def q(self) -> torch.Tensor:
        """(P,) the grid as Q = 4π sinθ/λ in 1/Å (λ the principal line)."""
        return F.q_from_two_theta(self._two_theta, self.radiation.wavelength).to(self.dtype)

    @property
    def device(self) -> torch.device:
        """Where the simulator's tensors live."""
        return self._two_theta.device

    @property
    def wavelength(self) -> float:
        """The principal wavelength in Å."""
        return self.radiation.wavelength

    def extra_repr(self) -> str:
        """The settings that differ from "off", for ``repr(simulator)``."""
        grid = self._two_theta
        parts = [
            f"two_theta=({float(grid[0]):g}, {float(grid[-1]):g}, {len(grid)})",
            f"wavelength={self.radiation.name!r}",
            f"profile={self.profile!r}",
        ]
        for name in _OPTIONAL_SETTINGS:
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
                    value = value[0]
                parts.append(f"{name}={value}")
        if self.sqrt_scale:
            parts.append("sqrt_scale=True")
        if self.step_average:
            parts.append("step_average=True")
        if self.compile:
            parts.append("compile=True")
        if not self.symmetry_shortcuts:
            parts.append("symmetry_shortcuts=False")
        if self.num_threads != 1:
            parts.append(f"num_threads={self.num_threads}")
        parts.append(f"dtype={self.dtype}, device={self.device}")
        return ", ".join(parts)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None  # generators do not pickle; a copy restarts from the seed
        state["_workspaces"] = None  # buffers are not state (and thread-locals do not pickle)
        return state

    def _workspace(self) -> F.Workspace:
        """This thread's rendering buffers (reused between calls: see :class:`~.functional.Workspace`)."""
        if self._workspaces is None:
            self._workspaces = threading.local()
        workspace = getattr(self._workspaces, "workspace", None)
        if workspace is None:
            workspace = self._workspaces.workspace = F.Workspace()
        return workspace

    def generator(self) -> torch.Generator:
        """The simulator's generator on its device, created from ``seed`` on first use."""
        if self._generator is None or self._generator.device != self.device:
            self._generator = seeded_generator(self.seed, self.device)
        return self._generator

    def _as_batch(
        self, crystals: CrystalBatch | Crystal | Sequence[Crystal], dtype: torch.dtype
    ) -> CrystalBatch:
        return as_batch(crystals, self.device, dtype, self.compile)

    # ----------------------------------------------------------------------------------- the physics
    def _tables(self) -> F.LaueTables:
        return F.LaueTables(
            self._laue_id,
            self._laue_rotations,
            self._laue_count,
            self._laue_triclinic,
            self._laue_generators,
            self._laue_flips,
        )

    def _reflections(
        self, batch: CrystalBatch, g_max: torch.Tensor
    ) -> tuple[F.Reflections, torch.Tensor, torch.Tensor]:
        """Laue-unique reflections of the batch with |g| <= g_max ((B,) 1/Å), their (R,) float64 1/d² (1/Å²)
        and (R,) |F|² in the batch's dtype."""
        tables = self._tables()
        laue = F.laue_classes(batch, tables)
        atoms = F.Atoms.of(batch, self.compile, self.symmetry_shortcuts)
        # Reflections forbidden by a centring translation have F = 0 exactly: left out before any sum.
        centring = None if atoms.symmetry is None else atoms.symmetry.centring
        reflections = F.enumerate_reflections(batch.lattice, g_max, laue, tables, centring, self.compile)
        # 1/d^2 once, in float64 (positions need it) and from the possibly differentiable lattice.
        fuse = self.compile and not batch.lattice.requires_grad
        g2 = fused(F.inverse_d_squared, fuse)(
            reflections.hkl.to(torch.float64), batch.lattice.to(torch.float64), reflections.crystal
        )
        f2 = F.structure_factors_squared(
            atoms,
            reflections,
            (g2 / 4.0).to(batch.dtype),
            self._form_factors,
            self.max_chunk_elements,
            self.compile,
        )
        return reflections, g2, f2

    def _texture(
        self,
        batch: CrystalBatch,
        refl: F.Reflections,
        r: torch.Tensor,
        gen: torch.Generator,
        axes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(R,) March–Dollase factors; ``axes`` (B, 3) replace the simulator's directions (drawn from
        ``_ORIENTATIONS`` with ``gen`` when ``preferred_orientation_hkl`` is None)."""
        dtype, bsz = batch.dtype, len(batch)
        if axes is None and self.preferred_orientation_hkl is None:
            choice = torch.randint(len(_ORIENTATIONS), (bsz,), generator=gen, device=self.device)
            axes = torch.tensor(_ORIENTATIONS, dtype=dtype, device=self.device)[choice]
        elif axes is None:
            axes = torch.tensor(self.preferred_orientation_hkl, dtype=dtype, device=self.device).expand(
                bsz, 3
            )
        return F.march_dollase(batch.lattice, refl, r, axes, self._tables())

    def _g_max(
        self, high: torch.Tensor, dtype: torch.dtype, extra_wavelengths: Sequence[float] = ()
    ) -> torch.Tensor:
        """(B,) radius of the limiting sphere for 2θ up to ``high`` ((B,) float64 degrees), all lines."""
        return F.limiting_sphere_radius(high, (*self.radiation.wavelengths, *extra_wavelengths), dtype)

    # ---------------------------------------------------------------------------------- public calls
    @in_own_threads
    def peaks(self, crystal: Crystal, merge_tolerance: float = 1e-5, min_intensity: float = 1e-3) -> PeakList:
        """The stick pattern of one crystal inside the grid's 2θ range, in float64.

        Sticks are the integrated intensities ``m |F|² LP`` of the reflections (for a doublet, each line's).
        Reflections whose 2θ differ by less than ``merge_tolerance`` degrees are merged into one peak (as
        pymatgen's XRDCalculator does); peaks weaker than ``min_intensity`` (on the scale where the strongest
        is 100) are dropped.

        Effects that move or reweight sticks are applied when they are fixed, as in the profile of
        :meth:`forward`: texture (``march_dollase`` a number and ``preferred_orientation_hkl`` given), zero
        shift and specimen displacement (numbers). Effects drawn per pattern (a ``(low, high)`` range, or a
        texture direction drawn because ``preferred_orientation_hkl`` is None) differ from pattern to
        pattern and are left out: the sticks are then those of the untextured, unshifted powder. Widths,
        backgrounds, impurities and noise never change sticks.

        Raises:
            ValueError: an invalid crystal (e.g. an element beyond Cf, which has no IT92 form factor).
        """
        if not isinstance(crystal, Crystal):
            raise ValueError(f"peaks() takes one Crystal, got {type(crystal).__name__}")
        batch = self._as_batch([crystal], torch.float64)
        low, high = float(self._two_theta[0]), float(self._two_theta[-1])
        zero, displacement = fixed_value(self.zero_shift), fixed_value(self.specimen_displacement_mm)
        shift = abs(zero or 0.0) + 2.0 * abs(displacement or 0.0) / self.goniometer_radius_mm / F.RADIAN
        top = torch.full((1,), high + shift, dtype=torch.float64, device=self.device)
        g_max = self._g_max(top, torch.float64)
        march_dollase = fixed_value(self.march_dollase)
        with torch.no_grad():
            reflections, g2, f2 = self._reflections(batch, g_max * (1.0 + 1e-9))
            po = None
            if march_dollase is not None and self.preferred_orientation_hkl is not None:
                r = torch.full((1,), march_dollase, dtype=torch.float64, device=self.device)
                # The direction is fixed, so the generator is not used.
                po = self._texture(batch, reflections, r, self.generator())
            lines = F.sticks(
                reflections,
                g2,
                f2,
                po,
                self.radiation,
                self.monochromator_two_theta,
                (),
                batch.dtype,
                self.compile,
            )
        zero_t, displacement_t = (
            None if v is None else torch.full((1,), v, dtype=torch.float64, device=self.device)
            for v in (zero, displacement)
        )
        shifted = []
        for wavelength, keep, two_theta, intensity in lines:
            if zero is not None or displacement is not None:
                two_theta = two_theta + self._peak_shift(
                    two_theta, reflections.crystal, zero_t, displacement_t
                )
            shifted.append((wavelength, keep, two_theta, intensity))
        laue = reflections.laue[reflections.crystal]
        return stick_pattern(
            shifted,
            reflections.hkl.cpu().numpy(),
            self._laue_rotations[laue].cpu().numpy(),
            (1.0 / torch.sqrt(g2)).cpu().numpy(),
            reflections.multiplicity.cpu().numpy(),
            (low, high),
            merge_tolerance,
            min_intensity,
            crystal.lattice,
        )

    @in_own_threads
    def forward(
        self,
        crystals: CrystalBatch | Crystal | Sequence[Crystal],
        generator: torch.Generator | None = None,
        parameters: PatternParameters | None = None,
    ) -> torch.Tensor:
        """Simulate the patterns of a batch.

        Args:
            crystals: a CrystalBatch (moved to the simulator's device and dtype), a list of Crystals, or one.
            generator: draws the per-pattern parameters; default the simulator's own (seeded) generator.
            parameters: per-pattern widths, shifts, texture and extra lines for this call (drawn by
                :mod:`xrdsynth.transforms`); each field given replaces the simulator's own setting.

        Returns:
            (B, P) patterns on the simulator's device in its dtype, each with maximum 1 (0 everywhere for a
            crystal without reflections in range, with a warning).

        Raises:
            ValueError: invalid crystals (non-finite or zero-volume lattices, no atoms, unknown elements,
                elements beyond Cf, non-finite coordinates, occupancies or B).
        """
        batch = self._as_batch(crystals, self.dtype)
        gen = self.generator() if generator is None else generator
        if parameters is not None:
            if not isinstance(parameters, PatternParameters):
                raise ValueError(f"parameters must be PatternParameters, got {type(parameters).__name__}")
            parameters.check(len(batch))
        return finish_patterns(
            self._render_unnormalised(batch, gen, parameters),
            self._two_theta.to(self.dtype),
            self.radiation.wavelength,
            self._pattern_effects(),
            gen,
        )

    @in_own_threads
    def profiles(
        self,
        crystals: CrystalBatch | Crystal | Sequence[Crystal],
        generator: torch.Generator | None = None,
        parameters: PatternParameters | None = None,
    ) -> torch.Tensor:
        """The sums of the peak profiles before normalisation and pattern-level effects (impurity,
        background, hump, noise, square root): what :meth:`forward` normalises.

        Args: as :meth:`forward`.

        Returns:
            (B, P) intensity per degree 2θ (in units of electrons² times the Lorentz–polarisation factor),
            on the simulator's device in its dtype; differentiable like :meth:`forward`.
        """
        batch = self._as_batch(crystals, self.dtype)
        if parameters is not None:
            if not isinstance(parameters, PatternParameters):
                raise ValueError(f"parameters must be PatternParameters, got {type(parameters).__name__}")
            parameters.check(len(batch))
        return self._render_unnormalised(batch, generator, parameters)

    def _pattern_effects(self) -> PatternEffects:
        return PatternEffects(
            self.impurity_fraction,
            self.background,
            self.background_order,
            self.amorphous_hump,
            self.poisson_counts,
            self.gaussian_noise,
            self.sqrt_scale,
        )

    def _draw(self, spec: Setting, n: int, generator: torch.Generator) -> torch.Tensor | None:
        """n values of a per-pattern setting (:func:`draw_uniform`), or None when it is off."""
        return draw_uniform(spec, n, generator, self.dtype, self.device)

    def _peak_shift(
        self,
        two_theta: torch.Tensor,
        crystal: torch.Tensor,
        zero: torch.Tensor | None,
        displacement: torch.Tensor | None,
    ) -> torch.Tensor:
        return F.peak_shift(two_theta, crystal, zero, displacement, self.goniometer_radius_mm)

    def _grain_factors(
        self,
        crystal: torch.Tensor,
        sigma: torch.Tensor,
        texture: torch.Tensor | None,
        gen: torch.Generator,
    ) -> torch.Tensor:
        """(R,) per-reflection intensity factors exp(σ z − σ²/2), z standard normal (mean 1: the expected
        pattern is unchanged), times the texture factors when given. One factor per reflection (a Laue
        orbit), shared by all its wavelength lines: the same grains diffract Kα1 and Kα2."""
        s = sigma.to(device=self.device, dtype=self.dtype)[crystal]
        z = torch.randn(crystal.shape, generator=gen, device=self.device, dtype=self.dtype)
        factor = torch.exp(s * z - 0.5 * s.square())
        return factor if texture is None else texture * factor

    def _render_unnormalised(
        self,
        batch: CrystalBatch,
        gen: torch.Generator | None = None,
        parameters: PatternParameters | None = None,
    ) -> torch.Tensor:
        """(B, P) profiles in intensity per degree before normalisation and pattern-level effects."""
        gen = self.generator() if gen is None else gen
        bsz, dtype = len(batch), self.dtype
        given = PatternParameters() if parameters is None else parameters

        def value(name: str, own: Range) -> torch.Tensor | None:
            # A given parameter replaces the simulator's own (and skips its draw).
            override = getattr(given, name)
            if override is not None:
                return override.to(device=self.device, dtype=dtype)
            return self._draw(own, bsz, gen)

        caglioti = given.caglioti
        if caglioti is None and self.caglioti is not None:
            caglioti = torch.tensor(self.caglioti, dtype=dtype, device=self.device).expand(bsz, 3)
        widths = F.Widths(
            self.radiation.wavelength,
            value("crystallite_size_nm", self.crystallite_size_nm),
            value("microstrain", self.microstrain),
            value("instrument_fwhm", self.instrument_fwhm),
            None if caglioti is None else caglioti.to(device=self.device, dtype=dtype),
        )
        present = (widths.crystallite_size_nm, widths.microstrain, widths.instrument_fwhm, caglioti)
        if all(w is None for w in present):
            raise ValueError("no peak width: the simulator and the parameters set none")
        zero = value("zero_shift", self.zero_shift)
        displacement = value("specimen_displacement_mm", self.specimen_displacement_mm)
        extra = tuple((float(w), t.to(self.device)) for w, t in given.extra_lines)
        grid = self._two_theta.to(dtype)
        # Reflections that can reach the grid: its range plus the profile margin plus any position shift.
        shift = 0.0
        if zero is not None:
            shift += float(zero.abs().max())
        if displacement is not None:
            shift += float(2.0 * displacement.abs().max() / self.goniometer_radius_mm / F.RADIAN)
        # Each pattern's own margin: one broad pattern must not make the whole batch enumerate (and sum)
        # the reflections its tails reach.
        margins = F.profile_margins(grid, widths, self.profile).to(torch.float64) + shift
        g_max = self._g_max(float(grid[-1]) + margins, dtype, [w for w, _ in extra])
        reflections, g2, f2 = self._reflections(batch, g_max)

        po = None
        r = value("march_dollase", self.march_dollase)
        if r is not None:
            axes = given.orientation_hkl
            po = self._texture(
                batch, reflections, r, gen, None if axes is None else axes.to(self.device, dtype)
            )
        if given.grain_scatter is not None:
            po = self._grain_factors(reflections.crystal, given.grain_scatter, po, gen)
        position, area, pattern = [], [], []
        lines = F.sticks(
            reflections, g2, f2, po, self.radiation, self.monochromator_two_theta, extra, dtype, self.compile
        )
        for _, keep, two_theta, intensity in lines:
            if zero is not None or displacement is not None:
                two_theta = two_theta + self._peak_shift(two_theta, reflections.crystal, zero, displacement)
            if bool(keep.all()):  # no reflection beyond 2theta = 180 degrees (the usual case)
                position.append(two_theta)
                area.append(intensity)
                pattern.append(reflections.crystal)
            else:
                position.append(two_theta[keep])
                area.append(intensity[keep])
                pattern.append(reflections.crystal[keep])
        sticks = (
            (pattern[0], position[0], area[0])
            if len(pattern) == 1
            else (torch.cat(pattern), torch.cat(position), torch.cat(area))
        )
        if given.axial_divergence is not None:
            sticks = F.axial_divergence_sticks(*sticks, given.axial_divergence.to(self.device, dtype))
        return F.render(
            grid,
            *sticks,
            bsz,
            widths,
            self.profile,
            fuse=self.compile,
            workspace=self._workspace(),
            step_average=self.step_average,
        )
