"""Space groups and Wyckoff positions in spglib's default settings.

``SpaceGroup(n)`` gives the operations of group n (1..230) in the setting spglib uses by default for that
number; ``SpaceGroup(n).wyckoff_positions`` are derived from those operations (see
:mod:`xrdsynth.symmetry._wyckoff` for the method) and named with spglib's Wyckoff letters and oriented
site-symmetry symbols.
"""

from ._analysis import WyckoffSite, find_wyckoff_sites
from ._enantiomorphs import ENANTIOMORPHIC_PAIRS, enantiomorph
from ._notation import format_operation
from ._spacegroup import (
    CRYSTAL_SYSTEM_OF_GROUP,
    CRYSTAL_SYSTEMS,
    LATTICE_SYSTEMS,
    Operations,
    SpaceGroup,
    crystal_system,
    lattice_system,
    space_group_number,
)
from ._wyckoff import WyckoffPosition, generic_lattice, generic_parameters, wyckoff_positions

__all__ = [
    "CRYSTAL_SYSTEMS",
    "CRYSTAL_SYSTEM_OF_GROUP",
    "ENANTIOMORPHIC_PAIRS",
    "LATTICE_SYSTEMS",
    "Operations",
    "SpaceGroup",
    "WyckoffPosition",
    "WyckoffSite",
    "crystal_system",
    "enantiomorph",
    "find_wyckoff_sites",
    "format_operation",
    "generic_lattice",
    "generic_parameters",
    "lattice_system",
    "space_group_number",
    "wyckoff_positions",
]
