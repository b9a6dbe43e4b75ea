"""SpaceGroupSampler: the thin class holding configuration, tables and the random stream."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from .._threads import check_num_threads, in_own_threads
from ..structure import Crystal, CrystalBatch
from ..symmetry import space_group_number
from ._core import Composition, DeviceTables, build_device_tables, certify, draw_composition, expand_atoms
from ._counters import SamplerCounters, add_by_group
from ._lattices import draw_lattices, draw_volumes
from ._placement import MAX_EXPANSION, place_sites
from ._probabilities import min_distance_table, space_group_probabilities
from ._statistics import NAMED_STATISTICS, SamplerStatistics, named_statistics
from ._tables import load_tables

__all__ = ["SpaceGroupSampler"]

GEOMETRY_ROUNDS = 2  # rounds of (lattice, coordinates) drafts for a composition before it is redrawn
COMPOSITION_ROUNDS = 20  # compositions tried per crystal before giving up (never reached in practice)
MAX_REPLICAS = 2  # drafts per failed crystal in one round: 1, then 2 (more cost more than they save)
# A composition gets 1 + MAX_REPLICAS geometries before it is redrawn (one round, then one of MAX_REPLICAS).
DRAFTS_PER_COMPOSITION = 1 + MAX_REPLICAS * (GEOMETRY_ROUNDS - 1)
# Compositions tried at once per crystal off the CPU, and on the CPU in calls of fewer than
# WAVES_BELOW crystals (see SpaceGroupSampler.parallel_compositions): a small call's rounds cost mostly
# fixed overhead, so three larger rounds beat fifteen small ones (2.3x for 8 crystals, 1.3x for 128;
# one at a time wins from about 512 on, 2026-12-05).
PARALLEL_COMPOSITIONS = 4
WAVES_BELOW = 384
EXPANSION_GROWTH = 1.15  # the growth allowed over the drawn cell rises by this factor per late round
VERIFY_ROUNDS = 30  # redraws of a crystal whose spglib group is not its label (verify_symprec)


def _check_range(name: str, value: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (0.0 <= low <= high < float("inf")):
        raise ValueError(f"{name} must satisfy 0 <= low <= high < inf, got {value!r}")
    return low, high


class SpaceGroupSampler:
    """Random crystals of given space groups, drawn from statistics of real crystals, as batches in torch.

    For each crystal: a space group (uniformly among ``space_groups``, or as often as in the statistics);
    a real element set of the group's crystal system (smoothed toward all systems); how many Wyckoff sites
    each element occupies, given the element; which Wyckoff positions, from the frequencies of the group's
    letters for anion and for other sites (a position without free parameters at most once per crystal,
    never more than ``max_atoms`` atoms per cell); the cell volume as the sum of the atoms' fitted
    effective volumes times a residual drawn from its fitted distribution; the cell shape from a Gaussian
    fitted per lattice system, with the system's constraints exact, no edge shorter than the fitted
    shortest edge and no near-flat cell; free coordinates placed site by site, then pushed apart along
    each site's free parameters toward every pair's fitted distance, never closer than the fraction
    ``min_distance_floor`` of it (checked exactly; the cell grows just enough where needed, and the
    crystal gets a new geometry beyond 1.3 times its length); B uniform in ``b_iso_range`` per site.
    Occupancies are 1 and charges 0. ``counters`` reports the redraws, overall and per space group.
    docs/sampler.md describes the steps and compares the crystals with real ones.

    Labels are exact by construction: every crystal carries a *certificate* that its symmetry is exactly the
    group, one element alone on one orbit whose symmetry is exactly the group, or two elements alone on
    one orbit each that together have exactly the group, tabulated once with spglib for every position
    (:mod:`xrdsynth.sampler._tables`). A free draw without a certificate is redrawn in a forced form.
    ``scripts/check_sampler_labels.py`` measures the spglib agreement over all 230 groups.

    Everything is vectorised over the batch with torch on ``device``; the random stream is a
    ``torch.Generator`` on that device, created from ``seed`` at first use, so the same seed gives the same
    crystals on the same device and consecutive :meth:`sample` calls continue the stream.

    Args:
        space_groups: allowed groups, an iterable of numbers 1..230 or Hermann–Mauguin symbols of the
            default settings ("Pnma", "P2_1/c"; see :class:`~xrdsynth.symmetry.SpaceGroup`); None for all
            230.
        statistics: ``"default"`` (shipped, fitted on amcsd-dev), ``"default-v1"`` (the statistics shipped
            before fitted volumes and distances, to compare with), a path to a file written by
            :meth:`SamplerStatistics.save`, or a :class:`SamplerStatistics`.
        seed: int, a ``torch.Generator`` on ``device`` (used as is), or None for a non-reproducible stream.
        device: where the tables live and the crystals are made.
        dtype: floating-point dtype of the output batch (lattice, coordinates, B).
        max_atoms: largest number of atoms per conventional cell.
        min_distance_scale: factor on the statistics' pair distances (:meth:`SamplerStatistics.min_distance`:
            fitted per pair, a low quantile of the pair's shortest distance in real structures; the radii
            rule for pairs not seen). Atoms of elements A and B are pushed apart toward this times the
            pair distance and never come closer than the statistics' ``min_distance_floor`` (0.85 for the
            default statistics) times that (:meth:`min_distance_table`); 0 switches both off. Larger
            values cost more redraws and cell expansions (``counters``).
        b_iso_range: (low, high) Å² of the uniform isotropic displacement parameter B per site.
        space_group_weights: ``"uniform"``, ``"statistics"`` (see above), or one non-negative weight per
            entry of ``space_groups`` (e.g. tempered statistics; normalised to probabilities).
        max_attempts: candidate coordinates drawn for a site in the placement before its cell is grown.
        verify_symprec: None (default), or a tolerance in Å: every crystal is then checked with spglib at
            that tolerance, and the ones whose symmetry is higher than their label are redrawn, so that
            every label is exactly spglib's group (``counters.symmetry_rejections`` counts them). The
            certificates alone keep the labels exact for generic coordinates, the certifying sites are
            never pushed and are kept 2e-3 Å clear of special values, so the check only catches what that
            misses (about 1 crystal in 40,000 at 1e-3 Å); it costs a spglib call per crystal on the CPU
            (~1 ms).
        num_threads: torch intra-op threads during :meth:`sample` on the CPU (restored afterwards). The
            work is many small tensor operations: one thread (default) is the fastest per core and does not
            slow down next to a busy process; scale with processes (data-loader workers). None keeps
            torch's setting.
        parallel_compositions: how many compositions a crystal whose draft failed tries at once (each with
            its few geometries; the first that works in the order of one-at-a-time drafting is kept, so the
            crystals follow the same distribution). 1: one at a time, the least work, in about fifteen
            rounds over fewer and fewer crystals; more: a few larger rounds, for a GPU, which is bound by
            the number of operations rather than their size. None (default): 4 off the CPU and in CPU
            calls of fewer than 384 crystals (whose rounds cost mostly fixed overhead), else 1.
    """

    def __init__(
        self,
        space_groups: Iterable[int] | None = None,
        statistics: str | os.PathLike[str] | SamplerStatistics = "default",
        seed: int | torch.Generator | None = 0,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
        max_atoms: int = 100,
        min_distance_scale: float = 1.0,
        b_iso_range: tuple[float, float] = (0.5, 1.5),
        space_group_weights: str | Sequence[float] = "uniform",
        max_attempts: int = 10,
        verify_symprec: float | None = None,
        num_threads: int | None = 1,
        parallel_compositions: int | None = None,
    ) -> None:
        # Only cheap checks here (no I/O, no tables): tables and statistics are built at first use.
        if isinstance(space_groups, (str, int)):
            raise ValueError(
                f"space_groups must be a list of groups (numbers or symbols), e.g. [{space_groups!r}], "
                f"got {space_groups!r}"
            )
        self.space_groups: tuple[int, ...] = (
            tuple(range(1, 231))
            if space_groups is None
            else tuple(space_group_number(g) for g in space_groups)
        )
        if not self.space_groups:
            raise ValueError("space_groups must not be empty (None means all 230)")
        if not isinstance(statistics, (str, os.PathLike, SamplerStatistics)):
            raise ValueError(
                f"statistics must be one of {sorted(NAMED_STATISTICS)}, a path or SamplerStatistics, "
                f"got {statistics!r}"
            )
        if (
            not isinstance(statistics, SamplerStatistics)
            and statistics not in NAMED_STATISTICS
            and not Path(statistics).is_file()
        ):
            raise ValueError(
                f"statistics file {os.fspath(statistics)!r} does not exist (shipped statistics by name: "
                f"{sorted(NAMED_STATISTICS)})"
            )
        self.statistics = statistics
        if (seed is not None and not isinstance(seed, (int, torch.Generator))) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int, a torch.Generator or None, got {seed!r}")
        self.seed = seed
        self.device = torch.device(device)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point torch dtype, got {dtype!r}")
        self.dtype = dtype
        if isinstance(max_atoms, bool) or not isinstance(max_atoms, int) or max_atoms < 1:
            raise ValueError(f"max_atoms must be a positive int, got {max_atoms!r}")
        self.max_atoms = max_atoms
        if not 0.0 <= float(min_distance_scale) < 2.0:
            raise ValueError(f"min_distance_scale must be in [0, 2), got {min_distance_scale!r}")
        self.min_distance_scale = float(min_distance_scale)
        self.b_iso_range = _check_range("b_iso_range", b_iso_range)
        if isinstance(space_group_weights, str):
            if space_group_weights not in ("uniform", "statistics"):
                raise ValueError(
                    "space_group_weights must be 'uniform', 'statistics' or one weight per group, "
                    f"got {space_group_weights!r}"
                )
        else:
            try:
                weights = tuple(float(w) for w in space_group_weights)
            except (TypeError, ValueError):
                raise ValueError(
                    "space_group_weights must be 'uniform', 'statistics' or numbers, "
                    f"got {space_group_weights!r}"
                ) from None
            if len(weights) != len(self.space_groups):
                raise ValueError(
                    f"space_group_weights has {len(weights)} weights for "
                    f"{len(self.space_groups)} space groups"
                )
            if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
                raise ValueError("space_group_weights must be finite, >= 0 and not all 0")
            space_group_weights = weights
        self.space_group_weights = space_group_weights
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive int, got {max_attempts!r}")
        self.max_attempts = max_attempts
        self.num_threads = check_num_threads(num_threads)
        if parallel_compositions is not None and (
            isinstance(parallel_compositions, bool)
            or not isinstance(parallel_compositions, int)
            or not 1 <= parallel_compositions <= COMPOSITION_ROUNDS
        ):
            raise ValueError(
                f"parallel_compositions must be None or an int in 1..{COMPOSITION_ROUNDS}, "
                f"got {parallel_compositions!r}"
            )
        self.parallel_compositions = parallel_compositions
        if verify_symprec is not None and not (
            isinstance(verify_symprec, (int, float)) and 0.0 < float(verify_symprec) < 1.0
        ):
            raise ValueError(
                f"verify_symprec must be None or a tolerance in (0, 1) Å, got {verify_symprec!r}"
            )
        self.verify_symprec = None if verify_symprec is None else float(verify_symprec)
        self._generator: torch.Generator | None = seed if isinstance(seed, torch.Generator) else None
        self._tables: DeviceTables | None = None
        self._group_probability: torch.Tensor | None = None
        self._min_distance: torch.Tensor | None = None
        self._target_distance: torch.Tensor | None = None
        self._counters = SamplerCounters()

    # -----------------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        groups = (
            "None"
            if self.space_groups == tuple(range(1, 231))
            else (
                repr(list(self.space_groups))
                if len(self.space_groups) <= 8
                else f"<{len(self.space_groups)} groups>"
            )
        )
        statistics = (
            f"<{self.statistics.source}>"
            if isinstance(self.statistics, SamplerStatistics)
            else repr(os.fspath(self.statistics))
        )
        seed = "<Generator>" if isinstance(self.seed, torch.Generator) else repr(self.seed)
        weights = self.space_group_weights if isinstance(self.space_group_weights, str) else "<weights>"
        return (
            f"SpaceGroupSampler(space_groups={groups}, statistics={statistics}, seed={seed}, "
            f"device={str(self.device)!r}, dtype={self.dtype}, max_atoms={self.max_atoms}, "
            f"min_distance_scale={self.min_distance_scale}, b_iso_range={self.b_iso_range}, "
            f"space_group_weights={weights!r}, verify_symprec={self.verify_symprec}, "
            f"num_threads={getattr(self, 'num_threads', 1)}, "
            f"parallel_compositions={self.parallel_compositions})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Tables are rebuilt on use (cheap, cached per process); the random stream travels as its state so
        # that a copy continues exactly where the original was.
        state = {
            k: v
            for k, v in self.__dict__.items()
            if k not in ("_tables", "_group_probability", "_generator", "_min_distance", "_target_distance")
        }
        if isinstance(state.get("seed"), torch.Generator):
            state["seed"] = None
        state["_generator_state"] = None if self._generator is None else self._generator.get_state()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        generator_state = state.pop("_generator_state")
        state.setdefault("parallel_compositions", None)  # pickled before the option existed
        self.__dict__.update(state)
        self._tables = None
        self._group_probability = None
        self._min_distance = None
        self._target_distance = None
        self._generator = None
        if generator_state is not None:
            self._generator = torch.Generator(device=self.device)
            self._generator.set_state(generator_state)

    # -----------------------------------------------------------------------------------------------------

    @property
    def counters(self) -> SamplerCounters:
        """How often the sampler redrew, since construction or :meth:`reset_counters`."""
        return self._counters

    def reset_counters(self) -> None:
        """Start the redraw counters again from zero."""
        self._counters = SamplerCounters()

    @property
    def generator(self) -> torch.Generator:
        """The sampler's random stream on its device (created from ``seed`` at first use)."""
        if self._generator is None:
            generator = torch.Generator(device=self.device)
            if self.seed is None:
                generator.seed()  # non-deterministic, and the global generator stays untouched
            else:
                generator.manual_seed(int(self.seed))
            self._generator = generator
        return self._generator

    def resolved_statistics(self) -> SamplerStatistics:
        """The statistics object the sampler draws from (loads the file on first call)."""
        if isinstance(self.statistics, SamplerStatistics):
            return self.statistics
        if isinstance(self.statistics, str) and self.statistics in NAMED_STATISTICS:
            return named_statistics(self.statistics)
        return SamplerStatistics.load(self.statistics)

    def min_distance_table(self) -> npt.NDArray[np.float64]:
        """(119, 119) float64 symmetric: the minimum distance in Å the sampler keeps between atoms of
        atomic numbers i and j, ``min_distance_scale`` x the statistics' ``min_distance_floor`` x their
        pair distance; row and column 0 are padding. Pairs are pushed toward the pair distance itself
        (:meth:`target_distance_table`) where the crystal leaves room."""
        return self.target_distance_table() * self.resolved_statistics().min_distance_floor

    def target_distance_table(self) -> npt.NDArray[np.float64]:
        """(119, 119) float64: the distance in Å the sampler pushes each pair toward, ``min_distance_scale``
        x the statistics' pair distance (:meth:`SamplerStatistics.min_distance`)."""
        return min_distance_table(self.resolved_statistics()) * self.min_distance_scale

    def _device_tables(self) -> DeviceTables:
        if self._tables is None:
            tables = build_device_tables(
                load_tables(), self.resolved_statistics(), self.max_atoms, self.device, self.dtype
            )
            mode = tables.witness_mode.cpu()
            impossible = [g for g in self.space_groups if int(mode[g - 1]) == 0]
            if impossible:
                raise ValueError(self._impossible_message(impossible))
            probability = space_group_probabilities(
                self.resolved_statistics(), self.space_groups, self.space_group_weights
            )
            self._group_probability = torch.tensor(probability, dtype=torch.float64, device=self.device)
            self._min_distance = torch.tensor(self.min_distance_table(), dtype=self.dtype, device=self.device)
            self._target_distance = torch.tensor(
                self.target_distance_table(), dtype=self.dtype, device=self.device
            )
            self._tables = tables
        return self._tables

    def _impossible_message(self, groups: list[int]) -> str:
        t = load_tables()
        needed = []
        for g in groups[:5]:
            rows = t.positions_of(g)
            m = t.multiplicity[rows.start : rows.stop]
            single = m[t.faithful[rows.start : rows.stop]]
            pair = (m[:, None] + m[None, :])[t.pair_faithful[g - 1, : len(m), : len(m)]]
            smallest = min([*single.tolist(), *pair.tolist()])
            needed.append(f"{g} needs {smallest}")
        more = "" if len(groups) <= 5 else f" (and {len(groups) - 5} more groups)"
        return (
            f"max_atoms={self.max_atoms} is too small for space groups {groups[:5]}{more}: a crystal whose "
            f"label is certain needs at least this many atoms per cell: {', '.join(needed)}"
        )

    # -----------------------------------------------------------------------------------------------------

    @in_own_threads
    def sample(
        self, n: int, space_group: int | str | None = None, generator: torch.Generator | None = None
    ) -> CrystalBatch:
        """Draw ``n`` crystals.

        Args:
            n: number of crystals (>= 1).
            space_group: one group (number 1..230 or symbol) for all of them; None draws groups from
                ``space_groups``.
            generator: a ``torch.Generator`` on the sampler's device to draw from instead of the sampler's
                own stream (which then does not advance), e.g. one per data-loader worker.

        Returns:
            A :class:`~xrdsynth.CrystalBatch` on ``device`` with floats in ``dtype``: atoms padded to the
            largest count in the batch (``mask``), occupancies 1, charges 0, labels in ``space_group``.

        Raises:
            ValueError: bad ``n`` or ``space_group``, or a group that cannot be built within ``max_atoms``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if space_group is not None:
            space_group = space_group_number(space_group)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        t = self._device_tables()
        if space_group is not None and int(t.witness_mode[space_group - 1]) == 0:
            raise ValueError(self._impossible_message([space_group]))
        gen = self.generator if generator is None else generator
        if space_group is None:
            assert self._group_probability is not None
            index = torch.multinomial(self._group_probability, n, replacement=True, generator=gen)
            groups = index + 1
        else:
            groups = torch.full((n,), space_group, dtype=torch.int64, device=self.device)
        batch = self._sample_groups(t, groups, gen)
        if self.verify_symprec is not None:
            batch = self._verified(t, batch, gen)
        return batch

    def _verified(self, t: DeviceTables, batch: CrystalBatch, gen: torch.Generator) -> CrystalBatch:
        """``batch`` with every crystal whose spglib group differs from its label redrawn (bounded rounds)."""
        symprec = self.verify_symprec
        assert symprec is not None
        crystals = batch.to_crystals()
        bad = [i for i, c in enumerate(crystals) if _spglib_number(c, symprec) != c.space_group]
        rejected = 0
        rejected_groups: list[int] = []
        for _ in range(VERIFY_ROUNDS):
            if not bad:
                break
            rejected += len(bad)
            rejected_groups += [crystals[i].space_group for i in bad]
            redrawn = self._sample_groups(t, batch.space_group[bad], gen).to_crystals()
            still = []
            for i, crystal in zip(bad, redrawn, strict=True):
                crystals[i] = crystal
                if _spglib_number(crystal, symprec) != crystal.space_group:
                    still.append(i)
            bad = still
        else:
            if bad:
                raise RuntimeError(
                    f"{len(bad)} crystals still have more symmetry than their label after {VERIFY_ROUNDS} "
                    f"redraws at verify_symprec={symprec} Å; use a smaller tolerance"
                )
        # Redrawn crystals were counted by _sample_groups; only the returned ones count as crystals.
        counters = self._counters
        self._counters = dataclasses.replace(
            counters,
            crystals=counters.crystals - rejected,
            symmetry_rejections=counters.symmetry_rejections + rejected,
            crystals_by_group=add_by_group(
                counters.crystals_by_group, -torch.bincount(torch.tensor(rejected_groups), minlength=231)
            )
            if rejected
            else counters.crystals_by_group,
            rejections_by_group=add_by_group(
                counters.rejections_by_group, torch.bincount(torch.tensor(rejected_groups), minlength=231)
            )
            if rejected
            else counters.rejections_by_group,
        )
        if not rejected:
            return batch
        return CrystalBatch.from_crystals(crystals, device=self.device, dtype=self.dtype)

    def _compositions(self, t: DeviceTables, groups: torch.Tensor, gen: torch.Generator) -> Composition:
        """Free compositions, with the ones lacking a certificate redrawn in the forced form."""
        free = torch.zeros_like(groups, dtype=torch.bool)
        c = draw_composition(t, groups, free, gen)
        missing = torch.nonzero(~certify(t, c)).squeeze(1)
        if missing.numel():
            forced = draw_composition(t, groups[missing], torch.ones_like(missing, dtype=torch.bool), gen)
            if not bool(certify(t, forced).all()):
                raise RuntimeError("internal error: a forced composition does not certify its space group")
            c = c.put(missing, forced)
        self._counters = dataclasses.replace(
            self._counters,
            compositions=self._counters.compositions + len(groups),
            forced_certificates=self._counters.forced_certificates + missing.numel(),
        )
        return c.by_freedom(t)

    def _compositions_at_once(self, n: int) -> int:
        """How many compositions a crystal that still needs one tries at once in a call for ``n`` crystals:
        ``parallel_compositions``, or when None ``PARALLEL_COMPOSITIONS`` off the CPU and in CPU calls of
        fewer than ``WAVES_BELOW`` crystals, else 1."""
        if self.parallel_compositions is not None:
            return self.parallel_compositions
        return 1 if self.device.type == "cpu" and n >= WAVES_BELOW else PARALLEL_COMPOSITIONS

    def _sample_groups(self, t: DeviceTables, groups: torch.Tensor, gen: torch.Generator) -> CrystalBatch:
        n = groups.shape[0]
        out = _Drafts(n, self.max_atoms, self.device, self.dtype)
        if self._compositions_at_once(n) > 1:
            self._place_in_waves(t, groups, gen, out)
        else:
            self._place_in_turn(t, groups, gen, out)
        counters = self._counters
        self._counters = dataclasses.replace(
            counters,
            crystals=counters.crystals + n,
            geometries=counters.geometries + out.geometries,
            site_draws=counters.site_draws + out.site_draws,
            expansions=counters.expansions + int(out.expansions_by_group.sum()),
            sites=counters.sites + out.sites,
            crystals_by_group=add_by_group(counters.crystals_by_group, torch.bincount(groups, minlength=231)),
            geometries_by_group=add_by_group(counters.geometries_by_group, out.geometries_by_group),
            expansions_by_group=add_by_group(counters.expansions_by_group, out.expansions_by_group),
        )
        return out.batch(groups)

    def _draft(
        self,
        t: DeviceTables,
        c: Composition,
        volume: torch.Tensor,
        allowed: float | torch.Tensor,
        gen: torch.Generator,
        out: _Drafts,
    ) -> tuple[torch.Tensor, Callable[[torch.Tensor, torch.Tensor], None]]:
        """Draw a lattice of ``volume`` for each composition of ``c`` and place its atoms. Returns (placed,
        keep): ``placed`` (m,) bool, and ``keep(rows, drafts)`` writes drafts (indices into ``c``) as the
        crystals ``rows`` of the output."""
        atoms = expand_atoms(t, c)
        lattice = draw_lattices(t, c.group, volume, gen)
        xyz, lattice, placed, draws, expanded = place_sites(
            t, c, atoms, lattice, self._min_distance, self._target_distance, self.max_attempts, gen,
            max_expansion=allowed,
        )  # fmt: skip
        low, high = self.b_iso_range
        b_site = low + (high - low) * torch.rand(
            c.number.shape, dtype=self.dtype, device=self.device, generator=gen
        )
        out.geometries += len(c.group)
        out.site_draws += draws
        out.geometries_by_group += torch.bincount(c.group, minlength=231)
        out.expansions_by_group += torch.bincount(c.group, weights=expanded, minlength=231).to(torch.int64)

        def keep(rows: torch.Tensor, done: torch.Tensor) -> None:
            c_done = c.take(done)
            k = xyz.shape[1]
            site = atoms.site[done]
            out.lattice[rows] = lattice[done]
            out.xyz[rows, :k] = xyz[done]
            out.numbers[rows, :k] = c_done.number.gather(1, site) * atoms.mask[done]
            out.b_iso[rows, :k] = b_site[done].gather(1, site) * atoms.mask[done]
            out.mask[rows, :k] = atoms.mask[done]
            out.sites += int(c_done.valid.sum())

        return placed, keep

    def _place_in_turn(
        self, t: DeviceTables, groups: torch.Tensor, gen: torch.Generator, out: _Drafts
    ) -> None:
        """A crystal draws its next geometry, or its next composition, only when the last one failed: the
        least work, in many rounds over fewer and fewer crystals (the CPU's way)."""
        n = groups.shape[0]
        composition = self._compositions(t, groups, gen)
        # The volume is drawn with the composition and kept through its geometry redraws: redrawing it
        # with them would favour the larger volumes (they fail less) over what the statistics say.
        target = draw_volumes(t, composition, gen, self.dtype)
        pending = torch.arange(n, device=self.device)
        replicas = 1
        for round_ in range(GEOMETRY_ROUNDS * COMPOSITION_ROUNDS):
            if round_ and round_ % GEOMETRY_ROUNDS == 0:
                fresh = self._compositions(t, groups[pending], gen)
                composition = composition.put(pending, fresh)
                target[pending] = draw_volumes(t, fresh, gen, self.dtype)
                replicas = 1
            # A crystal that failed gets several geometries at once (the first that works is kept): fewer
            # rounds over the few hard crystals, whose per-round cost is mostly fixed overhead.
            rows_now = pending.repeat_interleave(replicas)
            c = composition.take(rows_now)
            placed, keep = self._draft(
                t, c, target[rows_now], _allowed_expansion(round_ // GEOMETRY_ROUNDS), gen, out
            )
            pending = _keep_first(pending, placed, replicas, keep)
            if pending.numel() == 0:
                return
            replicas = min(replicas * 4, MAX_REPLICAS)
        self._give_up(pending)

    def _place_in_waves(
        self, t: DeviceTables, groups: torch.Tensor, gen: torch.Generator, out: _Drafts
    ) -> None:
        """Each crystal tries one composition with its ``DRAFTS_PER_COMPOSITION`` geometries at once, then
        each that still needs one k compositions at once (k = :meth:`_compositions_at_once`), and
        keeps the first draft that works in the order the CPU walks one at a time (composition, then
        geometry): the same distribution of crystals in a few rounds instead of about fifteen, for devices
        bound by the number of operations rather than their size, and for small calls on the CPU."""
        g = DRAFTS_PER_COMPOSITION
        pending = torch.arange(groups.shape[0], device=self.device)
        at_once = self._compositions_at_once(len(groups))
        tried = 0  # compositions each pending crystal has tried
        while tried < COMPOSITION_ROUNDS:
            k = min(1 if tried == 0 else at_once, COMPOSITION_ROUNDS - tried)
            c = self._compositions(t, groups[pending].repeat_interleave(k), gen)
            volume = draw_volumes(t, c, gen, self.dtype)
            number = tried + torch.arange(k, device=self.device).repeat(len(pending))
            drafts = torch.arange(len(c.group), device=self.device).repeat_interleave(g)
            allowed = _allowed_expansion(number)[drafts]
            placed, keep = self._draft(t, c.take(drafts), volume[drafts], allowed, gen, out)
            pending = _keep_first(pending, placed, k * g, keep)
            tried += k
            if pending.numel() == 0:
                return
        self._give_up(pending)

    def _give_up(self, pending: torch.Tensor) -> None:
        raise RuntimeError(
            f"could not place the atoms of {pending.numel()} crystals at min_distance_scale="
            f"{self.min_distance_scale} after {COMPOSITION_ROUNDS} compositions each; "
            "lower min_distance_scale"
        )


def _keep_first(
    pending: torch.Tensor,
    placed: torch.Tensor,
    drafts: int,
    keep: Callable[[torch.Tensor, torch.Tensor], None],
) -> torch.Tensor:
    """Keep, for each of the crystals ``pending`` (p,), the first of its ``drafts`` consecutive drafts that
    ``placed`` (p * drafts,) bool says worked (``keep(rows, draft indices)``); returns the crystals none of
    whose drafts worked."""
    success = placed.view(len(pending), drafts)
    found = success.any(dim=1)
    chosen = torch.arange(len(pending), device=pending.device) * drafts + torch.argmax(
        success.to(torch.int8), dim=1
    )
    if bool(found.any()):
        keep(pending[found], chosen[found])
    return pending[~found]


def _allowed_expansion(composition: int | torch.Tensor) -> float | torch.Tensor:
    """The growth in length over the drawn cell allowed to a crystal's ``composition``-th composition (0 the
    first; an int, or a tensor of them): from the fifth on a little more each time, so that a volume far too
    small for every composition drawn (statistics fitted on a few structures, a calibration step too far)
    still ends in a crystal instead of an error; the usual crystals never get there."""
    if isinstance(composition, int):
        return MAX_EXPANSION * EXPANSION_GROWTH ** max(0, composition - 4)
    late = (composition - 4).clamp(min=0).to(torch.float64)
    return MAX_EXPANSION * torch.pow(torch.full_like(late, EXPANSION_GROWTH), late)


class _Drafts:
    """The output of one :meth:`SpaceGroupSampler.sample` call as it fills, and its redraw counts."""

    def __init__(self, n: int, width: int, device: torch.device, dtype: torch.dtype) -> None:
        self.lattice = torch.zeros((n, 3, 3), dtype=dtype, device=device)
        self.xyz = torch.zeros((n, width, 3), dtype=dtype, device=device)
        self.numbers = torch.zeros((n, width), dtype=torch.int64, device=device)
        self.b_iso = torch.zeros((n, width), dtype=dtype, device=device)
        self.mask = torch.zeros((n, width), dtype=torch.bool, device=device)
        self.geometries = self.site_draws = self.sites = 0
        self.geometries_by_group = torch.zeros(231, dtype=torch.int64, device=device)
        self.expansions_by_group = torch.zeros(231, dtype=torch.int64, device=device)

    def batch(self, groups: torch.Tensor) -> CrystalBatch:
        used = max(int(self.mask.sum(dim=1).max()), 1)
        mask = self.mask[:, :used]
        return CrystalBatch(
            lattice=self.lattice,
            frac_coords=self.xyz[:, :used],
            numbers=self.numbers[:, :used],
            occupancies=mask.to(self.lattice.dtype),
            b_iso=self.b_iso[:, :used],
            charges=torch.zeros(mask.shape, dtype=self.lattice.dtype, device=mask.device),
            mask=mask,
            space_group=groups.clone(),
        )


def _spglib_number(crystal: Crystal, symprec: float) -> int:
    """spglib's group of a sampled crystal, or 0 when spglib cannot tell (counted as a mismatch)."""
    try:
        return crystal.detect_space_group(symprec)
    except ValueError:
        return 0
