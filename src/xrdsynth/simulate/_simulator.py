"""PowderSimulator: batched powder diffraction patterns of crystals, in torch."""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ..structure import Crystal, CrystalBatch
from ._augment import amorphous_hump, chebyshev_background, gaussian_noise, poisson_noise
from ._form_factors import MAX_FORM_FACTOR_Z, form_factor_table, form_factors
from ._parameters import PatternParameters
from ._profiles import PROFILES, Widths, Workspace, _fused, profile_margins, render
from ._reflections import (
    LaueTables,
    Reflections,
    enumerate_reflections,
    inverse_d_squared,
    laue_tables,
    reciprocal_basis,
    verified_laue_ids,
)
from ._structure_factor import (
    LatticeSymmetry,
    ScattererTypes,
    lattice_symmetry,
    scatterer_types,
)
from ._wavelengths import Radiation, resolve_wavelength

__all__ = ["PeakList", "PowderSimulator"]

Range = float | tuple[float, float] | None
# Low-index directions a random preferred orientation is drawn from (as reciprocal-lattice vectors hkl).
_ORIENTATIONS = ((0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1))
_RAD = math.pi / 180.0


@dataclass(frozen=True)
class PeakList:
    """A stick pattern: one entry per distinct peak position (reflections closer than the merge tolerance
    are one entry), sorted by 2theta.

    Reflections are named by the conventional member of their family (the equivalents under the crystal's
    Laue group), as powder tables list them: all indices non-negative where the family has such a member,
    the largest indices first among those (311, not 113; calcite's 104 and 018, not 1 0 -8); otherwise as
    few negative indices as possible, placed first (monoclinic -1 1 1). For hexagonal axes (a = b, α = β =
    90°, γ = 120°: hexagonal and trigonal crystals, rhombohedral ones in hexagonal axes) the Bravais–Miller
    indices hkil with i = −(h + k) are available too (:attr:`hkil`, ``labels(bravais_miller=True)``).

    Attributes:
        two_theta: (n,) float64 peak positions in degrees.
        intensity: (n,) float64 integrated intensities scaled so that the strongest is 100.
        hkl: (n, 3) int64 Miller indices of the strongest reflection family of each peak.
        d: (n,) float64 d-spacings in Å.
        multiplicity: (n,) int64 number of reflections (hkl and its equivalents) in each peak.
        wavelength: (n,) float64 the line (Å) that made each peak (two values for a Kα doublet).
        line: (n,) int64 which line of the radiation made each peak: 0 the principal one (Kα1), 1 the
            second of a doublet (Kα2).
        families: per peak, a (k, 3) int64 array with every reflection family merged into it, strongest
            first (the first row is ``hkl``): quartz's 26.6° peak holds 1 0 1 and 0 1 1, two forms with
            one d-spacing.
        hexagonal: whether the lattice has hexagonal axes (see above), so that :attr:`hkil` applies.
    """

    two_theta: npt.NDArray[np.float64]
    intensity: npt.NDArray[np.float64]
    hkl: npt.NDArray[np.int64]
    d: npt.NDArray[np.float64]
    multiplicity: npt.NDArray[np.int64]
    wavelength: npt.NDArray[np.float64]
    line: npt.NDArray[np.int64] | None = None
    families: tuple[npt.NDArray[np.int64], ...] | None = None
    hexagonal: bool = False

    def __post_init__(self) -> None:
        # Defaults for a PeakList made from the first six fields only: one line, one family per peak.
        if self.line is None:
            object.__setattr__(self, "line", np.zeros(len(self.two_theta), dtype=np.int64))
        if self.families is None:
            hkl = np.asarray(self.hkl, dtype=np.int64).reshape(-1, 3)
            object.__setattr__(self, "families", tuple(hkl[k : k + 1] for k in range(len(hkl))))

    def __len__(self) -> int:
        return len(self.two_theta)

    @property
    def hkil(self) -> npt.NDArray[np.int64]:
        """(n, 4) int64 Bravais–Miller indices (h, k, −h−k, l) of :attr:`hkl`.

        Raises:
            ValueError: the lattice does not have hexagonal axes (:attr:`hexagonal` is False).
        """
        if not self.hexagonal:
            raise ValueError("hkil (Bravais–Miller indices) need hexagonal axes; this lattice has none")
        return _bravais_miller(np.asarray(self.hkl, dtype=np.int64).reshape(-1, 3))

    def labels(self, bravais_miller: bool = False) -> list[str]:
        """One label per peak: every family merged into it, strongest first, e.g. ``"1 0 4"``, or
        ``"1 0 -1 4"`` in Bravais–Miller indices; ``"1 0 1, 0 1 1"`` for two families.

        Args:
            bravais_miller: write hkil instead of hkl (hexagonal axes only).

        Raises:
            ValueError: ``bravais_miller=True`` for a lattice without hexagonal axes.
        """
        if bravais_miller and not self.hexagonal:
            raise ValueError("hkil (Bravais–Miller indices) need hexagonal axes; this lattice has none")
        families = self.families if self.families is not None else ()
        return [
            ", ".join(
                " ".join(str(int(i)) for i in row) for row in (_bravais_miller(f) if bravais_miller else f)
            )
            for f in families
        ]

    def __repr__(self) -> str:
        strongest = np.argsort(self.intensity)[::-1][:3]
        labels = self.labels(bravais_miller=self.hexagonal)
        top = ", ".join(f"({labels[k]}) {self.two_theta[k]:.3f}°" for k in strongest)
        return f"PeakList({len(self)} peaks; strongest: {top})"


def _bravais_miller(hkl: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """(m, 3) hkl -> (m, 4) hkil with i = -(h + k)."""
    hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
    return np.column_stack([hkl[:, 0], hkl[:, 1], -(hkl[:, 0] + hkl[:, 1]), hkl[:, 2]])


def _conventional_hkl(hkl: npt.NDArray[np.int64], rotations: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The member of each family that powder tables list (see :class:`PeakList`).

    Args:
        hkl: (R, 3) int64 one member of each family.
        rotations: (R, G, 3, 3) int64 the Laue group of each reflection, acting on row vectors (h -> h R);
            padding with the identity is harmless.

    Returns:
        (R, 3) int64: fewest negative indices, then the largest absolute indices first (lexicographically),
        then negative indices as early as possible.
    """
    images = np.einsum("ri,rgij->rgj", hkl, rotations)  # (R, G, 3)
    size = 2 * int(np.abs(images).max(initial=0)) + 2
    negative = (images < 0).sum(-1)
    magnitude = np.abs(images)
    # One integer per image, smaller is better: the three criteria as digits of decreasing weight.
    score = negative
    for j in range(3):
        score = score * size + (size - 1 - magnitude[..., j])
    signs = (images >= 0).astype(np.int64) @ np.array([4, 2, 1])
    score = score * 8 + signs
    best = np.argmin(score, axis=1)
    return images[np.arange(len(hkl)), best]


def _hexagonal_axes(lattice: npt.NDArray[np.float64]) -> bool:
    """a = b, α = β = 90°, γ = 120° (within 1e-6 relative and 1e-4°)."""
    lengths = np.linalg.norm(lattice, axis=1)
    cosines = [
        float(lattice[1] @ lattice[2] / (lengths[1] * lengths[2])),
        float(lattice[0] @ lattice[2] / (lengths[0] * lengths[2])),
        float(lattice[0] @ lattice[1] / (lengths[0] * lengths[1])),
    ]
    angles = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
    return bool(
        abs(lengths[0] - lengths[1]) <= 1e-6 * lengths[0]
        and np.allclose(angles, [90.0, 90.0, 120.0], rtol=0.0, atol=1e-4)
    )


def _check_range(
    name: str, value: Range, low: float, high: float = math.inf, allow_low: bool = False
) -> Range:
    """Validate a fixed value or a (lo, hi) uniform range of a per-pattern parameter."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        pair = (float(value), float(value))
    else:
        try:
            pair = tuple(float(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}") from None
        if len(pair) != 2:
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}")
    lo, hi = pair
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be finite with low <= high, got {value!r}")
    if lo < low or (lo == low and not allow_low) or hi > high:
        bound = f">= {low}" if allow_low else f"> {low}"
        if high < math.inf:
            bound += f" and <= {high}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return pair


def _fixed(value: Range) -> float | None:
    """The value of a per-pattern parameter when it is fixed (low == high), else None (off, or a range)."""
    if value is None:
        return None
    low, high = value  # type: ignore[misc]
    return float(low) if low == high else None


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
    (K = 0.9), microstrain broadening, a Caglioti instrument function and/or a fixed FWHM (see
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
        fwhm: a FWHM in degrees added as an instrument width.
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
        dtype: float32 (default) or float64, for the computation and the output.
        device: where tensors live and the work runs.
        seed: int, a torch.Generator, or None (nondeterministic) for the per-pattern parameters.
        max_chunk_elements: bound on reflections x atoms per step of the structure-factor sum (memory).
        compile: fuse the per-point stages of the profile rendering with ``torch.compile`` (needs a C++
            compiler on CPUs): identical patterns several times faster after a one-time compilation of ~20 s;
            falls back to eager code with a warning when compilation fails.

    Example:
        >>> sim = PowderSimulator(two_theta=(5.0, 90.0, 8501), wavelength="CuKa1")
        >>> x = sim([xrdsynth.Crystal.from_cif("quartz.cif")])   # (1, 8501), max 1
    """

    def __init__(
        self,
        two_theta: tuple[float, float, int] | Sequence[float] | torch.Tensor | np.ndarray = (5.0, 90.0, 8501),
        *,
        q: tuple[float, float, int] | Sequence[float] | torch.Tensor | np.ndarray | None = None,
        wavelength: str | float = "CuKa1",
        profile: str = "gaussian",
        crystallite_size_nm: Range = (20.0, 100.0),
        microstrain: Range = None,
        fwhm: Range = None,
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
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        seed: int | torch.Generator | None = 0,
        max_chunk_elements: int = 2**21,
        compile: bool = False,
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
        self.crystallite_size_nm = _check_range("crystallite_size_nm", crystallite_size_nm, 0.0)
        self.microstrain = _check_range("microstrain", microstrain, 0.0, allow_low=True)
        self.fwhm = _check_range("fwhm", fwhm, 0.0)
        if caglioti is not None:
            caglioti = tuple(float(v) for v in caglioti)  # type: ignore[assignment]
            if len(caglioti) != 3 or not all(math.isfinite(v) for v in caglioti):  # type: ignore[arg-type]
                raise ValueError(
                    f"caglioti must be three finite numbers (U, V, W) in degrees², got {caglioti}"
                )
        self.caglioti = caglioti
        if not any(v is not None for v in (self.crystallite_size_nm, self.microstrain, self.fwhm, caglioti)):
            raise ValueError("no peak width: give crystallite_size_nm, microstrain, fwhm or caglioti")
        if monochromator_two_theta is not None and not 0.0 <= float(monochromator_two_theta) < 180.0:
            raise ValueError(
                f"monochromator_two_theta must be in [0, 180) degrees, got {monochromator_two_theta}"
            )
        self.monochromator_two_theta = monochromator_two_theta
        self.zero_shift = _check_range("zero_shift", zero_shift, -math.inf)
        self.specimen_displacement_mm = _check_range(
            "specimen_displacement_mm", specimen_displacement_mm, -math.inf
        )
        if not goniometer_radius_mm > 0:
            raise ValueError(f"goniometer_radius_mm must be positive, got {goniometer_radius_mm}")
        self.goniometer_radius_mm = float(goniometer_radius_mm)
        self.march_dollase = _check_range("march_dollase", march_dollase, 0.0)
        if preferred_orientation_hkl is not None:
            hkl = tuple(int(v) for v in preferred_orientation_hkl)
            if len(hkl) != 3 or hkl == (0, 0, 0):
                raise ValueError(f"preferred_orientation_hkl must be three integers, not all 0, got {hkl}")
            preferred_orientation_hkl = hkl  # type: ignore[assignment]
        self.preferred_orientation_hkl = preferred_orientation_hkl
        self.impurity_fraction = _check_range(
            "impurity_fraction", impurity_fraction, 0.0, 1.0, allow_low=True
        )
        self.background = _check_range("background", background, 0.0, allow_low=True)
        if int(background_order) < 1:
            raise ValueError(f"background_order must be >= 1, got {background_order}")
        self.background_order = int(background_order)
        self.amorphous_hump = _check_range("amorphous_hump", amorphous_hump, 0.0, allow_low=True)
        self.poisson_counts = _check_range("poisson_counts", poisson_counts, 0.0)
        self.gaussian_noise = _check_range("gaussian_noise", gaussian_noise, 0.0, allow_low=True)
        self.sqrt_scale = bool(sqrt_scale)
        if int(max_chunk_elements) < 1024:
            raise ValueError(f"max_chunk_elements must be >= 1024, got {max_chunk_elements}")
        self.max_chunk_elements = int(max_chunk_elements)
        self.compile = bool(compile)
        self.dtype = dtype
        self.seed = seed
        self._generator: torch.Generator | None = None
        self._workspaces: threading.local | None = threading.local()

        device = torch.device(device)
        self._grid_spec = ("q", q) if q is not None else ("two_theta", two_theta)
        self.register_buffer("_two_theta", self._make_grid(), persistent=False)
        self._two_theta: torch.Tensor  # (P,) float64 on the device
        self.register_buffer("_form_factors", form_factor_table(), persistent=False)
        self._form_factors: torch.Tensor
        tables = laue_tables()
        self.register_buffer("_laue_id", tables.laue_id, persistent=False)
        self.register_buffer("_laue_rotations", tables.rotations, persistent=False)
        self.register_buffer("_laue_count", tables.count, persistent=False)
        self.register_buffer("_laue_generators", tables.generators, persistent=False)
        self.register_buffer("_laue_flips", tables.flips, persistent=False)
        self._laue_triclinic = tables.triclinic
        self.to(device)

    # ----------------------------------------------------------------------------------------- set-up
    def _make_grid(self) -> torch.Tensor:
        kind, spec = self._grid_spec
        if isinstance(spec, tuple) and len(spec) == 3:
            # A tuple of three is always (start, stop, num); an array or list of three is three points.
            try:
                start, stop, count = (float(v) for v in spec)
            except (TypeError, ValueError):
                raise ValueError(f"{kind} grid must be (start, stop, num) of numbers, got {spec!r}") from None
            if not count.is_integer():
                raise ValueError(
                    f"{kind} grid (start, stop, num) needs a whole number of points, got num={spec[2]!r} "
                    "(for a grid of three angles give an array or a list)"
                )
            num = int(count)
            if num < 2 or not (math.isfinite(start) and math.isfinite(stop)) or not start < stop:
                raise ValueError(
                    f"{kind} grid must be (start, stop, num) with start < stop and num >= 2, got {spec}"
                )
            values = torch.linspace(start, stop, num, dtype=torch.float64)
        else:
            try:
                # A copy: the caller's array may be read-only (MeasuredPattern's are) or change later.
                values = torch.tensor(np.array(spec, dtype=np.float64))
            except (TypeError, ValueError):
                raise ValueError(f"{kind} must be (start, stop, num) or a 1-D array, got {spec!r}") from None
            if values.ndim != 1 or len(values) < 2:
                raise ValueError(
                    f"{kind} grid must be 1-D with at least 2 points, got shape {tuple(values.shape)}"
                )
            if not torch.all(torch.isfinite(values)) or not torch.all(values[1:] > values[:-1]):
                raise ValueError(f"{kind} grid must be finite and strictly increasing")
        if kind == "q":
            sin_theta = values * self.radiation.wavelength / (4.0 * math.pi)
            if values[0] <= 0 or sin_theta[-1] >= 1:
                limit = 4.0 * math.pi / self.radiation.wavelength
                raise ValueError(
                    f"q grid must lie in (0, {limit:.4f}) 1/Å for λ = {self.radiation.wavelength} Å"
                )
            values = 2.0 * torch.rad2deg(torch.asin(sin_theta))
        elif values[0] <= 0 or values[-1] >= 180:
            raise ValueError(
                f"two_theta grid must lie inside (0, 180) degrees, "
                f"got {float(values[0])}..{float(values[-1])}"
            )
        return values

    @property
    def two_theta(self) -> torch.Tensor:
        """(P,) the 2θ grid in degrees, on the simulator's device, in its dtype."""
        return self._two_theta.to(self.dtype)

    @property
    def q(self) -> torch.Tensor:
        """(P,) the grid as Q = 4π sinθ/λ in 1/Å (λ the principal line)."""
        theta = torch.deg2rad(self._two_theta) / 2.0
        return (4.0 * math.pi * torch.sin(theta) / self.radiation.wavelength).to(self.dtype)

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
        for name in (
            "crystallite_size_nm",
            "microstrain",
            "fwhm",
            "caglioti",
            "monochromator_two_theta",
            "zero_shift",
            "specimen_displacement_mm",
            "march_dollase",
            "preferred_orientation_hkl",
            "impurity_fraction",
            "background",
            "amorphous_hump",
            "poisson_counts",
            "gaussian_noise",
        ):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
                    value = value[0]
                parts.append(f"{name}={value}")
        if self.sqrt_scale:
            parts.append("sqrt_scale=True")
        if self.compile:
            parts.append("compile=True")
        parts.append(f"dtype={self.dtype}, device={self.device}")
        return ", ".join(parts)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None  # generators do not pickle; a copy restarts from the seed
        state["_workspaces"] = None  # buffers are not state (and thread-locals do not pickle)
        return state

    def _workspace(self) -> Workspace:
        """This thread's rendering buffers (reused between calls: see :class:`Workspace`)."""
        if self._workspaces is None:
            self._workspaces = threading.local()
        workspace = getattr(self._workspaces, "workspace", None)
        if workspace is None:
            workspace = self._workspaces.workspace = Workspace()
        return workspace

    def generator(self) -> torch.Generator:
        """The simulator's generator on its device, created from ``seed`` on first use."""
        if self._generator is None or self._generator.device != self.device:
            if isinstance(self.seed, torch.Generator):
                if self.seed.device != self.device:
                    raise ValueError(
                        f"seed generator is on {self.seed.device}, the simulator on {self.device}"
                    )
                self._generator = self.seed
            else:
                generator = torch.Generator(device=self.device)
                if self.seed is None:
                    generator.seed()
                else:
                    generator.manual_seed(int(self.seed))
                self._generator = generator
        return self._generator

    # ------------------------------------------------------------------------------------- checking
    def _as_batch(
        self, crystals: CrystalBatch | Crystal | Sequence[Crystal], dtype: torch.dtype
    ) -> CrystalBatch:
        if isinstance(crystals, Crystal):
            crystals = [crystals]
        if isinstance(crystals, CrystalBatch):
            batch = crystals.to(device=self.device, dtype=dtype)
        else:
            crystals = list(crystals)
            if not crystals:
                raise ValueError("no crystals given")
            for k, crystal in enumerate(crystals):
                if not isinstance(crystal, Crystal):
                    raise ValueError(f"entry {k} is a {type(crystal).__name__}, not a Crystal")
            batch = CrystalBatch.from_crystals(crystals, device=self.device, dtype=dtype)
        _check_batch(batch, self.compile)
        return batch

    # ----------------------------------------------------------------------------------- the physics
    def _tables(self) -> LaueTables:
        return LaueTables(
            self._laue_id,
            self._laue_rotations,
            self._laue_count,
            self._laue_triclinic,
            self._laue_generators,
            self._laue_flips,
        )

    def _reflections(
        self, batch: CrystalBatch, g_max: torch.Tensor
    ) -> tuple[Reflections, torch.Tensor, torch.Tensor]:
        """Laue-unique reflections of the batch with |g| <= g_max, their 1/d^2 (float64) and |F|^2 (float
        dtype)."""
        tables = self._tables()
        weights = batch.numbers.to(batch.dtype) * batch.occupancies * batch.mask
        laue = verified_laue_ids(
            batch.space_group, batch.lattice, batch.frac_coords.detach(), weights.detach(), tables
        )
        if torch.is_grad_enabled() and any(
            t.requires_grad for t in (batch.lattice, batch.frac_coords, batch.occupancies, batch.b_iso)
        ):
            # A gradient moves one atom or one cell edge at a time, which breaks the symmetry that merged
            # h with h R: only Friedel pairs (h, -h) stay equivalent under every change, so only they merge.
            laue = torch.full_like(laue, tables.triclinic)
        atoms = _Atoms.of(batch, self.compile)
        # Reflections forbidden by a centring translation have F = 0 exactly: left out before any sum.
        centring = None if atoms.symmetry is None else atoms.symmetry.centring
        reflections = enumerate_reflections(batch.lattice, g_max, laue, tables, centring, self.compile)
        # 1/d^2 once, in float64 (positions need it) and from the possibly differentiable lattice.
        fuse = self.compile and not batch.lattice.requires_grad
        g2 = _fused(inverse_d_squared, fuse)(
            reflections.hkl.to(torch.float64), batch.lattice.to(torch.float64), reflections.crystal
        )
        f2 = self._structure_factors(atoms, reflections, (g2 / 4.0).to(batch.dtype))
        return reflections, g2, f2

    def _structure_factors(self, atoms: _Atoms, refl: Reflections, s2: torch.Tensor) -> torch.Tensor:
        """|F|^2 of every reflection (s2: (R,) (sin(theta)/lambda)^2 in 1/Å²).

        The scattering factors f(s) exp(-B s^2) are evaluated once for all (reflection, type) pairs; the
        phase sums, the only part that grows with reflections x atoms, run over the atoms that stand for
        their centring orbit (:func:`lattice_symmetry`) in padded chunks of 32-row pieces of crystals with
        similar atom counts (bounded memory, :func:`_chunks`). A chunk is a handful of tensor operations
        whatever its size, so the cost of a call is the phase work plus a small fixed cost per chunk.
        """
        dtype, device = atoms.frac_coords.dtype, refl.hkl.device
        types = atoms.types
        k = types.numbers.shape[1]
        # f(s) exp(-B s^2) of each reflection for each scatterer type of its crystal: (R, K), evaluated only
        # where the crystal has that type (most crystals have fewer types than the batch's most).
        rows, columns = torch.nonzero(types.numbers[refl.crystal] > 0, as_tuple=True)
        values = _fused(_scattering_factors, self.compile)(
            self._form_factors.to(dtype)[types.numbers],
            types.b_iso.to(dtype),
            refl.crystal,
            s2,
            rows,
            columns,
        )
        scattering = s2.new_zeros(len(s2), k).index_put((rows, columns), values)
        frac, occupancy_matrix, atom_counts = atoms.representatives()
        # Phase sums sum_j occ_j cos/sin(2 pi h.x_j) per type; row R of the sums is a sink for padding rows.
        n_rows = len(refl.hkl)
        budget = self.max_chunk_elements
        turns = torch.cat([refl.hkl.to(dtype), refl.hkl.new_zeros(1, 3, dtype=dtype)]) * (2.0 * math.pi)
        cos_sums = torch.zeros(n_rows + 1, k, dtype=dtype, device=device)
        sin_sums = torch.zeros(n_rows + 1, k, dtype=dtype, device=device)
        counts = refl.counts.cpu().numpy()
        offsets = refl.first_rows()
        steps = np.arange(_PIECE_ROWS)
        centric_np = np.zeros(len(counts), dtype=bool)
        if atoms.symmetry is not None:
            centric_np = atoms.symmetry.centric.cpu().numpy()
        for real in (True, False):
            # Centric and general crystals go in separate chunks: the first need no sine sum.
            plan = _chunks(np.where(centric_np == real, counts, 0), atom_counts, budget)
            for crystals, starts, n_max in plan:
                # (C, _PIECE_ROWS) reflection rows of each piece, rows past a crystal's end at the sink row.
                local = starts[:, None] + steps
                rows_np = np.where(
                    local < counts[crystals][:, None], offsets[crystals][:, None] + local, n_rows
                )
                rows = torch.from_numpy(rows_np).to(device)
                index = torch.from_numpy(crystals).to(device)
                # 2 pi h.x as one batched product; float32 keeps ~1e-5 rad for |h.x| up to ~100 cycles.
                phase = torch.bmm(turns[rows], frac[index, :n_max].transpose(1, 2))
                occupancy = occupancy_matrix[index, :n_max]
                cos_sums = cos_sums.index_put((rows,), torch.bmm(torch.cos(phase), occupancy))
                if not real:
                    sin_sums = sin_sums.index_put((rows,), torch.bmm(torch.sin(phase), occupancy))
        real_part = (cos_sums[:n_rows] * scattering).sum(-1)
        imaginary = (sin_sums[:n_rows] * scattering).sum(-1)
        return real_part * real_part + imaginary * imaginary

    def _sticks(
        self,
        batch: CrystalBatch,
        reflections: Reflections,
        g2: torch.Tensor,
        f2: torch.Tensor,
        po_factor: torch.Tensor | None,
        extra_lines: tuple[tuple[float, torch.Tensor], ...] = (),
    ) -> list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per wavelength line: (lambda, keep mask, 2theta in degrees, intensity) for every reflection;
        ``extra_lines`` add lines with per-pattern (B,) weights."""
        # Positions in float64 whatever the simulator's dtype: per reflection it costs nothing, and float32
        # 2theta would carry errors of 1e-5 degrees into the profiles.
        dtype = batch.dtype
        g = torch.sqrt(g2)
        base = reflections.multiplicity.to(torch.float64) * f2.to(torch.float64)
        if po_factor is not None:
            base = base * po_factor.to(torch.float64)
        lines = []
        fuse = self.compile and not (g2.requires_grad or base.requires_grad)
        monochromator = -1.0 if self.monochromator_two_theta is None else float(self.monochromator_two_theta)
        for wavelength, weight in zip(self.radiation.wavelengths, self.radiation.weights, strict=True):
            keep, two_theta, intensity = _fused(_line_sticks, fuse)(
                g, base, wavelength, weight, monochromator
            )
            lines.append((wavelength, keep, two_theta.to(dtype), intensity.to(dtype)))
        for wavelength, weights in extra_lines:
            keep, two_theta, intensity = _line_sticks(g, base, float(wavelength), 1.0, monochromator)
            intensity = intensity * weights.to(torch.float64)[reflections.crystal]
            lines.append((float(wavelength), keep, two_theta.to(dtype), intensity.to(dtype)))
        return lines

    def _g_max(
        self, high: torch.Tensor, dtype: torch.dtype, extra_wavelengths: Sequence[float] = ()
    ) -> torch.Tensor:
        """(B,) radius of the limiting sphere that holds every reflection up to 2theta = high (degrees, (B,)
        float64) for all lines of the radiation (and any extra lines)."""
        shortest = min((*self.radiation.wavelengths, *extra_wavelengths))
        return (2.0 * torch.sin(torch.deg2rad(high.clamp(max=180.0)) / 2.0) / shortest).to(dtype)

    # ---------------------------------------------------------------------------------- public calls
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
        zero, displacement = _fixed(self.zero_shift), _fixed(self.specimen_displacement_mm)
        shift = abs(zero or 0.0) + 2.0 * abs(displacement or 0.0) / self.goniometer_radius_mm / _RAD
        top = torch.full((1,), high + shift, dtype=torch.float64, device=self.device)
        g_max = self._g_max(top, torch.float64)
        march_dollase = _fixed(self.march_dollase)
        with torch.no_grad():
            reflections, g2, f2 = self._reflections(batch, g_max * (1.0 + 1e-9))
            po = None
            if march_dollase is not None and self.preferred_orientation_hkl is not None:
                r = torch.full((1,), march_dollase, dtype=torch.float64, device=self.device)
                # The direction is fixed, so the generator is not used.
                po = self._march_dollase(batch, reflections, r, self.generator())
            lines = self._sticks(batch, reflections, g2, f2, po)
        zero_t, displacement_t = (
            None if v is None else torch.full((1,), v, dtype=torch.float64, device=self.device)
            for v in (zero, displacement)
        )
        laue = reflections.laue[reflections.crystal]
        hkl_all = _conventional_hkl(reflections.hkl.cpu().numpy(), self._laue_rotations[laue].cpu().numpy())
        d_all = (1.0 / torch.sqrt(g2)).cpu().numpy()
        tt, inten, hkl, d, mult, lam, line = [], [], [], [], [], [], []
        for index, (wavelength, keep, two_theta, intensity) in enumerate(lines):
            if zero is not None or displacement is not None:
                two_theta = two_theta + self._position_shift(
                    two_theta, reflections.crystal, zero_t, displacement_t
                )
            t = two_theta.cpu().numpy()
            inside = keep.cpu().numpy() & (t >= low - 1e-9) & (t <= high + 1e-9)
            tt.append(t[inside])
            inten.append(intensity.cpu().numpy()[inside])
            hkl.append(hkl_all[inside])
            d.append(d_all[inside])
            mult.append(reflections.multiplicity.cpu().numpy()[inside])
            lam.append(np.full(int(inside.sum()), wavelength))
            line.append(np.full(int(inside.sum()), index, dtype=np.int64))
        return _merge_peaks(
            *(np.concatenate(a) for a in (tt, inten, hkl, d, mult, lam, line)),
            merge_tolerance,
            min_intensity,
            _hexagonal_axes(crystal.lattice),
        )

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
        return self._finish(self._render_unnormalised(batch, gen, parameters), gen)

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
        widths = Widths(
            self.radiation.wavelength,
            value("crystallite_size_nm", self.crystallite_size_nm),
            value("microstrain", self.microstrain),
            value("fwhm", self.fwhm),
            None if caglioti is None else caglioti.to(device=self.device, dtype=dtype),
        )
        if all(w is None for w in (widths.crystallite_size_nm, widths.microstrain, widths.fwhm, caglioti)):
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
            shift += float(2.0 * displacement.abs().max() / self.goniometer_radius_mm / _RAD)
        # Each pattern's own margin: one broad pattern must not make the whole batch enumerate (and sum)
        # the reflections its tails reach.
        margins = profile_margins(grid, widths, self.profile).to(torch.float64) + shift
        g_max = self._g_max(float(grid[-1]) + margins, dtype, [w for w, _ in extra])
        reflections, g2, f2 = self._reflections(batch, g_max)

        po = None
        r = value("march_dollase", self.march_dollase)
        if r is not None:
            axes = given.orientation_hkl
            po = self._march_dollase(
                batch, reflections, r, gen, None if axes is None else axes.to(self.device, dtype)
            )
        position, area, pattern = [], [], []
        for _, keep, two_theta, intensity in self._sticks(batch, reflections, g2, f2, po, extra):
            if zero is not None or displacement is not None:
                two_theta = two_theta + self._position_shift(
                    two_theta, reflections.crystal, zero, displacement
                )
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
            sticks = axial_divergence_sticks(*sticks, given.axial_divergence.to(self.device, dtype))
        return render(
            grid, *sticks, bsz, widths, self.profile, fuse=self.compile, workspace=self._workspace()
        )

    # ------------------------------------------------------------------------------- sample effects
    def _draw(self, spec: Range, n: int, generator: torch.Generator) -> torch.Tensor | None:
        """n values uniform in spec = (lo, hi) (a fixed value when lo == hi), or None."""
        if spec is None:
            return None
        lo, hi = spec  # type: ignore[misc]
        u = torch.rand(n, generator=generator, dtype=self.dtype, device=self.device)
        return lo + (hi - lo) * u

    def _position_shift(
        self,
        two_theta: torch.Tensor,
        crystal: torch.Tensor,
        zero: torch.Tensor | None,
        displacement: torch.Tensor | None,
    ) -> torch.Tensor:
        shift = torch.zeros_like(two_theta)
        if zero is not None:
            shift = shift + zero[crystal]
        if displacement is not None:
            theta = two_theta * (_RAD / 2.0)
            shift = shift - 2.0 * displacement[crystal] * torch.cos(theta) / self.goniometer_radius_mm / _RAD
        return shift

    def _march_dollase(
        self,
        batch: CrystalBatch,
        refl: Reflections,
        r: torch.Tensor,
        gen: torch.Generator,
        axes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """March–Dollase factor of each reflection, averaged over its Laue orbit (the equivalent reflections
        have different angles to the orientation axis); ``axes`` (B, 3) replace the simulator's directions."""
        dtype = batch.dtype
        bsz = len(batch)
        if axes is None and self.preferred_orientation_hkl is None:
            choice = torch.randint(len(_ORIENTATIONS), (bsz,), generator=gen, device=self.device)
            axes = torch.tensor(_ORIENTATIONS, dtype=dtype, device=self.device)[choice]
        elif axes is None:
            axes = torch.tensor(self.preferred_orientation_hkl, dtype=dtype, device=self.device).expand(
                bsz, 3
            )
        reciprocal = reciprocal_basis(batch.lattice)  # rows a*, b*, c*
        normal = torch.einsum("bi,bij->bj", axes, reciprocal)
        normal = normal / normal.norm(dim=1, keepdim=True)
        tables = self._tables()
        crystal, hkl = refl.crystal, refl.hkl
        # Patterns with r = 1 (a random powder) have factor 1: only the textured ones are worked out.
        textured = r[crystal] != 1.0
        every = bool(textured.all())
        if not every:
            crystal, hkl = crystal[textured], hkl[textured]
        laue = refl.laue[crystal]
        # cos α of the equivalent reflection h R: (h R B)·n / |h R B| = h·(R (B n)) / |h B|, as the Laue
        # group's rotations keep |g|. R (B n) is worked out once per crystal (B, 48, 3), not per reflection.
        axis = (reciprocal @ normal.unsqueeze(-1)).view(-1, 1, 1, 3)  # B n, (B, 1, 1, 3)
        turned = (tables.rotations[refl.laue].to(dtype) * axis).sum(-1)  # R (B n), (B, 48, 3)
        h = hkl.to(dtype)
        length = (h.unsqueeze(-1) * reciprocal[crystal]).sum(-2).norm(dim=-1)  # |h B|, (R,)
        cos_alpha = (h.unsqueeze(1) * turned[crystal]).sum(-1) / length.unsqueeze(1)
        rr = r[crystal].unsqueeze(1)
        factor = (rr.square() * cos_alpha.square() + (1.0 - cos_alpha.square()) / rr) ** -1.5
        valid = torch.arange(48, device=self.device) < tables.count[laue].unsqueeze(1)
        mean = (factor * valid).sum(1) / valid.sum(1)
        if every:
            return mean
        ones = torch.ones(len(refl.crystal), dtype=mean.dtype, device=mean.device)
        return ones.index_put((textured,), mean)

    def _finish(self, patterns: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Normalise, then add impurity, background, hump and noise, normalise again, optional sqrt."""
        bsz = patterns.shape[0]
        peak = patterns.amax(dim=1, keepdim=True)
        empty = peak.squeeze(1) <= 0
        if bool(empty.any()):
            warnings.warn(
                f"{int(empty.sum())} of {bsz} crystals have no reflection in the 2θ range; "
                "their patterns are 0",
                RuntimeWarning,
                stacklevel=3,
            )
        # Clamped: the FFT leaves round-off of order 1e-8 around zero, and intensities are not negative.
        scale = torch.where(peak > 0, peak, torch.ones_like(peak))
        if torch.is_grad_enabled() and patterns.requires_grad:
            patterns = (patterns / scale).clamp_min(0.0)
        else:
            # In place: the (B, P) patterns are this call's own; two fresh copies would cost page faults.
            patterns = patterns.div_(scale).clamp_min_(0.0)
        grid = self._two_theta.to(self.dtype)
        fraction = self._draw(self.impurity_fraction, bsz, gen)
        if fraction is not None:
            if bsz < 2:
                raise ValueError(
                    "impurity_fraction needs batches of at least 2 crystals (the impurity is another one)"
                )
            offset = int(torch.randint(1, bsz, (1,), generator=gen, device=self.device))
            patterns = patterns + fraction.unsqueeze(1) * torch.roll(patterns, offset, dims=0)
        level = self._draw(self.background, bsz, gen)
        if level is not None:
            coefficients = torch.randn(
                bsz, self.background_order, generator=gen, dtype=self.dtype, device=self.device
            )
            # Decaying coefficients keep the background smooth (most weight in the low orders).
            decay = (
                1.0
                / (1.0 + torch.arange(self.background_order, dtype=self.dtype, device=self.device)).square()
            )
            patterns = patterns + level.unsqueeze(1) * chebyshev_background(grid, coefficients * decay)
        hump = self._draw(self.amorphous_hump, bsz, gen)
        if hump is not None:
            d = 3.0 + 3.0 * torch.rand(bsz, generator=gen, dtype=self.dtype, device=self.device)
            center = 2.0 * torch.rad2deg(torch.asin((self.radiation.wavelength / (2.0 * d)).clamp(max=1.0)))
            width = 5.0 + 10.0 * torch.rand(bsz, generator=gen, dtype=self.dtype, device=self.device)
            patterns = patterns + hump.unsqueeze(1) * amorphous_hump(grid, center, width)
        counts = self._draw(self.poisson_counts, bsz, gen)
        if counts is not None:
            patterns = poisson_noise(patterns, counts, gen)
        sigma = self._draw(self.gaussian_noise, bsz, gen)
        if sigma is not None:
            patterns = gaussian_noise(patterns, sigma, gen)
        if any(v is not None for v in (fraction, level, hump, counts, sigma)):
            peak = patterns.amax(dim=1, keepdim=True)
            patterns = patterns / torch.where(peak > 0, peak, torch.ones_like(peak))
        if self.sqrt_scale:
            patterns = torch.sqrt(patterns.clamp_min(0.0))
        return patterns


@dataclass(frozen=True)
class _Atoms:
    """The atoms of a batch as the structure-factor sums see them.

    Attributes:
        frac_coords: (B, N, 3) fractional coordinates.
        types: the crystals' scatterer types.
        occupancy_matrix: (B, N, K) occupancy of atom n if it has type k (0 for padding).
        symmetry: inversion and centring of each crystal, or None when gradients are wanted (a gradient step
            breaks every symmetry, so every atom and every reflection is kept).
    """

    frac_coords: torch.Tensor
    types: ScattererTypes
    occupancy_matrix: torch.Tensor
    symmetry: LatticeSymmetry | None

    @classmethod
    def of(cls, batch: CrystalBatch, fuse: bool = False) -> _Atoms:
        wants_grad = torch.is_grad_enabled() and any(
            t.requires_grad for t in (batch.frac_coords, batch.occupancies, batch.b_iso)
        )
        types = scatterer_types(batch.numbers, batch.b_iso, batch.mask, merge=not batch.b_iso.requires_grad)
        one_hot = torch.nn.functional.one_hot(types.index, types.numbers.shape[1]).to(batch.dtype)
        occupancy_matrix = one_hot * (batch.occupancies * batch.mask).unsqueeze(-1)
        symmetry = None
        if not wants_grad:
            symmetry = lattice_symmetry(
                batch.frac_coords, batch.occupancies, types.index, types.numbers.shape[1], batch.mask, fuse
            )
        return cls(batch.frac_coords, types, occupancy_matrix, symmetry)

    def representatives(self) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """(B, M, 3) coordinates and (B, M, K) occupancies (times the orbit size) of the atoms that stand for
        their centring orbit, first in each crystal, and (B,) their number per crystal."""
        if self.symmetry is None:  # every atom, padding included
            bsz, n = self.frac_coords.shape[:2]
            return self.frac_coords, self.occupancy_matrix, np.full(bsz, n)
        kept, order = self.symmetry.kept, self.symmetry.order
        counts = kept.sum(dim=1)
        m = max(int(counts.max()), 1)
        # A stable sort puts each crystal's kept atoms first, in their order; the rest is cut off or padding.
        first = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)[:, :m]
        frac = torch.gather(self.frac_coords, 1, first.unsqueeze(-1).expand(-1, -1, 3))
        k = self.occupancy_matrix.shape[2]
        occupancy = torch.gather(self.occupancy_matrix, 1, first.unsqueeze(-1).expand(-1, -1, k))
        weight = (torch.gather(kept, 1, first) * order.unsqueeze(1)).to(occupancy.dtype)
        return frac, occupancy * weight.unsqueeze(-1), counts.cpu().numpy()


# Satellite sticks per reflection that stand for the axial-divergence tail, and where they sit as fractions
# of the tail's extent: squares, so that most of the intensity stays near the peak, as in the FCJ profile.
_AXIAL_SATELLITES = 4
_AXIAL_FRACTIONS = tuple(((k + 0.5) / _AXIAL_SATELLITES) ** 2 for k in range(_AXIAL_SATELLITES))
# The tail's extent is capped (degrees 2θ): cot 2θ diverges at the lowest angles.
_AXIAL_MAX_EXTENT = 2.0


def axial_divergence_sticks(
    pattern: torch.Tensor, position: torch.Tensor, area: torch.Tensor, ratio: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sticks with the asymmetry that axial divergence gives a Bragg–Brentano peak.

    After Finger, Cox & Jephcoat (J. Appl. Cryst. 27, 892, 1994), a reflection at 2θ spreads towards the
    angle 2φ_min with cos 2φ_min = cos 2θ √(1 + a²), a = (S + H)/L the sample and detector heights over the
    goniometer radius: an extent Δ ≈ (a²/2) cot 2θ radians, towards lower angles below 90° and higher ones
    above. Each stick becomes :data:`_AXIAL_SATELLITES` sticks of equal share at fractions (k + ½)²/K² of Δ
    (the tail's intensity gathers near the peak), which the profile then broadens.

    Args:
        pattern: (S,) int64 pattern index of each stick.
        position: (S,) 2θ in degrees.
        area: (S,) integrated intensities.
        ratio: (B,) a = (S + H)/L per pattern (0: no asymmetry; laboratory instruments ~0.01-0.05).

    Returns:
        pattern, position, area of the satellites, (K S,); the areas sum to the original ones.
    """
    theta2 = torch.deg2rad(position)
    extent = (0.5 * ratio[pattern].square() / torch.tan(theta2)).rad2deg()
    extent = extent.clamp(-_AXIAL_MAX_EXTENT, _AXIAL_MAX_EXTENT)
    fractions = torch.tensor(_AXIAL_FRACTIONS, dtype=position.dtype, device=position.device)
    moved = position.unsqueeze(1) - extent.unsqueeze(1) * fractions  # (S, K)
    share = (area / _AXIAL_SATELLITES).unsqueeze(1).expand(-1, _AXIAL_SATELLITES)
    return pattern.repeat_interleave(_AXIAL_SATELLITES), moved.reshape(-1), share.reshape(-1)


def _line_sticks(
    g: torch.Tensor, base: torch.Tensor, wavelength: float, weight: float, monochromator_two_theta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sticks of one wavelength line: (R,) float64 |g| (1/Å) and m |F|^2 (times any preferred-orientation
    factor) of the reflections, the line's wavelength (Å) and weight, and the monochromator's 2theta in
    degrees (negative: none) -> (R,) whether the reflection occurs (2theta < 180), its 2theta in degrees and
    its integrated intensity m |F|^2 LP (0 where it does not occur)."""
    sin_theta = wavelength * g / 2.0
    keep = sin_theta < 1.0
    theta = torch.asin(sin_theta.clamp(max=1.0 - 1e-12))
    cos2t2 = torch.cos(2.0 * theta).square()
    if monochromator_two_theta < 0:
        polarisation = 1.0 + cos2t2
    else:
        cos2m2 = math.cos(math.radians(monochromator_two_theta)) ** 2
        polarisation = (1.0 + cos2m2 * cos2t2) / (1.0 + cos2m2)
    sin_t = torch.sin(theta)
    lorentz_polarisation = polarisation / (sin_t * sin_t * torch.cos(theta))
    intensity = torch.where(keep, weight * base * lorentz_polarisation, 0.0)
    return keep, 2.0 * theta / _RAD, intensity


def _scattering_factors(
    coefficients: torch.Tensor,
    b_iso: torch.Tensor,
    crystal: torch.Tensor,
    s2: torch.Tensor,
    rows: torch.Tensor,
    columns: torch.Tensor,
) -> torch.Tensor:
    """f(s) exp(-B s^2) of reflections for scatterer types of their crystal.

    Args:
        coefficients: (B, K, 9) IT92 coefficients of each crystal's types.
        b_iso: (B, K) their B in Å².
        crystal: (R,) int64 crystal of each reflection.
        s2: (R,) (sin(theta)/lambda)^2 in 1/Å².
        rows: (P,) int64 reflections and columns: (P,) int64 types to evaluate.

    Returns:
        (P,) electrons.
    """
    owner = crystal[rows]
    s2p = s2[rows]
    return form_factors(coefficients[owner, columns], s2p) * torch.exp(-b_iso[owner, columns] * s2p)


# What _check_batch reports, in the order of the columns of _batch_flags.
_BATCH_PROBLEMS = (
    "has no atoms",
    "has a non-finite lattice",
    "has a lattice of zero or negative volume (rows a, b, c must be right-handed)",
    "has non-finite fractional coordinates",
    "has non-finite or negative occupancies",
    "has only zero occupancies",
    "has non-finite B values",
    f"has an atomic number outside 1..{MAX_FORM_FACTOR_Z} (IT92 form factors stop at Cf)",
    "has a space-group number outside 1..230",
)


def _batch_flags(
    lattice: torch.Tensor,
    frac_coords: torch.Tensor,
    occupancies: torch.Tensor,
    b_iso: torch.Tensor,
    numbers: torch.Tensor,
    mask: torch.Tensor,
    space_group: torch.Tensor,
) -> torch.Tensor:
    """(B, len(_BATCH_PROBLEMS)) bool: which problem each crystal of a batch has (tensors of a CrystalBatch,
    detached)."""
    real = mask.any(dim=1)
    rows = lattice.to(torch.float64).unbind(1)
    det = (rows[0] * torch.linalg.cross(rows[1], rows[2])).sum(-1)  # the cell volume, signed
    finite_lattice = torch.isfinite(lattice).all(dim=(1, 2))
    occupancy = torch.where(mask, occupancies, 0.0)
    flags = [
        ~real,
        ~finite_lattice,
        finite_lattice & ~(det > 1e-6),
        ~torch.isfinite(torch.where(mask, frac_coords.sum(-1), 0.0)).all(1),
        ~(torch.isfinite(occupancy).all(1) & (occupancy >= 0).all(1)),
        real & ~(occupancy > 0).any(1),
        ~torch.isfinite(torch.where(mask, b_iso, 0.0)).all(1),
        ((numbers < 1) | (numbers > MAX_FORM_FACTOR_Z)).logical_and(mask).any(1),
        (space_group < 1) | (space_group > 230),
    ]
    return torch.stack(flags, dim=1)


def _check_batch(batch: CrystalBatch, fuse: bool = False) -> None:
    """Raise ValueError naming the first bad entry (one host synchronisation for all checks)."""
    flags = _fused(_batch_flags, fuse)(
        batch.lattice.detach(),
        batch.frac_coords.detach(),
        batch.occupancies.detach(),
        batch.b_iso.detach(),
        batch.numbers,
        batch.mask,
        batch.space_group,
    ).cpu()
    if bool(flags.any()):
        entry, which = (int(v) for v in torch.nonzero(flags)[0])
        raise ValueError(f"crystal {entry} of the batch {_BATCH_PROBLEMS[which]}")


# Reflections of one crystal go into pieces of this many rows; a chunk of the structure-factor sum is a batch
# of pieces, padded to its largest atom count (and the last piece of each crystal to this many rows).
_PIECE_ROWS = 32
# A chunk costs a fixed overhead of about this many (reflection, atom) products in kernel launches; a chunk
# is closed when padding the next crystal to the chunk's atom count would waste more than that and more than
# _CHUNK_WASTE - 1 of the useful work.
_CHUNK_OVERHEAD = 20_000
_CHUNK_WASTE = 1.15


def _chunks(counts: np.ndarray, atoms: np.ndarray, budget: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Plan the padded chunks of the structure-factor sum.

    Crystals are taken by decreasing atom count, their reflections cut into pieces of ``_PIECE_ROWS`` rows,
    and consecutive pieces form a chunk while pieces x rows x the chunk's most atoms stays within ``budget``
    and the padding stays small.

    Args:
        counts: (B,) number of reflections of each crystal (0: not in this sum).
        atoms: (B,) number of atoms of each crystal.
        budget: most padded (reflection, atom) pairs per chunk.

    Returns:
        Per chunk: (C,) int64 crystal of each piece, (C,) int64 first row of each piece within its crystal's
        reflections, and the chunk's atom count.
    """
    rows = _PIECE_ROWS
    chunks: list[tuple[np.ndarray, np.ndarray, int]] = []
    crystals: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    pieces = n_max = useful = 0

    def close() -> None:
        if crystals:
            chunks.append((np.concatenate(crystals), np.concatenate(starts), n_max))
            crystals.clear()
            starts.clear()

    for c in np.argsort(-atoms, kind="stable"):
        n_rows, n = int(counts[c]), int(atoms[c])
        if n_rows == 0:
            continue
        first = np.arange(0, n_rows, rows)
        if crystals:
            padded = (pieces + len(first)) * rows * n_max
            work = useful + n_rows * n
            if padded > budget or padded > max(_CHUNK_WASTE * work, work + _CHUNK_OVERHEAD):
                close()
        if not crystals:
            pieces, n_max, useful = 0, max(n, 1), 0
        # A crystal too large for one chunk is split over several.
        while pieces + len(first) > max(budget // (rows * n_max), 1):
            take = max(budget // (rows * n_max), 1) - pieces
            crystals.append(np.full(take, c, dtype=np.int64))
            starts.append(first[:take])
            first = first[take:]
            close()
            pieces, n_max, useful = 0, max(n, 1), 0
        crystals.append(np.full(len(first), c, dtype=np.int64))
        starts.append(first)
        pieces += len(first)
        useful += n_rows * n
    close()
    return chunks


def _merge_peaks(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    hkl: np.ndarray,
    d: np.ndarray,
    multiplicity: np.ndarray,
    wavelength: np.ndarray,
    line: np.ndarray,
    tolerance: float,
    min_intensity: float,
    hexagonal: bool,
) -> PeakList:
    """Sticks (one per reflection family and line, hkl conventional) -> the PeakList of their peaks."""
    order = np.argsort(two_theta, kind="stable")
    two_theta, intensity, hkl, d, multiplicity, wavelength, line = (
        a[order] for a in (two_theta, intensity, hkl, d, multiplicity, wavelength, line)
    )
    if len(two_theta) == 0:
        empty = np.zeros(0)
        nothing = np.zeros(0, dtype=np.int64)
        return PeakList(
            empty, empty, np.zeros((0, 3), dtype=np.int64), empty, nothing, empty, nothing, (), hexagonal
        )
    # A new peak starts wherever the gap to the previous reflection exceeds the tolerance.
    group = np.concatenate([[0], np.cumsum(np.diff(two_theta) > tolerance)])
    n = int(group[-1]) + 1
    total = np.bincount(group, weights=intensity, minlength=n)
    # Position: intensity-weighted mean of the members; hkl and d: the strongest member's.
    weights = np.where(intensity > 0, intensity, 1e-300)
    position = np.bincount(group, weights=two_theta * weights, minlength=n) / np.bincount(
        group, weights=weights, minlength=n
    )
    strongest = np.lexsort((-intensity, group))
    first = strongest[np.concatenate([[True], group[strongest][1:] != group[strongest][:-1]])]
    # Every family of each peak, strongest first (a family occurs once per line, so once per peak).
    starts = np.searchsorted(group[strongest], np.arange(n))
    families = tuple(np.split(hkl[strongest], starts[1:]))
    mult = np.bincount(group, weights=multiplicity, minlength=n).astype(np.int64)
    top = total.max() if n else 0.0
    scaled = 100.0 * total / top if top > 0 else total
    keep = scaled >= min_intensity
    return PeakList(
        position[keep],
        scaled[keep],
        hkl[first][keep],
        d[first][keep],
        mult[keep],
        wavelength[first][keep],
        line[first][keep],
        tuple(f for f, k in zip(families, keep, strict=True) if k),
        hexagonal,
    )
