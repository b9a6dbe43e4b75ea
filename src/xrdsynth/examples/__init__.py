"""Example crystal structures shipped with xrdsynth (provenance in each file's header comments).

>>> import xrdsynth as xs
>>> from xrdsynth import examples
>>> xs.Crystal.from_cif(examples.cif_path("quartz")).formula
'O6 Si3'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["cif_path", "names"]

_HERE = Path(__file__).resolve().parent


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
