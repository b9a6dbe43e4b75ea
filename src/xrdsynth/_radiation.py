"""X-ray wavelengths (named characteristic lines, the doublets of a laboratory tube) and Bragg's law.

Part of the bottom layer: this module imports nothing from xrdsynth, so every package may use it.

Values are the Kα1/Kα2 wavelengths of Hölzer et al., Phys. Rev. A 56, 4554 (1997), as tabulated in the
International Tables Vol. C, Table 4.2.2.1, in Å. Other codes use older values: pymatgen's XRDCalculator takes
Cu Kα1 = 1.54056 Å, 3.3e-5 Å shorter, which puts its peaks lower by Δ2θ = 2 tanθ Δλ/λ (2.4e-3° at 2θ = 90°,
1.9e-3° at 2θ = 75°); compare with such codes at the same wavelength in Å. ``"CuKa"`` (without the 1 or 2)
means the unresolved doublet: Kα1 and Kα2 with the intensity ratio Kα2/Kα1 = 0.5 that a tube without a
monochromator gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import torch

__all__ = [
    "KALPHA2_OF_KALPHA1",
    "KALPHA2_RATIO",
    "KBETA_OF_KALPHA1",
    "K_BETA",
    "WAVELENGTHS",
    "Radiation",
    "d_from_two_theta",
    "q_from_two_theta",
    "resolve_wavelength",
    "two_theta_at_wavelength",
    "two_theta_from_d",
    "two_theta_from_q",
]

ArrayLike = TypeVar("ArrayLike", float, np.ndarray, torch.Tensor)

#: Kα1 and Kα2 wavelengths in Å by anode element.
_K_ALPHA = {
    "Cu": (1.540593, 1.544414),
    "Mo": (0.709319, 0.713609),
    "Co": (1.788996, 1.792835),
    "Cr": (2.289760, 2.293663),
    "Fe": (1.936042, 1.939980),
    "Ag": (0.559421, 0.563813),
}

#: Intensity of Kα2 relative to Kα1 in the doublet (2:1 from the 2p3/2 : 2p1/2 occupation).
KALPHA2_RATIO = 0.5

#: The Kα2 wavelength of each tube's Kα1 (Å, rounded to 1e-6 Å), for stripping the Kα2 line.
KALPHA2_OF_KALPHA1: dict[float, float] = {ka1: ka2 for ka1, ka2 in _K_ALPHA.values()}

#: Kβ1,3 wavelengths in Å by anode element (to 4-5 digits; a residue line behind a filter only needs its
#: approximate place).
K_BETA = {"Cu": 1.39222, "Mo": 0.63229, "Co": 1.62079, "Cr": 2.08487, "Fe": 1.75661, "Ag": 0.49708}

#: The Kβ wavelength of each tube's Kα1 (Å, rounded to 1e-6 Å), for finding and stripping a Kβ residue.
KBETA_OF_KALPHA1: dict[float, float] = {_K_ALPHA[anode][0]: kb for anode, kb in K_BETA.items()}

#: Every named single line, e.g. ``WAVELENGTHS["CuKa1"] == 1.540593`` (Å).
WAVELENGTHS: dict[str, float] = {}
for _anode, (_ka1, _ka2) in _K_ALPHA.items():
    WAVELENGTHS[f"{_anode}Ka1"] = _ka1
    WAVELENGTHS[f"{_anode}Ka2"] = _ka2


@dataclass(frozen=True)
class Radiation:
    """The lines a pattern is made of.

    Attributes:
        name: what the user asked for, e.g. ``"CuKa"`` or ``"1.5406"``.
        wavelengths: line wavelengths in Å, the principal (strongest) line first.
        weights: relative intensity of each line, 1.0 for the principal one.
    """

    name: str
    wavelengths: tuple[float, ...]
    weights: tuple[float, ...]

    @property
    def wavelength(self) -> float:
        """The principal line in Å (the one peak positions and a Q grid refer to)."""
        return self.wavelengths[0]


def resolve_wavelength(spec: str | float) -> Radiation:
    """Turn a wavelength specification into its lines.

    Args:
        spec: a wavelength in Å (> 0: a number or a numeric string such as ``"1.5406"``, as on the command
            line), or a name: ``"CuKa1"``, ``"MoKa2"``, ... (one line) or ``"CuKa"``, ``"MoKa"``, ... (the
            Kα1 + Kα2 doublet at 2:1). Names are case-insensitive.

    Raises:
        ValueError: a non-positive or non-finite number, or an unknown name.
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        try:
            number = float(key)
        except ValueError:
            pass
        else:
            return resolve_wavelength(number)
        for name, value in WAVELENGTHS.items():
            if name.lower() == key:
                return Radiation(name, (value,), (1.0,))
        for anode, (ka1, ka2) in _K_ALPHA.items():
            if f"{anode}ka".lower() == key:
                return Radiation(f"{anode}Ka", (ka1, ka2), (1.0, KALPHA2_RATIO))
        known = ", ".join([*WAVELENGTHS, *(f"{a}Ka" for a in _K_ALPHA)])
        raise ValueError(f"unknown wavelength {spec!r}; give a number in Å or one of {known}")
    if isinstance(spec, bool):
        raise ValueError(f"wavelength must be a number in Å or a line name, got {spec!r}")
    try:
        value = float(spec)
    except (TypeError, ValueError):
        raise ValueError(f"wavelength must be a number in Å or a line name, got {spec!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"wavelength must be a positive number of Å, got {spec!r}")
    return Radiation(f"{value:g}", (value,), (1.0,))


def _backend(x: ArrayLike):  # type: ignore[no-untyped-def]
    """The array namespace of ``x``: torch for tensors, numpy otherwise (floats included)."""
    return torch if isinstance(x, torch.Tensor) else np


def two_theta_from_d(d: ArrayLike, wavelength: float) -> ArrayLike:
    """Bragg's law λ = 2d sinθ solved for 2θ.

    Args:
        d: d-spacings in Å (any shape; a float, numpy array or tensor).
        wavelength: λ in Å.

    Returns:
        2θ in degrees, same shape and kind as ``d``; NaN where λ/2d > 1 (no reflection).
    """
    xp = _backend(d)
    return 2.0 * xp.rad2deg(xp.arcsin(wavelength / (2.0 * d)))  # type: ignore[no-any-return]


def d_from_two_theta(two_theta: ArrayLike, wavelength: float) -> ArrayLike:
    """Bragg's law solved for d: d = λ / (2 sinθ), Å, for 2θ in degrees (same shape and kind)."""
    xp = _backend(two_theta)
    return wavelength / (2.0 * xp.sin(xp.deg2rad(two_theta) / 2.0))  # type: ignore[no-any-return]


def q_from_two_theta(two_theta: ArrayLike, wavelength: float) -> ArrayLike:
    """Q = 4π sinθ / λ in 1/Å for 2θ in degrees and λ in Å (same shape and kind)."""
    xp = _backend(two_theta)
    return 4.0 * math.pi * xp.sin(xp.deg2rad(two_theta) / 2.0) / wavelength  # type: ignore[no-any-return]


def two_theta_from_q(q: ArrayLike, wavelength: float) -> ArrayLike:
    """2θ in degrees for Q = 4π sinθ / λ in 1/Å and λ in Å (same shape and kind; NaN beyond 4π/λ)."""
    xp = _backend(q)
    return 2.0 * xp.rad2deg(xp.arcsin(q * wavelength / (4.0 * math.pi)))  # type: ignore[no-any-return]


def two_theta_at_wavelength(
    two_theta: npt.NDArray[np.float64], wavelength: float, new_wavelength: float
) -> npt.NDArray[np.float64]:
    """2θ of the same d-spacings at another wavelength (degrees; 180 where the new wavelength cannot reach
    them).

    Args:
        two_theta: (*) float64 2θ in degrees at ``wavelength``.
        wavelength: λ of ``two_theta`` in Å.
        new_wavelength: λ in Å to convert to.
    """
    sine = new_wavelength / wavelength * np.sin(np.radians(two_theta) / 2.0)
    return 2.0 * np.degrees(np.arcsin(np.minimum(sine, 1.0)))  # type: ignore[no-any-return]
