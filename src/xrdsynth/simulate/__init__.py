"""Powder diffraction simulation in torch.

:class:`PowderSimulator` turns batches of crystals into powder patterns; :class:`PeakList` is the stick
pattern of one crystal (``PowderSimulator.peaks``). The pure functions underneath (reflections, form factors,
structure factors, profiles, augmentations) live in private modules; the physical conventions are written
in the :class:`PowderSimulator` docstring and in docs/concepts.md.
"""

from ._parameters import PatternParameters
from ._profiles import PROFILES, SCHERRER_K, peak_widths
from ._simulator import PeakList, PowderSimulator
from ._wavelengths import KALPHA2_RATIO, WAVELENGTHS, Radiation, resolve_wavelength

__all__ = [
    "KALPHA2_RATIO",
    "PROFILES",
    "SCHERRER_K",
    "WAVELENGTHS",
    "PatternParameters",
    "PeakList",
    "PowderSimulator",
    "Radiation",
    "peak_widths",
    "resolve_wavelength",
]
