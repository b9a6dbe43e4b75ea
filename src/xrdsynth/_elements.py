"""Chemical elements: symbols, atomic numbers, masses, and the parsing of CIF type symbols and site labels.

Conventions (documented here once, used by the CIF reader and by :class:`xrdsynth.Crystal`):

- Atomic numbers are ``int`` 1..118. Isotopes are folded into their element: ``"D"`` (deuterium) and ``"T"``
  (tritium) are hydrogen, because X-ray scattering depends on the electrons only.
- Formal charges are ``float`` (fractional charges such as ``"Fe2.5+"`` occur in mixed-valence compounds);
  they are whole numbers in almost every file and 0 when the symbol carries none.
- Pseudo-atoms that name a group by its oxygen (``"Wat"``/``"Ow"`` water, ``"OH"``/``"Oh"`` hydroxyl) are
  read as oxygen; a charge written on them (``"OH-"``) is kept as written.
"""

from __future__ import annotations

import re

import gemmi

__all__ = [
    "MAX_ATOMIC_NUMBER",
    "atomic_mass",
    "atomic_number",
    "element_from_label",
    "element_symbol",
    "parse_type_symbol",
]

MAX_ATOMIC_NUMBER = 118

# Names that are not element symbols but are used for one element in mineral and hydrate CIFs.
_ALIASES = {"D": 1, "T": 1, "WAT": 8, "OW": 8, "OH": 8}

# Element letters, then an optional charge written either way round ("Fe3+", "Fe+3", "O2-", "O-", "Fe2.5+"),
# then nothing else. Digits without a sign ("Fe1", "O12") are a site number, not a charge.
_TYPE_SYMBOL = re.compile(
    r"^(?P<letters>[A-Za-z]+)"
    r"(?:(?P<num_first>\d+(?:\.\d+)?)?(?P<sign_last>[+-])|(?P<sign_first>[+-])(?P<num_last>\d+(?:\.\d+)?)?"
    r"|\d*)?$"
)


def _z_or_zero(symbol: str) -> int:
    """Atomic number of an element symbol in any letter case, or 0 when it names no element."""
    if not symbol.isalpha() or not 1 <= len(symbol) <= 2:
        return 0
    z = gemmi.Element(symbol).atomic_number
    # gemmi knows deuterium as an element of its own with atomic number 1; we handle isotopes via _ALIASES.
    return z if 1 <= z <= MAX_ATOMIC_NUMBER else 0


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (``"Fe"`` -> 26, case-insensitive; ``"D"`` -> 1).

    Raises:
        ValueError: the symbol names no element.
    """
    text = symbol.strip()
    z = 1 if text.upper() in {"D", "T"} else _z_or_zero(text)
    if z == 0:
        raise ValueError(f"unknown element symbol {symbol!r}")
    return z


def element_symbol(z: int) -> str:
    """Element symbol of an atomic number (26 -> ``"Fe"``).

    Raises:
        ValueError: ``z`` is not in 1..118.
    """
    if not 1 <= int(z) <= MAX_ATOMIC_NUMBER:
        raise ValueError(f"atomic number must be in 1..{MAX_ATOMIC_NUMBER}, got {z}")
    return gemmi.Element(int(z)).name


def atomic_mass(z: int) -> float:
    """Standard atomic weight in g/mol (IUPAC values as tabulated by gemmi)."""
    element_symbol(z)  # validates the range
    return float(gemmi.Element(int(z)).weight)


def _element_from_letters(letters: str, case_sensitive: bool) -> int:
    """Element named by the leading letters of a symbol or label, or 0.

    With ``case_sensitive`` (site labels such as ``"Co1"`` vs ``"CO1"``), a two-letter element is taken only
    when its second letter is lower case or the whole label is upper case ("CL1" is chlorine in all-caps
    files);
    otherwise a type symbol names exactly one element, so the two-letter reading wins ("CO" is cobalt).
    """
    upper = letters.upper()
    for alias in ("WAT", "OW", "OH"):
        # Aliases are whole words: "OH" or "Oh1" is a hydroxyl oxygen; "Os" is osmium.
        if upper == alias:
            return _ALIASES[alias]
    if upper in {"D", "T"}:
        return 1
    two = letters[:2]
    two_ok = len(two) == 2 and _z_or_zero(two) > 0
    one_ok = _z_or_zero(letters[:1]) > 0
    if case_sensitive:
        all_caps = letters.isupper()
        if two_ok and (two[1].islower() or all_caps):
            return _z_or_zero(two)
        if one_ok:
            return _z_or_zero(letters[:1])
        return _z_or_zero(two) if two_ok else 0
    if two_ok:
        return _z_or_zero(two)
    if one_ok:
        return _z_or_zero(letters[:1])
    return 0


def parse_type_symbol(symbol: str) -> tuple[int, float]:
    """Atomic number and formal charge from a CIF ``_atom_site_type_symbol``.

    Examples: ``"Fe"`` -> (26, 0.0); ``"Fe3+"`` and ``"Fe+3"`` -> (26, 3.0); ``"O2-"`` -> (8, -2.0);
    ``"O-"`` -> (8, -1.0); ``"Fe2.5+"`` -> (26, 2.5); ``"D"`` -> (1, 0.0); ``"OH-"`` -> (8, -1.0);
    ``"Wat"`` -> (8, 0.0); ``"Si4"`` (a number without a sign) -> (14, 0.0).

    Raises:
        ValueError: the symbol does not start with an element (or a known alias).
    """
    text = symbol.strip()
    m = _TYPE_SYMBOL.match(text)
    if m is None:
        raise ValueError(f"cannot read type symbol {symbol!r}")
    z = _element_from_letters(m.group("letters"), case_sensitive=False)
    if z == 0:
        raise ValueError(f"unknown element in type symbol {symbol!r}")
    sign = m.group("sign_last") or m.group("sign_first")
    charge = 0.0
    if sign is not None:
        magnitude = m.group("num_first") or m.group("num_last") or "1"
        charge = float(magnitude) * (1.0 if sign == "+" else -1.0)
    return z, charge


def element_from_label(label: str) -> int:
    """Atomic number guessed from a site label when a file gives no type symbol.

    The leading letters are read (``"Fe1A"`` -> Fe, ``"O12"`` -> O, ``"Ow3"`` -> O, ``"SI1"`` -> Si,
    ``"Co2"`` -> Co, ``"C1"`` -> C). Lower-case second letters decide ambiguous cases ("Co" is cobalt,
    "C" then "O" never arises inside one label).

    Raises:
        ValueError: no element can be read from the label.
    """
    m = re.match(r"[A-Za-z]+", label.strip())
    z = _element_from_letters(m.group(0), case_sensitive=True) if m else 0
    if z == 0:
        raise ValueError(f"cannot tell the element from site label {label!r}")
    return z
