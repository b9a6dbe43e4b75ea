"""Example crystal structures and measured powder patterns shipped with xrdsynth.

Structures (provenance in each file's header comments) by name with :func:`names` and :func:`cif_path`;
measured laboratory patterns (Cu Kα, from the MIT-licensed XRed dataset; provenance in
``examples/measured/README.md``) with :func:`measured_names`, :func:`measured_path` and the space group of
each sample, :func:`measured_space_group`. The pattern files state no wavelength: pass ``"CuKa1"``.

>>> import xrdsynth as xs
>>> from xrdsynth import examples
>>> xs.Crystal.from_cif(examples.cif_path("quartz")).formula
'O6 Si3'
>>> pattern = xs.io.read_pattern(examples.measured_path("PbSO4"))   # 2θ 10-160°, counts
>>> examples.measured_space_group("PbSO4")
62
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["cif_path", "measured_names", "measured_path", "measured_space_group", "names"]

_HERE = Path(__file__).resolve().parent
_MEASURED = _HERE / "measured"
# Space group of each measured sample (international number), from the structure of its phase (see the
# README next to the files: anglesite COD 1528837, greenockite COD 1011054).
_MEASURED_SPACE_GROUPS = {"CdS": 186, "PbSO4": 62}


def names() -> list[str]:
    """Names of the bundled example structures, sorted (e.g. ``["pyrite", "quartz", "rutile"]``)."""
    return sorted(p.stem for p in _HERE.glob("*.cif"))


def cif_path(name: str = "quartz") -> Path:
    """Path of a bundled example CIF.

    Raises:
        ValueError: ``name`` is not one of :func:`names`.
    """
    path = _HERE / f"{name}.cif"
    if not path.is_file():
        raise ValueError(f"no example structure {name!r}; available: {', '.join(names())}")
    return path


def measured_names() -> list[str]:
    """Names of the bundled measured patterns, sorted: ``["CdS", "PbSO4"]``."""
    return sorted(_MEASURED_SPACE_GROUPS)


def measured_path(name: str = "PbSO4") -> Path:
    """Path of a bundled measured pattern (two-column CSV, 2θ in degrees and counts, Cu Kα radiation).

    Read it with :func:`xrdsynth.io.read_pattern`; the file states no wavelength, so give ``"CuKa1"`` to a
    classifier.

    Raises:
        ValueError: ``name`` is not one of :func:`measured_names`.
    """
    if name not in _MEASURED_SPACE_GROUPS:
        raise ValueError(f"no measured example {name!r}; available: {', '.join(measured_names())}")
    return _MEASURED / f"{name}.csv"


def measured_space_group(name: str) -> int:
    """International space-group number (1..230) of the sample of a bundled measured pattern.

    Raises:
        ValueError: ``name`` is not one of :func:`measured_names`.
    """
    if name not in _MEASURED_SPACE_GROUPS:
        raise ValueError(f"no measured example {name!r}; available: {', '.join(measured_names())}")
    return _MEASURED_SPACE_GROUPS[name]
