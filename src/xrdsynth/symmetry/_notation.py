"""The xyz notation of the International Tables for operations and coordinate triplets."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

from .._base import TABLES_DENOMINATOR

__all__ = ["format_operation"]



def format_operation(rotation: npt.ArrayLike, translation: npt.ArrayLike) -> str:
    """xyz string of an operation, e.g. ``"-y,x-y,z+1/3"`` or ``"2x,x,1/4"``, as the Tables write them.

    Args:
        rotation: (3, 3) integer matrix; row i holds the coefficients of x, y, z in component i.
        translation: (3,) fractional shifts, written as fractions when they are multiples of 1/24.
    """
    rot = np.asarray(rotation, dtype=np.int64)
    tra = np.asarray(translation, dtype=np.float64)
    parts = []
    for i in range(3):
        text = ""
        for j, axis in enumerate("xyz"):
            coefficient = int(rot[i, j])
            if coefficient == 0:
                continue
            sign = "-" if coefficient < 0 else "+"
            magnitude = "" if abs(coefficient) == 1 else str(abs(coefficient))
            text += f"{sign}{magnitude}{axis}"
        shift = float(tra[i])
        if shift != 0.0:
            fraction = Fraction(shift).limit_denominator(TABLES_DENOMINATOR)
            if abs(float(fraction) - shift) < 1e-12:
                body = f"{abs(fraction.numerator)}/{fraction.denominator}"
                body = body.removesuffix("/1")
            else:
                body = np.format_float_positional(abs(shift), trim="-")
            text += ("-" if shift < 0 else "+") + body
        parts.append(text.lstrip("+") or "0")
    return ",".join(parts)
