"""Reading structure files and measured powder patterns.

CIF files are read with :meth:`xrdsynth.Crystal.from_cif` (or the thin functions here). gemmi parses the
syntax; the crystallography is done by xrdsynth:

- element and formal charge from ``_atom_site_type_symbol`` ("Fe3+", "O2-", "D" is hydrogen), else from
  the site label ("Fe1A"); water sites labelled "Wat…" but typed "W" (a known conversion error) are oxygen;
- occupancy default 1; zero-occupancy and dummy sites are left out; partial and mixed sites are kept, one
  atom per element;
- B from ``B_iso_or_equiv``, else 8π²·``U_iso_or_equiv``, else 8π²·U_eq of the anisotropic tensor, else 0;
- symmetry operations from the file (else generated from the Hall or H-M symbol or the IT number); they must
  form a group; images on special positions are merged (within 3e-3 Å, or within 0.05 Å when their summed
  occupancy would exceed 1);
- space group: the IT number, else the group of the operations, else the symbol.

Every problem raises :class:`xrdsynth.CIFError` (a ValueError) naming the file.

Measured powder patterns are read with :func:`read_pattern` into a :class:`MeasuredPattern` (2θ in degrees,
strictly increasing; intensities as stored; σ, the wavelength or Kα1/Kα2 doublet, and metadata where the file
has them). Formats: two-column text (.xy, .xye with σ, .csv, .txt, .dat; comma, semicolon, tab or space
separated; header and comment lines skipped, a stated wavelength read), RRUFF text (``##KEY=value`` headers),
PANalytical .xrdml (any schema version) and Bruker .raw version 4; the reader is picked from the content.
Problems raise :class:`PatternFileError` (a ValueError) naming the file and line.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._patterns import MeasuredPattern, PatternFileError, read_pattern

if TYPE_CHECKING:
    from ..structure import Crystal

__all__ = ["MeasuredPattern", "PatternFileError", "read_all_cif", "read_cif", "read_pattern", "write_cif"]


def read_cif(path: str | os.PathLike[str], block: str | None = None) -> Crystal:
    """The first structure of a CIF file; same as :meth:`xrdsynth.Crystal.from_cif`."""
    from ..structure import Crystal  # imported here: structure imports this package's parser

    return Crystal.from_cif(path, block=block)


def read_all_cif(path: str | os.PathLike[str]) -> list[Crystal]:
    """Every structure of a CIF file; same as :meth:`xrdsynth.Crystal.read_all`."""
    from ..structure import Crystal

    return Crystal.read_all(path)


def write_cif(crystal: Crystal, path: str | os.PathLike[str], name: str | None = None) -> None:
    """Write ``crystal.to_cif(name)`` to ``path`` (UTF-8)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(crystal.to_cif(name))
