"""xrdsynth: synthetic crystals for all 230 space groups and batched powder X-ray diffraction in torch.

``xs.plot`` (figures; its functions need matplotlib) is imported on first use, like ``import xrdsynth.plot``.
"""

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    """``xs.plot``: the plotting module, imported when first used."""
    if name == "plot":
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "plot"])
