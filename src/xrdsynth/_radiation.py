"""X-ray wavelengths: named characteristic lines and the doublets of a laboratory tube.

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

__all__ = ["KALPHA2_RATIO", "WAVELENGTHS", "Radiation", "resolve_wavelength"]

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
