"""Stick patterns of single crystals: :class:`PeakList`, the conventional naming of reflection families and
the merging of reflections into peaks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

__all__ = ["PeakList", "conventional_hkl", "hexagonal_axes", "merge_peaks", "stick_pattern"]


@dataclass(frozen=True)
class PeakList:
    """A stick pattern: one entry per distinct peak position (reflections closer than the merge tolerance
    are one entry), sorted by 2theta.

    Reflections are named by the conventional member of their family (the equivalents under the crystal's
    Laue group), as powder tables list them: all indices non-negative where the family has such a member,
    the largest indices first among those (311, not 113; calcite's 104 and 018, not 1 0 -8); otherwise as
    few negative indices as possible, placed first (monoclinic -1 1 1). For hexagonal axes (a = b, α = β =
    90°, γ = 120°: hexagonal and trigonal crystals, rhombohedral ones in hexagonal axes) the Bravais–Miller
    indices hkil with i = −(h + k) are available too (:attr:`hkil`, ``labels(bravais_miller=True)``).

    Attributes:
        two_theta: (n,) float64 peak positions in degrees.
        intensity: (n,) float64 integrated intensities scaled so that the strongest is 100.
        hkl: (n, 3) int64 Miller indices of the strongest reflection family of each peak.
        d: (n,) float64 d-spacings in Å.
        multiplicity: (n,) int64 number of reflections (hkl and its equivalents) in each peak.
        wavelength: (n,) float64 the line (Å) that made each peak (two values for a Kα doublet).
        line: (n,) int64 which line of the radiation made each peak: 0 the principal one (Kα1), 1 the
            second of a doublet (Kα2).
        families: per peak, a (k, 3) int64 array with every reflection family merged into it, strongest
            first (the first row is ``hkl``): quartz's 26.6° peak holds 1 0 1 and 0 1 1, two forms with
            one d-spacing.
        hexagonal: whether the lattice has hexagonal axes (see above), so that :attr:`hkil` applies.
    """

    two_theta: npt.NDArray[np.float64]
    intensity: npt.NDArray[np.float64]
    hkl: npt.NDArray[np.int64]
    d: npt.NDArray[np.float64]
    multiplicity: npt.NDArray[np.int64]
    wavelength: npt.NDArray[np.float64]
    line: npt.NDArray[np.int64] | None = None
    families: tuple[npt.NDArray[np.int64], ...] | None = None
    hexagonal: bool = False

    def __post_init__(self) -> None:
        # Defaults for a PeakList made from the first six fields only: one line, one family per peak.
        if self.line is None:
            object.__setattr__(self, "line", np.zeros(len(self.two_theta), dtype=np.int64))
        if self.families is None:
            hkl = np.asarray(self.hkl, dtype=np.int64).reshape(-1, 3)
            object.__setattr__(self, "families", tuple(hkl[k : k + 1] for k in range(len(hkl))))

    def __len__(self) -> int:
        return len(self.two_theta)

    @property
    def hkil(self) -> npt.NDArray[np.int64]:
        """(n, 4) int64 Bravais–Miller indices (h, k, −h−k, l) of :attr:`hkl`.

        Raises:
            ValueError: the lattice does not have hexagonal axes (:attr:`hexagonal` is False).
        """
        if not self.hexagonal:
            raise ValueError("hkil (Bravais–Miller indices) need hexagonal axes; this lattice has none")
        return _bravais_miller(np.asarray(self.hkl, dtype=np.int64).reshape(-1, 3))

    def labels(self, bravais_miller: bool = False) -> list[str]:
        """One label per peak: every family merged into it, strongest first, e.g. ``"1 0 4"``, or
        ``"1 0 -1 4"`` in Bravais–Miller indices; ``"1 0 1, 0 1 1"`` for two families.

        Args:
            bravais_miller: write hkil instead of hkl (hexagonal axes only).

        Raises:
            ValueError: ``bravais_miller=True`` for a lattice without hexagonal axes.
        """
        if bravais_miller and not self.hexagonal:
            raise ValueError("hkil (Bravais–Miller indices) need hexagonal axes; this lattice has none")
        families = self.families if self.families is not None else ()
        return [
            ", ".join(
                " ".join(str(int(i)) for i in row) for row in (_bravais_miller(f) if bravais_miller else f)
            )
            for f in families
        ]

    def __repr__(self) -> str:
        strongest = np.argsort(self.intensity)[::-1][:3]
        labels = self.labels(bravais_miller=self.hexagonal)
        top = ", ".join(f"({labels[k]}) {self.two_theta[k]:.3f}°" for k in strongest)
        return f"PeakList({len(self)} peaks; strongest: {top})"


def _bravais_miller(hkl: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """(m, 3) hkl -> (m, 4) hkil with i = -(h + k)."""
    hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
    return np.column_stack([hkl[:, 0], hkl[:, 1], -(hkl[:, 0] + hkl[:, 1]), hkl[:, 2]])


def conventional_hkl(hkl: npt.NDArray[np.int64], rotations: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The member of each family that powder tables list (see :class:`PeakList`).

    Args:
        hkl: (R, 3) int64 one member of each family.
        rotations: (R, G, 3, 3) int64 the Laue group of each reflection, acting on row vectors (h -> h R);
            padding with the identity is harmless.

    Returns:
        (R, 3) int64: fewest negative indices, then the largest absolute indices first (lexicographically),
        then negative indices as early as possible.
    """
    images = np.einsum("ri,rgij->rgj", hkl, rotations)  # (R, G, 3)
    size = 2 * int(np.abs(images).max(initial=0)) + 2
    negative = (images < 0).sum(-1)
    magnitude = np.abs(images)
    # One integer per image, smaller is better: the three criteria as digits of decreasing weight.
    score = negative
    for j in range(3):
        score = score * size + (size - 1 - magnitude[..., j])
    signs = (images >= 0).astype(np.int64) @ np.array([4, 2, 1])
    score = score * 8 + signs
    best = np.argmin(score, axis=1)
    return images[np.arange(len(hkl)), best]


def hexagonal_axes(lattice: npt.NDArray[np.float64]) -> bool:
    """a = b, α = β = 90°, γ = 120° (within 1e-6 relative and 1e-4°)."""
    lengths = np.linalg.norm(lattice, axis=1)
    cosines = [
        float(lattice[1] @ lattice[2] / (lengths[1] * lengths[2])),
        float(lattice[0] @ lattice[2] / (lengths[0] * lengths[2])),
        float(lattice[0] @ lattice[1] / (lengths[0] * lengths[1])),
    ]
    angles = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
    return bool(
        abs(lengths[0] - lengths[1]) <= 1e-6 * lengths[0]
        and np.allclose(angles, [90.0, 90.0, 120.0], rtol=0.0, atol=1e-4)
    )


def merge_peaks(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    hkl: np.ndarray,
    d: np.ndarray,
    multiplicity: np.ndarray,
    wavelength: np.ndarray,
    line: np.ndarray,
    tolerance: float,
    min_intensity: float,
    hexagonal: bool,
) -> PeakList:
    """Sticks (one per reflection family and line, hkl conventional) -> the PeakList of their peaks."""
    order = np.argsort(two_theta, kind="stable")
    two_theta, intensity, hkl, d, multiplicity, wavelength, line = (
        a[order] for a in (two_theta, intensity, hkl, d, multiplicity, wavelength, line)
    )
    if len(two_theta) == 0:
        empty = np.zeros(0)
        nothing = np.zeros(0, dtype=np.int64)
        return PeakList(
            empty, empty, np.zeros((0, 3), dtype=np.int64), empty, nothing, empty, nothing, (), hexagonal
        )
    # A new peak starts wherever the gap to the previous reflection exceeds the tolerance.
    group = np.concatenate([[0], np.cumsum(np.diff(two_theta) > tolerance)])
    n = int(group[-1]) + 1
    total = np.bincount(group, weights=intensity, minlength=n)
    # Position: intensity-weighted mean of the members; hkl and d: the strongest member's.
    weights = np.where(intensity > 0, intensity, 1e-300)
    position = np.bincount(group, weights=two_theta * weights, minlength=n) / np.bincount(
        group, weights=weights, minlength=n
    )
    strongest = np.lexsort((-intensity, group))
    first = strongest[np.concatenate([[True], group[strongest][1:] != group[strongest][:-1]])]
    # Every family of each peak, strongest first (a family occurs once per line, so once per peak).
    starts = np.searchsorted(group[strongest], np.arange(n))
    families = tuple(np.split(hkl[strongest], starts[1:]))
    mult = np.bincount(group, weights=multiplicity, minlength=n).astype(np.int64)
    top = total.max() if n else 0.0
    scaled = 100.0 * total / top if top > 0 else total
    keep = scaled >= min_intensity
    return PeakList(
        position[keep],
        scaled[keep],
        hkl[first][keep],
        d[first][keep],
        mult[keep],
        wavelength[first][keep],
        line[first][keep],
        tuple(f for f, k in zip(families, keep, strict=True) if k),
        hexagonal,
    )


def stick_pattern(
    lines: list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]],
    hkl: npt.NDArray[np.int64],
    rotations: npt.NDArray[np.int64],
    d: npt.NDArray[np.float64],
    multiplicity: npt.NDArray[np.int64],
    two_theta_range: tuple[float, float],
    merge_tolerance: float,
    min_intensity: float,
    lattice: npt.NDArray[np.float64],
) -> PeakList:
    """The :class:`PeakList` of one crystal from the sticks of its wavelength lines.

    Args:
        lines: per line, (λ in Å, (R,) bool the reflection occurs, (R,) float64 2θ in degrees (shifts
            applied), (R,) float64 integrated intensity).
        hkl: (R, 3) int64 one member of each reflection family.
        rotations: (R, G, 3, 3) int64 the Laue group of each reflection (see :func:`conventional_hkl`).
        d: (R,) float64 d-spacings in Å.
        multiplicity: (R,) int64.
        two_theta_range: the grid's (first, last) 2θ in degrees; sticks outside (by 1e-9°) are left out.
        merge_tolerance: reflections closer than this (degrees) are one peak.
        min_intensity: peaks weaker than this on the scale where the strongest is 100 are dropped.
        lattice: (3, 3) Å, rows a, b, c (for the hexagonal-axes flag).
    """
    low, high = two_theta_range
    hkl_all = conventional_hkl(hkl, rotations)
    tt, inten, hkls, ds, mult, lam, line = [], [], [], [], [], [], []
    for index, (wavelength, keep, two_theta, intensity) in enumerate(lines):
        t = two_theta.cpu().numpy()
        inside = keep.cpu().numpy() & (t >= low - 1e-9) & (t <= high + 1e-9)
        tt.append(t[inside])
        inten.append(intensity.cpu().numpy()[inside])
        hkls.append(hkl_all[inside])
        ds.append(d[inside])
        mult.append(multiplicity[inside])
        lam.append(np.full(int(inside.sum()), wavelength))
        line.append(np.full(int(inside.sum()), index, dtype=np.int64))
    return merge_peaks(
        *(np.concatenate(a) for a in (tt, inten, hkls, ds, mult, lam, line)),
        merge_tolerance,
        min_intensity,
        hexagonal_axes(lattice),
    )
