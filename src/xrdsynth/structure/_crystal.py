"""Crystal: one crystal structure as numpy arrays (see the package docstring)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import spglib

from .._base import SAME_POSITION_TOLERANCE, check_space_group_number
from .._elements import MAX_ATOMIC_NUMBER, atomic_mass, atomic_number, element_symbol
from .._errors import CIFError
from .._lattice import lattice_from_parameters, parameters_from_lattice, standard_orientation
from .._math import periodic_distances, wrap_fractional
from .._spglib import symmetry_dataset
from ..io import ParsedStructure, format_cif, parse_cif_text, read_cif_text
from ..symmetry import WyckoffSite, find_wyckoff_sites
from . import _interop

if TYPE_CHECKING:
    import ase
    import pymatgen.core

__all__ = ["MAX_OCCUPANCY", "Crystal"]

MAX_OCCUPANCY = 1.1
"""Largest accepted occupancy. Refined occupancies a few percent above 1 are common in published structures
(the site scatters more than the assumed element); larger values point to a units mistake (percent)."""

_AVOGADRO = 6.02214076e23  # 1/mol
_CM3_PER_A3 = 1e-24


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.setflags(write=False)
    return array


_ROWS_PER_CHUNK = 256  # bounds the (rows, N, 3) temporaries of pairwise distances to a few tens of MB


def _neighbours(
    frac_a: npt.NDArray[np.float64],
    frac_b: npt.NDArray[np.float64],
    lattice: npt.NDArray[np.float64],
    tol: float,
) -> list[npt.NDArray[np.int64]]:
    """For each row of ``frac_a``, the indices of ``frac_b`` within ``tol`` Å (periodic).

    The nearest image is found by rounding fractional differences, which is exact for distances well below
    the cell's shortest width; ``tol`` here is always a small tolerance.
    """
    result = []
    for start in range(0, len(frac_a), _ROWS_PER_CHUNK):
        close = periodic_distances(frac_a[start : start + _ROWS_PER_CHUNK], frac_b, lattice) <= tol
        result.extend(np.flatnonzero(row) for row in close)
    return result


def _hill_order(symbols: list[str]) -> list[str]:
    # Hill system: C first and H second when carbon is present, everything else alphabetical.
    ordered = sorted(symbols)
    if "C" in symbols:
        head = ["C"] + (["H"] if "H" in symbols else [])
        ordered = head + [s for s in ordered if s not in head]
    return ordered


def _format_count(count: float) -> str:
    text = f"{count:.4f}".rstrip("0").rstrip(".")
    return "" if text == "1" else text


@dataclass(frozen=True, eq=False, repr=False)
class Crystal:
    """One crystal structure with every atom of the unit cell listed.

    Construct directly from arrays, or with :meth:`from_cif`, :meth:`from_parameters`, :meth:`from_pymatgen`,
    :meth:`from_ase`. Inputs are copied, converted and validated; the stored arrays are read-only. Use
    ``dataclasses.replace(crystal, space_group=...)`` for a modified copy.

    Attributes:
        lattice: (3, 3) float64, Å. Rows are the cell vectors a, b, c in the standard orientation (a along x,
            b in the xy plane, c with positive z: lower triangular). A lattice given in another orientation
            is rotated rigidly into this one, which leaves fractional coordinates unchanged; it must be
            right-handed (positive determinant).
        frac_coords: (N, 3) float64, fractional coordinates of every atom of the unit cell, wrapped into
            [0, 1).
        numbers: (N,) int64 atomic numbers, 1..118.
        occupancies: (N,) float64 in (0, 1.1] (see ``MAX_OCCUPANCY``); default 1.
        b_iso: (N,) float64 isotropic displacement parameters B = 8π²U in Å²; default 0 (no damping).
            Any finite value is accepted (refinements occasionally give slightly negative B).
        charges: (N,) float64 formal charges (e.g. 3.0 for Fe³⁺; fractional for mixed valence); default 0.
        space_group: international space-group number 1..230; default 1. It is a label: the atoms are
            already expanded, and nothing checks that they have this symmetry (see
            :meth:`detect_space_group`).
        setting: None when the axes are those of the default setting of ``space_group`` (or unknown); else
            the name of the setting the atoms are given in, e.g. ``"P b n m"`` for a CIF in Pbnm, a
            non-default setting of Pnma (62). The lattice, coordinates, and therefore hkl, refer to those
            axes. :meth:`from_cif` sets it; a label like ``space_group``, it is not written by
            :meth:`to_cif` and not checked.

    Equality is identity; compare crystals with :meth:`allclose`.
    """

    lattice: npt.NDArray[np.float64]
    frac_coords: npt.NDArray[np.float64]
    numbers: npt.NDArray[np.int64]
    # None is accepted for the three below and replaced by the documented default in __post_init__.
    occupancies: npt.NDArray[np.float64] = None  # type: ignore[assignment]
    b_iso: npt.NDArray[np.float64] = None  # type: ignore[assignment]
    charges: npt.NDArray[np.float64] = None  # type: ignore[assignment]
    space_group: int = 1
    setting: str | None = None

    def __post_init__(self) -> None:
        lattice = np.array(self.lattice, dtype=np.float64, copy=True)
        if lattice.shape != (3, 3):
            raise ValueError(f"lattice must have shape (3, 3), got {lattice.shape}")
        if not np.all(np.isfinite(lattice)):
            raise ValueError("lattice contains non-finite values")
        det = float(np.linalg.det(lattice))
        if not det > 0:
            raise ValueError(
                f"lattice must have a positive volume (right-handed rows a, b, c), got determinant {det:.6g}"
            )
        lattice = standard_orientation(lattice)

        frac = np.array(self.frac_coords, dtype=np.float64, copy=True)
        if frac.ndim != 2 or frac.shape[1] != 3:
            raise ValueError(f"frac_coords must have shape (N, 3), got {frac.shape}")
        n = frac.shape[0]
        if n == 0:
            raise ValueError("a crystal needs at least one atom")
        if not np.all(np.isfinite(frac)):
            raise ValueError("frac_coords contains non-finite values")
        frac = wrap_fractional(frac)

        raw_numbers = np.asarray(self.numbers)
        if raw_numbers.dtype.kind not in "iu":
            if raw_numbers.dtype.kind == "f" and np.all(np.isfinite(raw_numbers)):
                if not np.all(raw_numbers == np.round(raw_numbers)):
                    raise ValueError("numbers must be integers (atomic numbers)")
            else:
                raise ValueError(f"numbers must be integer atomic numbers, got dtype {raw_numbers.dtype}")
        numbers = np.array(raw_numbers, dtype=np.int64, copy=True)
        if numbers.shape != (n,):
            raise ValueError(f"numbers must have shape ({n},) to match frac_coords, got {numbers.shape}")
        bad = (numbers < 1) | (numbers > MAX_ATOMIC_NUMBER)
        if np.any(bad):
            raise ValueError(f"atomic numbers must be in 1..{MAX_ATOMIC_NUMBER}, got {numbers[bad][0]}")

        def per_atom(value: Any, name: str, default: float) -> npt.NDArray[np.float64]:
            if value is None:
                return np.full(n, default, dtype=np.float64)
            array = np.array(value, dtype=np.float64, copy=True)
            if array.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},) to match frac_coords, got {array.shape}")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name} contains non-finite values")
            return array

        occupancies = per_atom(self.occupancies, "occupancies", 1.0)
        bad = (occupancies <= 0) | (occupancies > MAX_OCCUPANCY)
        if np.any(bad):
            raise ValueError(f"occupancies must be in (0, {MAX_OCCUPANCY}], got {occupancies[bad][0]}")
        b_iso = per_atom(self.b_iso, "b_iso", 0.0)
        charges = per_atom(self.charges, "charges", 0.0)

        space_group = check_space_group_number(self.space_group)

        for name, value in (
            ("lattice", lattice),
            ("frac_coords", frac),
            ("numbers", numbers),
            ("occupancies", occupancies),
            ("b_iso", b_iso),
            ("charges", charges),
        ):
            object.__setattr__(self, name, _frozen(value))
        object.__setattr__(self, "space_group", int(space_group))
        if self.setting is not None and not isinstance(self.setting, str):
            raise ValueError(f"setting must be None or a str, got {self.setting!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild through __init__ so that unpickled arrays are validated and read-only again.
        return (
            type(self),
            (
                self.lattice,
                self.frac_coords,
                self.numbers,
                self.occupancies,
                self.b_iso,
                self.charges,
                self.space_group,
                self.setting,
            ),
        )

    # -----------------------------------------------------------------------------------------------------
    # Derived quantities

    @property
    def num_atoms(self) -> int:
        """Number of atoms listed (N), counting each member of a mixed or partial site."""
        return int(self.numbers.shape[0])

    @property
    def volume(self) -> float:
        """Cell volume in Å³."""
        return float(np.linalg.det(self.lattice))

    @property
    def cell_parameters(self) -> tuple[float, float, float, float, float, float]:
        """(a, b, c, alpha, beta, gamma): lengths in Å, angles in degrees."""
        return parameters_from_lattice(self.lattice)

    def distances(self) -> npt.NDArray[np.float64]:
        """(N, N) float64 distances in Å between the atoms, each to the nearest image of the other (exact for
        distances well below half the cell's shortest width: contacts, not long vectors)."""
        return periodic_distances(self.frac_coords, self.frac_coords, self.lattice)

    @property
    def cartesian_coords(self) -> npt.NDArray[np.float64]:
        """(N, 3) float64 Cartesian positions in Å (frac_coords @ lattice)."""
        return self.frac_coords @ self.lattice

    @property
    def composition(self) -> dict[str, float]:
        """Atoms per unit cell by element symbol, occupancy-weighted, in Hill order."""
        totals: dict[str, float] = {}
        for z, occ in zip(self.numbers.tolist(), self.occupancies.tolist(), strict=True):
            symbol = element_symbol(z)
            totals[symbol] = totals.get(symbol, 0.0) + occ
        return {s: totals[s] for s in _hill_order(list(totals))}

    @property
    def formula(self) -> str:
        """Cell content in Hill order, e.g. ``"O6 Si3"`` for quartz (counts to 4 decimals, 1 omitted)."""
        return " ".join(f"{s}{_format_count(v)}" for s, v in self.composition.items())

    @property
    def density(self) -> float:
        """Density in g/cm³ from occupancy-weighted standard atomic weights."""
        mass = sum(
            occ * atomic_mass(z)
            for z, occ in zip(self.numbers.tolist(), self.occupancies.tolist(), strict=True)
        )
        return mass / _AVOGADRO / (self.volume * _CM3_PER_A3)

    def __repr__(self) -> str:
        a, b, c, alpha, beta, gamma = self.cell_parameters
        setting = f"setting={self.setting!r}, " if self.setting is not None else ""
        return (
            f"Crystal(formula={self.formula!r}, space_group={self.space_group}, {setting}"
            f"cell=({a:.4f}, {b:.4f}, {c:.4f}, {alpha:.3f}, {beta:.3f}, {gamma:.3f}), "
            f"num_atoms={self.num_atoms})"
        )

    def allclose(self, other: Crystal, atol: float = 1e-6) -> bool:
        """True when both crystals have the same lattice and the same atoms, in any order.

        Lattices must agree entry by entry within ``atol`` Å; every atom must have a partner with the same
        element, charge, occupancy and B (within ``atol``) at a position within ``atol`` Å (periodic); the
        space-group labels must be equal.
        """
        if self.space_group != other.space_group or self.num_atoms != other.num_atoms:
            return False
        if not np.allclose(self.lattice, other.lattice, rtol=0.0, atol=atol):
            return False
        near = _neighbours(self.frac_coords, other.frac_coords, self.lattice, atol)
        # Greedy matching is exact here: with atol far below interatomic distances a partner is unique
        # unless two atoms are identical, and then either choice is right.
        used = np.zeros(other.num_atoms, dtype=bool)
        for i, candidates in enumerate(near):
            match = (
                ~used[candidates]
                & (other.numbers[candidates] == self.numbers[i])
                & (np.abs(other.occupancies[candidates] - self.occupancies[i]) <= atol)
                & (np.abs(other.b_iso[candidates] - self.b_iso[i]) <= atol)
                & (np.abs(other.charges[candidates] - self.charges[i]) <= atol)
            )
            if not np.any(match):
                return False
            used[candidates[np.argmax(match)]] = True
        return True

    # -----------------------------------------------------------------------------------------------------
    # Construction

    @staticmethod
    def lattice_from_parameters(
        a: float, b: float, c: float, alpha: float, beta: float, gamma: float
    ) -> npt.NDArray[np.float64]:
        """(3, 3) float64 lattice in Å (rows a, b, c, standard orientation) from lengths in Å and angles in
        degrees. Raises ValueError for parameters that describe no cell."""
        return lattice_from_parameters(a, b, c, alpha, beta, gamma)

    @classmethod
    def from_parameters(
        cls,
        a: float,
        b: float,
        c: float,
        alpha: float,
        beta: float,
        gamma: float,
        frac_coords: npt.ArrayLike,
        species: Sequence[int | str] | npt.ArrayLike,
        occupancies: npt.ArrayLike | None = None,
        b_iso: npt.ArrayLike | None = None,
        charges: npt.ArrayLike | None = None,
        space_group: int = 1,
    ) -> Crystal:
        """Crystal from cell parameters (Å, degrees) and atoms.

        Args:
            frac_coords: (N, 3) fractional coordinates of every atom of the cell.
            species: (N,) atomic numbers or element symbols ("Fe", "O").
            occupancies, b_iso, charges, space_group: as the attributes of the same names.
        """
        numbers = np.array(
            [atomic_number(s) if isinstance(s, str) else s for s in np.asarray(species, dtype=object).ravel()]
        )
        return cls(
            lattice_from_parameters(a, b, c, alpha, beta, gamma),
            np.asarray(frac_coords, dtype=np.float64).reshape(-1, 3),
            numbers,
            occupancies,
            b_iso,
            charges,
            space_group,
        )

    @classmethod
    def _from_parsed(cls, parsed: ParsedStructure, source: str) -> Crystal:
        try:
            return cls(
                parsed.lattice,
                parsed.frac_coords,
                parsed.numbers,
                parsed.occupancies,
                parsed.b_iso,
                parsed.charges,
                parsed.space_group,
                parsed.setting,
            )
        except ValueError as exc:
            raise CIFError(f"{source}: data block {parsed.block_name!r}: {exc}") from None

    @classmethod
    def from_cif(cls, path: str | os.PathLike[str], block: str | None = None) -> Crystal:
        """The first structure in a CIF file (``.cif`` or ``.cif.gz``).

        The rules (element and charge from type symbols, displacement parameters, symmetry operations and
        their precedence, merging of symmetry images on special positions) are listed in
        :mod:`xrdsynth.io` and summarised in the :mod:`xrdsynth.io` docs.

        Args:
            path: file to read.
            block: name of the data block to read (without ``data_``); default: the first block with atoms.

        Raises:
            CIFError: any problem with the content; the message names the file.
            OSError: the file cannot be opened.
        """
        source = os.fspath(path)
        parsed = parse_cif_text(read_cif_text(path), source, first_only=True, block=block)
        return cls._from_parsed(parsed[0], source)

    @classmethod
    def from_cif_string(cls, text: str, source: str = "<string>", block: str | None = None) -> Crystal:
        """The first structure in CIF text; ``source`` names it in error messages. See :meth:`from_cif`."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        parsed = parse_cif_text(text, source, first_only=True, block=block)
        return cls._from_parsed(parsed[0], source)

    @classmethod
    def read_all(cls, path: str | os.PathLike[str]) -> list[Crystal]:
        """Every structure in a CIF file, one per data block that has atom sites, in file order.

        Raises:
            CIFError: when no block holds a structure, or when any structure block is invalid.
        """
        source = os.fspath(path)
        return [
            cls._from_parsed(p, source) for p in parse_cif_text(read_cif_text(path), source, first_only=False)
        ]

    def to_cif(self, name: str | None = None) -> str:
        """CIF text of this crystal.

        Every atom of the cell is listed, with the identity as the only symmetry operation, so any CIF reader
        rebuilds exactly these atoms; ``_space_group_IT_number`` carries :attr:`space_group`, which
        :meth:`from_cif_string` reads back. Numbers are written with the shortest text that reads back to
        the same float, so the round trip is exact up to the cell-parameter conversion (~1e-13 Å).

        Args:
            name: data block name (whitespace becomes ``_``); default: the formula without spaces.
        """
        formula = self.formula
        return format_cif(
            self.lattice,
            self.frac_coords,
            self.numbers,
            self.occupancies,
            self.b_iso,
            self.charges,
            self.space_group,
            name if name is not None else formula.replace(" ", ""),
            formula,
        )

    # -----------------------------------------------------------------------------------------------------
    # Symmetry

    def detect_space_group(self, symprec: float = 1e-3, angle_tolerance: float = -1.0) -> int:
        """Space-group number of the atoms as spglib finds it.

        Atoms closer than ``max(symprec, 3e-3 Å)`` form one site, and a site's species is the set of
        (element, occupancy, charge) of its atoms, so a mixed or partially occupied site is only equivalent
        to sites with the same content.

        Args:
            symprec: distance tolerance in Å (spglib's ``symprec``). Files that give coordinates to 3-4
                decimals may need 1e-2 or more.
            angle_tolerance: spglib's angle tolerance in degrees; -1 lets spglib choose.

        Raises:
            ValueError: spglib cannot determine the symmetry (atoms closer than ``symprec``, say).
        """
        _, sites, types = self._symmetry_sites(symprec)
        dataset = symmetry_dataset(self.lattice, self.frac_coords[sites], types, symprec, angle_tolerance)
        if dataset is None:
            raise ValueError(
                f"spglib could not determine the symmetry of {self!r} at symprec={symprec} Å "
                f"({spglib.get_error_message()})"
            )
        return int(dataset.number)

    def wyckoff_sites(self, symprec: float = 1e-3) -> tuple[WyckoffSite, ...]:
        """The Wyckoff positions occupied, as spglib finds the symmetry (see :meth:`detect_space_group`).

        Args:
            symprec: distance tolerance in Å.

        Returns:
            One :class:`~xrdsynth.symmetry.WyckoffSite` per set of equivalent sites, in the default setting
            of the space group spglib finds; ``atoms`` are indices into this crystal's atoms (every atom of
            a mixed or split site at that place).

        Raises:
            ValueError: spglib cannot determine the symmetry.
        """
        site_of, sites, types = self._symmetry_sites(symprec)
        found = find_wyckoff_sites(self.lattice, self.frac_coords[sites], types, symprec=symprec)
        return tuple(
            WyckoffSite(w.position, tuple(int(i) for i in np.nonzero(np.isin(site_of, w.atoms))[0]))
            for w in found
        )

    def _symmetry_sites(self, symprec: float) -> tuple[np.ndarray, list[int], list[int]]:
        """Sites for spglib: ``site_of`` (N,) site index of each atom, one representative atom per site,
        and each site's species label (equal labels = equal content of (element, occupancy, charge))."""
        tolerance = max(symprec, SAME_POSITION_TOLERANCE)
        near = _neighbours(self.frac_coords, self.frac_coords, self.lattice, tolerance)
        site_of = -np.ones(self.num_atoms, dtype=np.int64)
        sites: list[int] = []
        for i in range(self.num_atoms):
            if site_of[i] < 0:
                members = near[i][site_of[near[i]] < 0]
                site_of[members] = len(sites)
                sites.append(i)
        contents: dict[int, list[tuple[int, float, float]]] = {}
        for i, site in enumerate(site_of.tolist()):
            contents.setdefault(site, []).append(
                (int(self.numbers[i]), round(float(self.occupancies[i]), 4), round(float(self.charges[i]), 4))
            )
        species_ids: dict[tuple[tuple[int, float, float], ...], int] = {}
        types = []
        for site in range(len(sites)):
            key = tuple(sorted(contents[site]))
            types.append(species_ids.setdefault(key, len(species_ids) + 1))
        return site_of, sites, types

    # -----------------------------------------------------------------------------------------------------
    # Other libraries (optional, imported on use)

    def to_pymatgen(self) -> pymatgen.core.Structure:
        """A pymatgen Structure; atoms at one position become one (possibly disordered) site.

        Charges become oxidation states (``Species``) when any is non-zero. B values are stored as the site
        property ``"b_iso"`` when all atoms of each site share one value; the space group is stored in
        ``structure.properties["space_group"]``. pymatgen sites cannot hold more than full occupancy, so
        occupancies above 1 (refined values up to ``MAX_OCCUPANCY``) are capped at 1 with a warning.
        Requires pymatgen.
        """
        return _interop.to_pymatgen(self)

    @classmethod
    def from_pymatgen(cls, structure: pymatgen.core.Structure, space_group: int | None = None) -> Crystal:
        """Crystal from a pymatgen Structure; disordered sites become one atom per species.

        Oxidation states become charges; a ``"b_iso"`` site property becomes B. The space group is, in this
        order, the argument, ``structure.properties["space_group"]``, or :meth:`detect_space_group` at its
        default tolerance. A left-handed lattice is replaced by its negative, with negated fractional
        coordinates, which describes the same atoms in space.
        """
        return _interop.from_pymatgen(cls, structure, space_group)

    def to_ase(self) -> ase.Atoms:
        """An ase Atoms object with one atom per listed atom (ase has no partial occupancy).

        Occupancies and B are kept as the per-atom arrays ``"occupancies"`` and ``"b_iso"``, charges as
        initial charges, the space group as ``atoms.info["space_group"]``. Requires ase.
        """
        return _interop.to_ase(self)

    @classmethod
    def from_ase(cls, atoms: ase.Atoms, space_group: int | None = None) -> Crystal:
        """Crystal from ase Atoms (all three directions periodic).

        Reads the ``"occupancies"`` and ``"b_iso"`` arrays and initial charges when present (as
        :meth:`to_ase` writes them). The space group is the argument, else ``atoms.info["space_group"]``
        (an int or an ase Spacegroup), else :meth:`detect_space_group`. Left-handed cells are handled as in
        :meth:`from_pymatgen`.
        """
        return _interop.from_ase(cls, atoms, space_group)
