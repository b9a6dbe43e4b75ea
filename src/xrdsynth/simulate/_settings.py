"""Checks of the simulator's settings and input: parameter ranges, the 2θ grid, crystal batches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._base import NUM_SPACE_GROUPS, check_range
from .._radiation import two_theta_from_q
from ..structure import Crystal, CrystalBatch
from ._compile import fused
from ._form_factors import MAX_FORM_FACTOR_Z

__all__ = [
    "Setting",
    "as_batch",
    "check_batch",
    "check_caglioti",
    "check_monochromator",
    "check_orientation_hkl",
    "draw_uniform",
    "fixed_value",
    "make_grid",
    "optional_range",
    "seeded_generator",
]

#: A per-pattern setting: None (off) or a checked (low, high) range, equal for a fixed value.
Setting = tuple[float, float] | None


def optional_range(
    name: str, value: Any, low: float, high: float = math.inf, allow_low: bool = False
) -> Setting:
    """None (the effect is off) or ``value`` checked as a number or (low, high) pair inside the bounds (the
    lower one open unless ``allow_low``; see :func:`xrdsynth._base.check_range`)."""
    if value is None:
        return None
    return check_range(name, value, low, high, open_low=not allow_low)


def fixed_value(value: Setting) -> float | None:
    """The value of a per-pattern parameter when it is fixed (low == high), else None (off, or a range)."""
    if value is None:
        return None
    low, high = value  # type: ignore[misc]
    return float(low) if low == high else None


def make_grid(kind: str, spec: Any, wavelength: float) -> torch.Tensor:
    """The simulator's (P,) float64 2θ grid in degrees from its ``two_theta`` or ``q`` argument.

    Args:
        kind: "two_theta" (``spec`` in degrees) or "q" (``spec`` in 1/Å, converted with ``wavelength``).
        spec: ``(start, stop, num)`` for ``torch.linspace`` or an increasing 1-D array.
        wavelength: the principal line in Å.

    Raises:
        ValueError: a malformed grid, or one outside (0, 180) degrees.
    """
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
            if isinstance(spec, torch.Tensor):  # numpy's conversion of a tensor warns (its __array__)
                values = spec.detach().to("cpu", torch.float64).clone()
            else:
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
        sin_theta = values * wavelength / (4.0 * math.pi)
        if values[0] <= 0 or sin_theta[-1] >= 1:
            limit = 4.0 * math.pi / wavelength
            raise ValueError(f"q grid must lie in (0, {limit:.4f}) 1/Å for λ = {wavelength} Å")
        values = two_theta_from_q(values, wavelength)
    elif values[0] <= 0 or values[-1] >= 180:
        raise ValueError(
            f"two_theta grid must lie inside (0, 180) degrees, got {float(values[0])}..{float(values[-1])}"
        )
    return values


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
    f"has a space-group number outside 1..{NUM_SPACE_GROUPS}",
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
    has_atoms = mask.any(dim=1)
    rows = lattice.to(torch.float64).unbind(1)
    det = (rows[0] * torch.linalg.cross(rows[1], rows[2])).sum(-1)  # the cell volume, signed
    finite_lattice = torch.isfinite(lattice).all(dim=(1, 2))
    occupancy = torch.where(mask, occupancies, 0.0)
    flags = [
        ~has_atoms,
        ~finite_lattice,
        finite_lattice & ~(det > 1e-6),
        ~torch.isfinite(torch.where(mask, frac_coords.sum(-1), 0.0)).all(1),
        ~(torch.isfinite(occupancy).all(1) & (occupancy >= 0).all(1)),
        has_atoms & ~(occupancy > 0).any(1),
        ~torch.isfinite(torch.where(mask, b_iso, 0.0)).all(1),
        ((numbers < 1) | (numbers > MAX_FORM_FACTOR_Z)).logical_and(mask).any(1),
        (space_group < 1) | (space_group > NUM_SPACE_GROUPS),
    ]
    return torch.stack(flags, dim=1)


def check_batch(batch: CrystalBatch, fuse: bool = False) -> None:
    """Raise ValueError naming the first bad entry (one host synchronisation for all checks)."""
    flags = fused(_batch_flags, fuse)(
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


def draw_uniform(
    spec: Setting, n: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> torch.Tensor | None:
    """(n,) values uniform in ``spec = (low, high)`` (all equal to low when low == high), or None when the
    setting is off. One ``torch.rand`` of n values from ``generator`` (also for a fixed value, so that the
    draws after it do not depend on whether a setting is fixed)."""
    if spec is None:
        return None
    lo, hi = spec
    u = torch.rand(n, generator=generator, dtype=dtype, device=device)
    return lo + (hi - lo) * u


def as_batch(
    crystals: CrystalBatch | Crystal | Sequence[Crystal], device: torch.device, dtype: torch.dtype, fuse: bool
) -> CrystalBatch:
    """The simulator's input as a checked CrystalBatch on ``device`` in ``dtype``.

    Raises:
        ValueError: no crystals, an entry that is not a Crystal, or an invalid crystal (:func:`check_batch`).
    """
    if isinstance(crystals, Crystal):
        crystals = [crystals]
    if isinstance(crystals, CrystalBatch):
        batch = crystals.to(device=device, dtype=dtype)
    else:
        crystals = list(crystals)
        if not crystals:
            raise ValueError("no crystals given")
        for k, crystal in enumerate(crystals):
            if not isinstance(crystal, Crystal):
                raise ValueError(f"entry {k} is a {type(crystal).__name__}, not a Crystal")
        batch = CrystalBatch.from_crystals(crystals, device=device, dtype=dtype)
    check_batch(batch, fuse)
    return batch


def check_caglioti(caglioti: Any) -> tuple[float, float, float] | None:
    """None, or (U, V, W) in degrees² as three finite floats."""
    if caglioti is None:
        return None
    values = tuple(float(v) for v in caglioti)
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"caglioti must be three finite numbers (U, V, W) in degrees², got {values}")
    return values  # type: ignore[return-value]


def check_monochromator(two_theta: float | None) -> float | None:
    """None (no monochromator), or its 2θ in degrees, in [0, 180); returned as given."""
    if two_theta is not None and not 0.0 <= float(two_theta) < 180.0:
        raise ValueError(f"monochromator_two_theta must be in [0, 180) degrees, got {two_theta}")
    return two_theta


def check_orientation_hkl(hkl: Any) -> tuple[int, int, int] | None:
    """None (drawn per pattern), or three integers, not all 0."""
    if hkl is None:
        return None
    values = tuple(int(v) for v in hkl)
    if len(values) != 3 or values == (0, 0, 0):
        raise ValueError(f"preferred_orientation_hkl must be three integers, not all 0, got {values}")
    return values  # type: ignore[return-value]


def seeded_generator(seed: int | torch.Generator | None, device: torch.device) -> torch.Generator:
    """A generator on ``device``: ``seed`` itself when it is one (it must be on ``device``), else a new one
    seeded with the int, or nondeterministically for None."""
    if isinstance(seed, torch.Generator):
        if seed.device != device:
            raise ValueError(f"seed generator is on {seed.device}, the simulator on {device}")
        return seed
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator
