"""Atomic X-ray form factors from the IT92 coefficients that gemmi ships.

f0(s) = sum_i a_i exp(-b_i s^2) + c with s = sin(theta)/lambda in 1/Å (International Tables Vol. C,
Table 6.1.1.4, 1992). gemmi carries the coefficients of the neutral atoms H..Cf (Z = 1..98) and, in the
versions we support, no ions: an ion is scattered as its neutral element (the difference is confined to low
angles, s < 0.2/Å, and is what pymatgen does as well). Anomalous dispersion (f', f'') is not included.
"""

from __future__ import annotations

import functools

import gemmi
import numpy as np
import torch

__all__ = ["MAX_FORM_FACTOR_Z", "form_factor_table", "form_factors"]

#: Highest atomic number with IT92 coefficients (californium).
MAX_FORM_FACTOR_Z = 98


@functools.cache
def _table() -> np.ndarray:
    """(MAX_FORM_FACTOR_Z + 1, 9) float64 rows a1..a4, b1..b4, c; row 0 is zero (padding scatters nothing)."""
    table = np.zeros((MAX_FORM_FACTOR_Z + 1, 9))
    for z in range(1, MAX_FORM_FACTOR_Z + 1):
        coef = gemmi.Element(z).it92
        if coef is None:  # pragma: no cover - depends on gemmi's build
            raise RuntimeError(f"gemmi has no IT92 coefficients for Z = {z}")
        table[z] = coef.get_coefs()
    table.flags.writeable = False
    return table


def form_factor_table(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """IT92 coefficients by atomic number.

    Returns:
        (99, 9) tensor: row Z holds a1..a4, b1..b4 (Å²), c; row 0 (padding) is all zero.
    """
    return torch.tensor(_table(), device=device, dtype=dtype)


def form_factors(coefficients: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """Evaluate f0 for rows of IT92 coefficients.

    Args:
        coefficients: (..., 9) a1..a4, b1..b4, c.
        s2: tensor broadcastable with ``coefficients[..., 0]``: (sin(theta)/lambda)^2 in 1/Å².

    Returns:
        f0 in electrons, shape of the broadcast.
    """
    a, b, c = coefficients[..., 0:4], coefficients[..., 4:8], coefficients[..., 8]
    return (a * torch.exp(-b * s2.unsqueeze(-1))).sum(-1) + c
