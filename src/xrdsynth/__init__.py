"""xrdsynth: synthetic crystals for all 230 space groups and batched powder X-ray diffraction in torch."""

from . import data, io, models, sampler, simulate, symmetry, transforms
from ._errors import CIFError
from ._version import __version__
from .sampler import SpaceGroupSampler
from .simulate import PeakList, PowderSimulator
from .structure import Crystal, CrystalBatch

__all__ = [
    "CIFError",
    "Crystal",
    "CrystalBatch",
    "PeakList",
    "PowderSimulator",
    "SpaceGroupSampler",
    "__version__",
    "data",
    "io",
    "models",
    "sampler",
    "simulate",
    "symmetry",
    "transforms",
]
