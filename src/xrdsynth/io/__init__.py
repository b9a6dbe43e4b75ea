"""Reading structure files and measured powder patterns.

CIF files are read with :meth:`xrdsynth.Crystal.from_cif` (and :meth:`~xrdsynth.Crystal.read_all`); gemmi
parses the syntax; the crystallography is done by xrdsynth:

- element and formal charge from ``_atom_site_type_symbol`` ("Fe3+", "O2-", "D" is hydrogen), else from
  the site label ("Fe1A"); water sites labelled "Wat…" but typed "W" (a known conversion error) are oxygen;
- occupancy default 1; zero-occupancy and dummy sites are left out; partial and mixed sites are kept, one
  atom per element;
- B from ``B_iso_or_equiv``, else 8π²·``U_iso_or_equiv``, else 8π²·U_eq of the anisotropic tensor, else 0;
- symmetry operations from the file (else generated from the Hall or H-M symbol or the IT number); they must
  form a group; images on special positions are merged (within 3e-3 Å, or within 0.05 Å when their summed
  occupancy would exceed 1);
- space group: the IT number, else the group of the operations, else the symbol.

Every problem raises :class:`xrdsynth.CIFError` (a ValueError) naming the file. Below the Crystal level,
:func:`parse_cif_text` turns CIF text into :class:`ParsedStructure` arrays and :func:`format_cif` arrays into
CIF text; :mod:`xrdsynth.structure` builds its Crystals on these. io sits below structure and never imports
it: :func:`write_cif` only calls ``crystal.to_cif``.

Measured powder patterns are read with :func:`read_pattern` (one scan) or :func:`read_all_patterns` (every
scan of a multi-range file) into a :class:`MeasuredPattern`: 2θ in degrees, strictly increasing; intensities
as stored; σ, the wavelength or Kα1/Kα2 doublet and its ratio, the scan type, the counting time and other
metadata where the file states them. The reader is picked from the content: PANalytical .xrdml, Bruker RAW
v1-v4 and .brml, Rigaku .rasx, .ras and .asc, STOE .raw, GSAS (constant wavelength), Bruker/Siemens UXD,
Sietronics .cpi, Philips .udf and PC-APD .rd/.sd, RRUFF, and text columns (.xy, .xye, .csv, .txt, .dat). A
file whose x is not 2θ in degrees is converted when the conversion is certain (centidegrees, Q or d with a
stated wavelength) and refused otherwise (time of flight, energy-dispersive). :func:`write_pattern` writes a
pattern as two-column text that reads back the same; :func:`write_xy` writes a simulated pattern as ``.xy``
text under header lines. Problems raise :class:`PatternFileError` (a ValueError) naming the file and what is
wrong.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._cif import ParsedStructure, parse_cif_text, read_cif_text
from ._cif_write import format_cif
from ._pattern_write import write_pattern, write_xy
from ._patterns import MeasuredPattern, PatternFileError, read_all_patterns, read_pattern

if TYPE_CHECKING:
    from ..structure import Crystal

__all__ = [
    "MeasuredPattern",
    "ParsedStructure",
    "PatternFileError",
    "format_cif",
    "parse_cif_text",
    "read_all_patterns",
    "read_cif_text",
    "read_pattern",
    "write_cif",
    "write_pattern",
    "write_xy",
]


def write_cif(crystal: Crystal, path: str | os.PathLike[str], name: str | None = None) -> None:
    """Write ``crystal.to_cif(name)`` to ``path`` (UTF-8)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(crystal.to_cif(name))
