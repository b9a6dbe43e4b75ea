"""The physics of powder diffraction as pure tensor functions: the public functional layer of the simulator.

Every function takes all it needs as arguments (no settings, no random draws, no state) and documents the
shape, dtype and units of each tensor; :class:`~xrdsynth.PowderSimulator` holds the settings and buffers and
calls these in this order:

1. **Reflections** — :func:`laue_classes` (the Laue class each crystal's atoms really have),
   :func:`limiting_sphere_radius`, :func:`enumerate_reflections` (one hkl per Laue orbit inside the limiting
   sphere, with its multiplicity), :func:`inverse_d_squared` (1/d²).
2. **Structure factors** — :func:`structure_factors_squared` of the atoms prepared by :class:`Atoms`
   (scatterer types, inversion and centring shortcuts that ``symmetry_shortcuts=False`` turns off),
   :func:`form_factors` (IT92), :func:`scattering_factors` (f(s) exp(−B s²)).
3. **Texture** — :func:`march_dollase` (factor per reflection, averaged over its Laue orbit).
4. **Lorentz–polarisation and positions** — :func:`line_sticks` (2θ and ``m|F|²LP`` of one wavelength line),
   :func:`lorentz_polarisation`, Bragg's law (:func:`two_theta_from_d`, :func:`d_from_two_theta`,
   :func:`q_from_two_theta`, :func:`two_theta_from_q`).
5. **Peak shifts** — :func:`peak_shift` (zero shift, specimen displacement), :func:`axial_divergence_sticks`.
6. **Rendering** — :func:`peak_widths` (FWHM and Lorentzian fraction from :class:`Widths`),
   :func:`profile_margins`, :func:`render` (sticks to (B, P) profiles).
7. **Pattern effects** — :func:`chebyshev_background`, :func:`amorphous_hump`, :func:`poisson_noise`,
   :func:`gaussian_noise`.

Conventions: 2θ in degrees, lengths in Å, ``|g|`` = 1/d in 1/Å, crystallite sizes in nm. Reflections of a
batch are one flat list of R rows; ``crystal`` (R,) int64 says which of the B crystals each row belongs to.
Positions are float64 whatever the simulator's dtype (float32 2θ would carry errors of 1e-5°).

Example:
    >>> import torch, xrdsynth as xs
    >>> from xrdsynth.simulate import functional as F
    >>> batch = xs.CrystalBatch.from_crystals([crystal], dtype=torch.float64)
    >>> tables = F.laue_tables()
    >>> g_max = F.limiting_sphere_radius(torch.tensor([90.0], dtype=torch.float64), [1.540593])
    >>> refl = F.enumerate_reflections(batch.lattice, g_max, F.laue_classes(batch, tables), tables)
    >>> g2 = F.inverse_d_squared(refl.hkl.double(), batch.lattice, refl.crystal)
    >>> f2 = F.structure_factors_squared(F.Atoms.of(batch), refl, g2 / 4.0, F.form_factor_table())
    >>> keep, two_theta, intensity = F.line_sticks(g2.sqrt(), refl.multiplicity * f2, 1.540593, 1.0, -1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._radiation import Radiation, d_from_two_theta, q_from_two_theta, two_theta_from_d, two_theta_from_q
from ..structure import CrystalBatch
from ._augment import amorphous_hump, chebyshev_background, gaussian_noise, poisson_noise
from ._compile import fused
from ._form_factors import MAX_FORM_FACTOR_Z, form_factor_table, form_factors
from ._lattice_symmetry import (
    CENTRING_TRANSLATIONS,
    LatticeSymmetry,
    ScattererTypes,
    lattice_symmetry,
    no_lattice_symmetry,
    scatterer_types,
)
from ._profiles import Workspace, render
from ._reflections import (
    CENTRINGS,
    LaueTables,
    Reflections,
    enumerate_reflections,
    inverse_d_squared,
    laue_tables,
    reciprocal_basis,
    reciprocal_metric,
    verified_laue_ids,
)
from ._structure_factor import Atoms, scattering_factors, structure_factors_squared
from ._widths import Widths, peak_widths, profile_margins

__all__ = [
    "AXIAL_SATELLITES",
    "CENTRINGS",
    "CENTRING_TRANSLATIONS",
    "MAX_FORM_FACTOR_Z",
    "RADIAN",
    "Atoms",
    "LatticeSymmetry",
    "LaueTables",
    "Radiation",
    "Reflections",
    "ScattererTypes",
    "Widths",
    "Workspace",
    "amorphous_hump",
    "axial_divergence_sticks",
    "chebyshev_background",
    "d_from_two_theta",
    "enumerate_reflections",
    "form_factor_table",
    "form_factors",
    "gaussian_noise",
    "inverse_d_squared",
    "lattice_symmetry",
    "laue_classes",
    "laue_tables",
    "limiting_sphere_radius",
    "line_sticks",
    "lorentz_polarisation",
    "march_dollase",
    "no_lattice_symmetry",
    "peak_shift",
    "peak_widths",
    "poisson_noise",
    "profile_margins",
    "q_from_two_theta",
    "reciprocal_basis",
    "reciprocal_metric",
    "render",
    "scatterer_types",
    "scattering_factors",
    "sticks",
    "structure_factors_squared",
    "two_theta_from_d",
    "two_theta_from_q",
    "verified_laue_ids",
]

#: One degree in radians.
RADIAN = math.pi / 180.0


def laue_classes(batch: CrystalBatch, tables: LaueTables) -> torch.Tensor:
    """The Laue class of each crystal by which its reflections are merged.

    The class of the crystal's space group where its atoms really have that symmetry
    (:func:`verified_laue_ids`), else the triclinic one; the triclinic one for every crystal when a gradient
    is wanted (a gradient moves one atom or one cell edge at a time, which breaks the symmetry that merged
    h with h R: only Friedel pairs (h, −h) stay equivalent under every change).

    Args:
        batch: B crystals.
        tables: the Laue groups (:func:`laue_tables`) on the batch's device.

    Returns:
        (B,) int64 indices into ``tables``.
    """
    weights = batch.numbers.to(batch.dtype) * batch.occupancies * batch.mask
    laue = verified_laue_ids(
        batch.space_group, batch.lattice, batch.frac_coords.detach(), weights.detach(), tables
    )
    if torch.is_grad_enabled() and any(
        t.requires_grad for t in (batch.lattice, batch.frac_coords, batch.occupancies, batch.b_iso)
    ):
        laue = torch.full_like(laue, tables.triclinic)
    return laue


def limiting_sphere_radius(
    two_theta_max: torch.Tensor, wavelengths: Sequence[float], dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Radius ``|g|max`` = 2 sin(θmax)/λmin of the sphere that holds every reflection up to 2θmax for all
    lines.

    Args:
        two_theta_max: (B,) float64 highest 2θ per pattern in degrees (clamped at 180°).
        wavelengths: the lines in Å (the shortest decides).
        dtype: of the result.

    Returns:
        (B,) radius in 1/Å.
    """
    shortest = min(wavelengths)
    return (2.0 * torch.sin(torch.deg2rad(two_theta_max.clamp(max=180.0)) / 2.0) / shortest).to(dtype)


def lorentz_polarisation(
    two_theta: torch.Tensor, monochromator_two_theta: float | None = None
) -> torch.Tensor:
    """The Lorentz–polarisation factor of a powder in Bragg–Brentano geometry.

    LP = (1 + cos²2θ_M cos²2θ) / ((1 + cos²2θ_M) sin²θ cosθ), or (1 + cos²2θ) / (sin²θ cosθ) for an
    unpolarised beam without monochromator (International Tables Vol. C, 6.2).

    Args:
        two_theta: (*) 2θ in degrees, inside (0, 180).
        monochromator_two_theta: 2θ_M of a monochromator crystal in degrees, or None.

    Returns:
        (*) LP, dimensionless, in the dtype of ``two_theta``.
    """
    theta = torch.deg2rad(two_theta) / 2.0
    cos2t2 = torch.cos(2.0 * theta).square()
    if monochromator_two_theta is None:
        polarisation = 1.0 + cos2t2
    else:
        cos2m2 = math.cos(math.radians(monochromator_two_theta)) ** 2
        polarisation = (1.0 + cos2m2 * cos2t2) / (1.0 + cos2m2)
    sin_t = torch.sin(theta)
    return polarisation / (sin_t * sin_t * torch.cos(theta))


def line_sticks(
    g: torch.Tensor, base: torch.Tensor, wavelength: float, weight: float, monochromator_two_theta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sticks of one wavelength line: Bragg positions and integrated intensities ``m |F|² LP``.

    LP = (1 + cos²2θ_M cos²2θ) / ((1 + cos²2θ_M) sin²θ cosθ) with a monochromator at 2θ_M, and
    (1 + cos²2θ) / (sin²θ cosθ) for an unpolarised beam without one.

    Args:
        g: (R,) float64 ``|g|`` = 1/d of the reflections in 1/Å.
        base: (R,) float64 ``m |F|²`` of the reflections (times any texture factor).
        wavelength: the line's λ in Å.
        weight: the line's intensity relative to the principal line.
        monochromator_two_theta: 2θ_M of the monochromator in degrees; negative: none.

    Returns:
        keep: (R,) bool, the reflection occurs (2θ < 180°); two_theta: (R,) float64 2θ in degrees;
        intensity: (R,) float64 integrated intensity (0 where it does not occur).
    """
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
    lp = polarisation / (sin_t * sin_t * torch.cos(theta))
    intensity = torch.where(keep, weight * base * lp, 0.0)
    return keep, 2.0 * theta / RADIAN, intensity


def sticks(
    reflections: Reflections,
    g2: torch.Tensor,
    f2: torch.Tensor,
    texture: torch.Tensor | None,
    radiation: Radiation,
    monochromator_two_theta: float | None = None,
    extra_lines: Sequence[tuple[float, torch.Tensor]] = (),
    dtype: torch.dtype = torch.float64,
    fuse: bool = False,
) -> list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The sticks of every line of a radiation: :func:`line_sticks` per line.

    Positions are computed in float64 whatever ``dtype``: per reflection it costs nothing, and float32 2θ
    would carry errors of 1e-5° into the profiles.

    Args:
        reflections: (R,) reflections of the batch.
        g2: (R,) float64 1/d² in 1/Å².
        f2: (R,) ``|F|²``.
        texture: (R,) texture factors (:func:`march_dollase`) or None.
        radiation: the lines and their weights.
        monochromator_two_theta: 2θ_M in degrees, or None.
        extra_lines: more lines as (λ in Å, (B,) weight per pattern), e.g. Kβ residue.
        dtype: of the returned 2θ and intensities.
        fuse: compile the per-point stages.

    Returns:
        Per line: (λ in Å, (R,) bool occurs, (R,) 2θ in degrees, (R,) integrated intensity ``m |F|² LP``).
    """
    g = torch.sqrt(g2)
    base = reflections.multiplicity.to(torch.float64) * f2.to(torch.float64)
    if texture is not None:
        base = base * texture.to(torch.float64)
    lines = []
    fuse = fuse and not (g2.requires_grad or base.requires_grad)
    monochromator = -1.0 if monochromator_two_theta is None else float(monochromator_two_theta)
    for wavelength, weight in zip(radiation.wavelengths, radiation.weights, strict=True):
        keep, two_theta, intensity = fused(line_sticks, fuse)(g, base, wavelength, weight, monochromator)
        lines.append((wavelength, keep, two_theta.to(dtype), intensity.to(dtype)))
    for wavelength, weights in extra_lines:
        keep, two_theta, intensity = line_sticks(g, base, float(wavelength), 1.0, monochromator)
        intensity = intensity * weights.to(torch.float64)[reflections.crystal]
        lines.append((float(wavelength), keep, two_theta.to(dtype), intensity.to(dtype)))
    return lines


def peak_shift(
    two_theta: torch.Tensor,
    crystal: torch.Tensor,
    zero_shift: torch.Tensor | None,
    specimen_displacement_mm: torch.Tensor | None,
    goniometer_radius_mm: float,
) -> torch.Tensor:
    """How far each stick moves: a goniometer zero error plus the height error of the specimen surface.

    Δ2θ = zero + (−2 s cosθ / R) in radians, s the displacement and R the goniometer radius.

    Args:
        two_theta: (S,) stick positions in degrees.
        crystal: (S,) int64 pattern of each stick.
        zero_shift: (B,) zero shift per pattern in degrees 2θ, or None.
        specimen_displacement_mm: (B,) displacement per pattern in mm, or None.
        goniometer_radius_mm: R in mm.

    Returns:
        (S,) Δ2θ in degrees, in the dtype of ``two_theta`` (add it to the positions).
    """
    shift = torch.zeros_like(two_theta)
    if zero_shift is not None:
        shift = shift + zero_shift[crystal]
    displacement = specimen_displacement_mm
    if displacement is not None:
        theta = two_theta * (RADIAN / 2.0)
        shift = shift - 2.0 * displacement[crystal] * torch.cos(theta) / goniometer_radius_mm / RADIAN
    return shift


def march_dollase(
    lattice: torch.Tensor, refl: Reflections, r: torch.Tensor, axes: torch.Tensor, tables: LaueTables
) -> torch.Tensor:
    """March–Dollase preferred-orientation factor of each reflection, averaged over its Laue orbit.

    P(α) = (r² cos²α + sin²α / r)^(−3/2), α the angle between the reflection's normal and the orientation
    direction; the equivalent reflections of one orbit have different angles, so their mean is taken.
    Patterns with r = 1 (a random powder) have factor 1 exactly.

    Args:
        lattice: (B, 3, 3) Å, rows a, b, c.
        refl: (R,) reflections of the batch.
        r: (B,) March–Dollase parameter per pattern (< 1 platelets, > 1 needles).
        axes: (B, 3) orientation direction per pattern as a reciprocal-lattice vector hkl, in lattice's dtype.
        tables: the Laue groups (:func:`laue_tables`).

    Returns:
        (R,) factor, dimensionless, in the lattice's dtype.
    """
    dtype = lattice.dtype
    reciprocal = reciprocal_basis(lattice)  # rows a*, b*, c*
    normal = torch.einsum("bi,bij->bj", axes, reciprocal)
    normal = normal / normal.norm(dim=1, keepdim=True)
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
    valid = torch.arange(48, device=lattice.device) < tables.count[laue].unsqueeze(1)
    mean = (factor * valid).sum(1) / valid.sum(1)
    if every:
        return mean
    ones = torch.ones(len(refl.crystal), dtype=mean.dtype, device=mean.device)
    return ones.index_put((textured,), mean)


# Satellite sticks per reflection that stand for the axial-divergence tail, and where they sit as fractions
# of the tail's extent: squares, so that most of the intensity stays near the peak, as in the FCJ profile.
AXIAL_SATELLITES = 4
_AXIAL_FRACTIONS = tuple(((k + 0.5) / AXIAL_SATELLITES) ** 2 for k in range(AXIAL_SATELLITES))
# The tail's extent is capped (degrees 2θ): cot 2θ diverges at the lowest angles.
_AXIAL_MAX_EXTENT = 2.0


def axial_divergence_sticks(
    pattern: torch.Tensor, position: torch.Tensor, area: torch.Tensor, ratio: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sticks with the asymmetry that axial divergence gives a Bragg–Brentano peak.

    After Finger, Cox & Jephcoat (J. Appl. Cryst. 27, 892, 1994), a reflection at 2θ spreads towards the
    angle 2φ_min with cos 2φ_min = cos 2θ √(1 + a²), a = (S + H)/L the sample and detector heights over the
    goniometer radius: an extent Δ ≈ (a²/2) cot 2θ radians, towards lower angles below 90° and higher ones
    above. Each stick becomes :data:`AXIAL_SATELLITES` sticks of equal share at fractions (k + ½)²/K² of Δ
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
    share = (area / AXIAL_SATELLITES).unsqueeze(1).expand(-1, AXIAL_SATELLITES)
    return pattern.repeat_interleave(AXIAL_SATELLITES), moved.reshape(-1), share.reshape(-1)
