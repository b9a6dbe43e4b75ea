"""Lattice geometry in numpy: cell parameters <-> lattice matrices, the standard orientation, U_eq.

All lattices are (3, 3) float64 arrays in Å whose rows are the cell vectors a, b, c. The standard orientation
(the one :class:`xrdsynth.Crystal` stores) puts a along x and b in the xy plane with positive y, and c has a
positive z component; the matrix is then lower triangular with a positive diagonal, which is the Cholesky
factor of the metric tensor G = L Lᵀ.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "lattice_for_system",
    "lattice_from_parameters",
    "parameters_from_lattice",
    "standard_orientation",
    "u_equivalent",
    "volume_from_parameters",
]


def _cos_deg(angle: float) -> float:
    # cos(radians(90)) is 6e-17, not 0; exact zeros keep orthogonal cells exactly orthogonal.
    if angle == 90.0:
        return 0.0
    return float(np.cos(np.radians(angle)))


def volume_from_parameters(a: float, b: float, c: float, alpha: float, beta: float, gamma: float) -> float:
    """Cell volume in Å³ from lengths (Å) and angles (degrees); NaN when the angles describe no cell."""
    ca, cb, cg = _cos_deg(alpha), _cos_deg(beta), _cos_deg(gamma)
    radicand = 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg
    if not np.isfinite(radicand) or radicand <= 0.0:
        return float("nan")
    return float(a * b * c * np.sqrt(radicand))


def lattice_from_parameters(
    a: float, b: float, c: float, alpha: float, beta: float, gamma: float
) -> npt.NDArray[np.float64]:
    """(3, 3) float64 lattice in Å, rows a, b, c, in the standard orientation.

    Args:
        a, b, c: cell lengths in Å (> 0).
        alpha, beta, gamma: cell angles in degrees, each in (0, 180), together describing a cell of
            positive volume.

    Raises:
        ValueError: non-finite or non-positive lengths, or angles that give no cell.
    """
    params = np.array([a, b, c, alpha, beta, gamma], dtype=np.float64)
    if not np.all(np.isfinite(params)):
        raise ValueError(f"cell parameters must be finite, got {params.tolist()}")
    if np.any(params[:3] <= 0):
        raise ValueError(f"cell lengths must be positive, got {params[:3].tolist()}")
    if np.any(params[3:] <= 0) or np.any(params[3:] >= 180):
        raise ValueError(f"cell angles must lie in (0, 180) degrees, got {params[3:].tolist()}")
    volume = volume_from_parameters(a, b, c, alpha, beta, gamma)
    if not volume > 0:
        raise ValueError(f"cell angles {params[3:].tolist()} describe no cell (volume is not positive)")
    ca, cb, cg = _cos_deg(alpha), _cos_deg(beta), _cos_deg(gamma)
    sg = float(np.sin(np.radians(gamma))) if gamma != 90.0 else 1.0
    cx = c * cb
    cy = c * (ca - cb * cg) / sg
    cz = volume / (a * b * sg)
    return np.array([[a, 0.0, 0.0], [b * cg, b * sg, 0.0], [cx, cy, cz]], dtype=np.float64)


def parameters_from_lattice(lattice: npt.ArrayLike) -> tuple[float, float, float, float, float, float]:
    """(a, b, c, alpha, beta, gamma) in Å and degrees from a (3, 3) lattice with rows a, b, c."""
    lat = np.asarray(lattice, dtype=np.float64)
    lengths = np.linalg.norm(lat, axis=1)

    def angle(i: int, j: int) -> float:
        cosine = float(lat[i] @ lat[j]) / (lengths[i] * lengths[j])
        return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))

    return (
        float(lengths[0]),
        float(lengths[1]),
        float(lengths[2]),
        angle(1, 2),
        angle(0, 2),
        angle(0, 1),
    )


def standard_orientation(lattice: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The same cell rotated rigidly into the standard orientation (lower-triangular rows a, b, c).

    Fractional coordinates do not change under the rotation. The input must be right-handed (det > 0).
    """
    lat = np.asarray(lattice, dtype=np.float64)
    metric = lat @ lat.T
    # The Cholesky factor of G is the unique lower-triangular L with positive diagonal and L Lᵀ = G.
    return np.linalg.cholesky(metric)


def u_equivalent(lattice: npt.ArrayLike, u_aniso: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Equivalent isotropic displacement U_eq (Å²) of CIF anisotropic U^ij.

    U_eq = tr(U_cart) / 3 with U_cart = M N U N Mᵀ, where M has the direct cell vectors as columns and
    N = diag(a*, b*, c*) (Fischer & Tillmanns, Acta Cryst. C44 (1988) 775). For orthogonal axes this is
    (U11 + U22 + U33) / 3.

    Args:
        lattice: (3, 3) rows a, b, c in Å.
        u_aniso: (..., 6) as U11, U22, U33, U12, U13, U23 in Å² (the CIF ``_atom_site_aniso_U_ij`` values).

    Returns:
        (...,) float64 U_eq in Å².
    """
    lat = np.asarray(lattice, dtype=np.float64)
    u = np.asarray(u_aniso, dtype=np.float64)
    recip = np.linalg.inv(lat).T  # rows a*, b*, c* (without 2π)
    n = np.diag(np.linalg.norm(recip, axis=1))
    m = lat.T
    u11, u22, u33, u12, u13, u23 = (u[..., k] for k in range(6))
    tensor = np.stack(
        [
            np.stack([u11, u12, u13], axis=-1),
            np.stack([u12, u22, u23], axis=-1),
            np.stack([u13, u23, u33], axis=-1),
        ],
        axis=-2,
    )
    transform = m @ n
    u_cart = transform @ tensor @ transform.T
    return np.trace(u_cart, axis1=-2, axis2=-1) / 3.0


def lattice_for_system(
    system: str, a: float, b: float, c: float, alpha: float, beta: float, gamma: float
) -> npt.NDArray[np.float64]:
    """A lattice of the given lattice system from parameters, with the system's equalities imposed.

    Tetragonal: b = a; hexagonal and rhombohedral (hexagonal axes): b = a, gamma = 120; cubic: b = c = a; the
    angles a system fixes are set to 90. ``alpha``, ``beta``, ``gamma`` matter for triclinic cells, ``beta``
    for monoclinic ones (b unique).
    """
    if system != "triclinic":
        alpha = gamma = 90.0
        if system != "monoclinic":
            beta = 90.0
    if system in ("tetragonal", "hexagonal", "rhombohedral", "cubic"):
        b = a
    if system in ("hexagonal", "rhombohedral"):
        gamma = 120.0
    if system == "cubic":
        c = a
    return lattice_from_parameters(a, b, c, alpha, beta, gamma)
