"""Powder diffraction simulation in torch.

:class:`PowderSimulator` turns batches of crystals into powder patterns; :class:`PeakList` is the stick
pattern of one crystal (``PowderSimulator.peaks``). The physics underneath is public as pure tensor functions
in :mod:`xrdsynth.simulate.functional` (reflections, structure factors, Lorentz–polarisation, texture, peak
shifts, widths and rendering, pattern effects), each with the shapes, dtypes and units of its tensors;
the simulator holds the settings and buffers and calls them. The physical conventions are written in the
:class:`PowderSimulator` docstring and in docs/concepts.md; docs/architecture.md shows where each part lives.
"""

from .._radiation import KALPHA2_RATIO, WAVELENGTHS, Radiation, resolve_wavelength
from . import functional
from ._compile import compilation_failure
from ._parameters import PatternParameters
from ._simulator import PeakList, PowderSimulator
from ._widths import PROFILES, SCHERRER_K, peak_widths

__all__ = [
    "KALPHA2_RATIO",
    "PROFILES",
    "SCHERRER_K",
    "WAVELENGTHS",
    "PatternParameters",
    "PeakList",
    "PowderSimulator",
    "Radiation",
    "compilation_failure",
    "functional",
    "peak_widths",
    "resolve_wavelength",
]
