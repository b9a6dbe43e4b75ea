"""The 11 pairs of enantiomorphic space groups, which powder diffraction cannot tell apart.

The two groups of a pair are mirror images of each other (P4₁ and P4₃: right- and left-handed screws);
their reflection positions are identical and, without anomalous scattering, so are their intensities
(Friedel's law), so a powder pattern decides the pair, never the member.
"""

from __future__ import annotations

from ._spacegroup import space_group_number

__all__ = ["ENANTIOMORPHIC_PAIRS", "enantiomorph"]

#: The pairs (lower number first): P4₁/P4₃, P4₁22/P4₃22, P4₁2₁2/P4₃2₁2, P3₁/P3₂, P3₁12/P3₂12, P3₁21/P3₂21,
#: P6₁/P6₅, P6₂/P6₄, P6₁22/P6₅22, P6₂22/P6₄22, P4₃32/P4₁32.
ENANTIOMORPHIC_PAIRS: tuple[tuple[int, int], ...] = (
    (76, 78), (91, 95), (92, 96), (144, 145), (151, 153), (152, 154),
    (169, 170), (171, 172), (178, 179), (180, 181), (212, 213),
)  # fmt: skip

_PARTNER = {a: b for a, b in ENANTIOMORPHIC_PAIRS} | {b: a for a, b in ENANTIOMORPHIC_PAIRS}


def enantiomorph(number: int) -> int | None:
    """The enantiomorphic partner of space group ``number`` (1..230), or None when it has none.

    Raises:
        ValueError: a number outside 1..230.
    """
    return _PARTNER.get(space_group_number(number))
