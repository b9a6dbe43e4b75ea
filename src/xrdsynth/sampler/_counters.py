"""What drawing the crystals took: :class:`SamplerCounters`, the redraw counts a sampler keeps."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SamplerCounters", "add_by_group"]


@dataclass(frozen=True)
class SamplerCounters:
    """How much drawing it took to produce the crystals so far (since construction or :meth:`reset`).

    Attributes:
        crystals: crystals returned.
        compositions: compositions drawn (>= crystals; the excess was discarded because some site could not
            be placed at the minimum distance in any of its geometries).
        forced_certificates: compositions redrawn in the forced form because the free draw did not certify
            its space group (see :mod:`xrdsynth.sampler._tables`).
        geometries: (lattice, coordinates) drafts made for compositions.
        site_draws: free-coordinate draws of Wyckoff sites (first draws and redraws).
        expansions: cell expansions by 5% in length because a site found no place.
        sites: Wyckoff sites in the crystals returned.
        symmetry_rejections: crystals redrawn because spglib found more symmetry than their label
            (only with ``verify_symprec``).
        crystals_by_group, geometries_by_group, expansions_by_group: (230,) the same counts per space
            group (index number - 1); empty before the first crystal. See :meth:`by_group`.
        rejections_by_group: (230,) ``symmetry_rejections`` per space group; empty before the first one.
    """

    crystals: int = 0
    compositions: int = 0
    forced_certificates: int = 0
    geometries: int = 0
    site_draws: int = 0
    expansions: int = 0
    sites: int = 0
    symmetry_rejections: int = 0
    crystals_by_group: tuple[int, ...] = ()
    geometries_by_group: tuple[int, ...] = ()
    expansions_by_group: tuple[int, ...] = ()
    rejections_by_group: tuple[int, ...] = ()

    def by_group(self) -> dict[int, tuple[int, float, float]]:
        """Space group -> (crystals, geometries per crystal, cell expansions per crystal), for every group
        sampled so far. Geometries per crystal above 1 are redraws of lattice and coordinates because some
        site found no place at the minimum distances."""
        return {
            g + 1: (n, self.geometries_by_group[g] / n, self.expansions_by_group[g] / n)
            for g, n in enumerate(self.crystals_by_group)
            if n
        }

    def rejection_rates(self) -> dict[int, float]:
        """Space group -> crystals redrawn after the spglib check per crystal returned, for every group
        sampled so far (``verify_symprec``)."""
        if not self.rejections_by_group:
            return {g: 0.0 for g in self.by_group()}
        return {g: self.rejections_by_group[g - 1] / n for g, (n, _, _) in self.by_group().items()}

    def summary(self) -> str:
        """One line with the redraw rates."""
        if self.crystals == 0:
            return "no crystals sampled yet"
        return (
            f"{self.crystals} crystals: {self.geometries / self.crystals:.3f} geometries and "
            f"{self.compositions / self.crystals:.3f} compositions per crystal, "
            f"{self.site_draws / max(self.sites, 1):.3f} coordinate draws per site, "
            f"{self.expansions / self.crystals:.3f} cell expansions per crystal, "
            f"{self.forced_certificates / max(self.compositions, 1):.2%} of the compositions forced "
            "to certify their group"
            + (
                f", {self.symmetry_rejections} crystals redrawn after the spglib check"
                if self.symmetry_rejections
                else ""
            )
        )


def add_by_group(counts: tuple[int, ...], more: torch.Tensor) -> tuple[int, ...]:
    """Per-group counts (230,) plus a (231,) bincount over group numbers (index 0 unused)."""
    values = more[1:].tolist()
    return tuple(a + b for a, b in zip(counts, values, strict=True)) if counts else tuple(values)
