"""Checks and constants shared by every package: the bottom layer (this module imports nothing from xrdsynth).

One function per check, so that a setting is validated the same way, with the same message, wherever it is
taken: the (low, high) ranges of per-pattern parameters (simulator and transforms alike), space-group numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "AMORPHOUS_HUMP_D_SPACING",
    "AMORPHOUS_HUMP_FWHM",
    "DEFAULT_TWO_THETA",
    "NUM_SPACE_GROUPS",
    "SAME_POSITION_TOLERANCE",
    "TABLES_DENOMINATOR",
    "Range",
    "check_range",
    "check_space_group_number",
    "float_vector",
    "is_space_group_number",
]

#: The number of crystallographic space groups in three dimensions (international numbers 1..230).
NUM_SPACE_GROUPS = 230

#: Translations of the space-group operations and the special coordinates of the International Tables are
#: multiples of 1/TABLES_DENOMINATOR (thirds, quarters, sixths, eighths: 1/24 holds them all).
TABLES_DENOMINATOR = 24

#: Å: images of one site closer than this are the same atom (coordinates with 4-5 decimals reach ~1e-3 Å);
#: CIF reading merges them, Crystal's symmetry analysis groups them.
SAME_POSITION_TOLERANCE = 3e-3

#: Range (Å) of the d-spacing at the centre of the amorphous hump (simulator and transforms): around where
#: the main halo of silicate glass (≈ 4.1 Å, 2θ ≈ 21.5° with Cu Kα1; a glass holder) and of amorphous
#: polymers (interchain distances, 4–5 Å) lie, with a margin either side.
AMORPHOUS_HUMP_D_SPACING = (3.0, 6.0)
#: Range of the hump's FWHM in degrees 2θ: an amorphous halo spans several degrees, far broader than the
#: crystalline peaks (tenths of a degree for crystallites of 20 nm and more), so it reads as background.
AMORPHOUS_HUMP_FWHM = (5.0, 15.0)

#: The default 2θ grid (first, last, number of points) of the simulator, the command line, the presets and
#: InputSpec: 5–90° in 0.01° steps, the range and step of a routine laboratory scan.
DEFAULT_TWO_THETA = (5.0, 90.0, 8501)

#: A checked parameter range: (low, high), equal for a fixed value.
Range = tuple[float, float]


def check_range(
    name: str,
    value: float | Sequence[float],
    low: float = -math.inf,
    high: float = math.inf,
    open_low: bool = False,
) -> Range:
    """A (low, high) range from a number (a fixed value) or a pair, checked to lie inside [low, high]
    (or (low, high] with ``open_low``).

    Raises:
        ValueError: not a number or a pair of finite numbers with low <= high, or outside the bounds; the
            message names ``name``.
    """
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        pair: tuple[float, ...] = (float(value), float(value))
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
    if lo < low or hi > high or (open_low and lo <= low):
        raise ValueError(f"{name} must lie in {'(' if open_low else '['}{low}, {high}], got {value!r}")
    return (lo, hi)


def is_space_group_number(number: object) -> bool:
    """Whether ``number`` is an integer (not a bool) in 1..230."""
    return (
        isinstance(number, (int, np.integer))
        and not isinstance(number, bool)
        and 1 <= int(number) <= NUM_SPACE_GROUPS
    )


def check_space_group_number(number: object, name: str = "space_group") -> int:
    """``number`` as an int in 1..230.

    Raises:
        ValueError: not an integer in 1..230 (the message names ``name``).
    """
    if not is_space_group_number(number):
        raise ValueError(f"{name} must be an integer in 1..{NUM_SPACE_GROUPS}, got {number!r}")
    return int(number)  # type: ignore[call-overload]


def float_vector(value: Any, name: str, n: int | None = None) -> npt.NDArray[np.float64]:
    """A fresh float64 1-D copy of ``value`` (numpy, list or torch tensor); ValueError names ``name``."""
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of numbers") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name} must have {n} values to match two_theta, got {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        i = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} has a non-finite value at point {i + 1} ({array[i]})")
    return array
