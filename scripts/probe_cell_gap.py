"""Why a classifier recognises sampled crystals better than real ones of the same group: swap their parts.

    python scripts/probe_cell_gap.py ../shared/data/amcsd-dev [--cache /tmp/amcsd.pkl]
        [--model xrdsynth-resnet-cu] [--groups 14 15 12] [--jitter 0.01 0.03 0.1] [--seed 4]
        [--statistics default]

For each space group, every amcsd-dev structure of that group (at most 100 atoms, standardised by spglib,
all sites fully occupied by their main element) and as many crystals of ``SpaceGroupSampler(seed)`` for the
group (with ``--statistics``, a shipped name or a statistics file), simulated clean as in
``evaluate_classifier.py`` (Gaussian peaks, Scherrer 20-100 nm, Cu Kα1) on the model's grid. Top-1 of
the model (with its stored calibration) on:

- the real structures, and the sampled crystals;
- the sampled crystals' atoms (fractional coordinates, elements) on the cells of the real structures, scaled
  to the sampled crystal's volume, and the real atoms on the sampled cells scaled to the real volume: a
  powder pattern depends on the lattice only through its metric, so this separates what the cells do from
  what the atoms do;
- the sampled atoms on the real cells with every edge length multiplied by exp(N(0, s)) for each ``--jitter``
  s (angles kept, volume kept): how much of the real cells' effect survives noise of a given size;
- the sampled atoms on real cells of each other group of ``--groups`` (of the same lattice system, for the
  shapes to fit the atoms' symmetry): whether any real cell does it, or the group's own.

Measured 2026-12-03 on the shipped network (docs/sampler.md, "Cell shapes by space group"): the real
cells of the group itself, not the atoms, carry the gap.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import spglib

import xrdsynth as xs
from xrdsynth.models import load_pretrained
from xrdsynth.symmetry import lattice_system

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import amcsd_crystals, answers_on_grid, simulate_on_grid


def standard_crystal(crystal: xs.Crystal, space_group: int, symprec: float = 1e-2) -> xs.Crystal | None:
    """The crystal in spglib's standardised conventional cell, or None where spglib finds another group.

    Partially occupied sites become fully occupied by the element listed (spglib sees types, not
    occupancies); for a clean powder pattern of the kind the classifier reads, that is close enough."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="spglib")
        try:
            data = spglib.get_symmetry_dataset(
                (crystal.lattice, crystal.frac_coords, crystal.numbers), symprec=symprec
            )
        except spglib.SpglibError:
            return None
    if data is None or data.number != space_group:
        return None
    return xs.Crystal(
        lattice=data.std_lattice, frac_coords=data.std_positions % 1.0, numbers=data.std_types,
        space_group=space_group,
    )  # fmt: skip


def on_lattice(crystal: xs.Crystal, lattice: np.ndarray) -> xs.Crystal:
    """The crystal's atoms (fractional coordinates, elements, occupancies, B) on ``lattice`` (3, 3) Å,
    scaled to the crystal's own volume."""
    lattice = np.asarray(lattice, dtype=np.float64)
    scaled = lattice * (crystal.volume / abs(np.linalg.det(lattice))) ** (1.0 / 3.0)
    return xs.Crystal(
        lattice=scaled, frac_coords=crystal.frac_coords, numbers=crystal.numbers,
        occupancies=crystal.occupancies, b_iso=crystal.b_iso, space_group=crystal.space_group,
    )  # fmt: skip


def jitter_edges(lattice: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``lattice`` (3, 3) Å with each edge length multiplied by exp(N(0, sigma)), the angles kept."""
    a, b, c, alpha, beta, gamma = xs.Crystal(
        lattice=lattice, frac_coords=np.zeros((1, 3)), numbers=[1]
    ).cell_parameters
    factors = np.exp(rng.normal(0.0, sigma, 3)) if sigma > 0 else np.ones(3)
    return xs.Crystal.lattice_from_parameters(
        a * factors[0], b * factors[1], c * factors[2], alpha, beta, gamma
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("amcsd", type=Path, help="amcsd-dev folder (with index.csv)")
    parser.add_argument("--cache", type=Path, default=None, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument("--model", default="xrdsynth-resnet-cu", help="shipped name or folder")
    parser.add_argument("--groups", type=int, nargs="+", default=[14, 15, 12])
    parser.add_argument("--jitter", type=float, nargs="*", default=[0.01, 0.03, 0.1])
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--max-atoms", type=int, default=100)
    parser.add_argument("--statistics", default="default", help="the sampler's statistics: name or file")
    args = parser.parse_args(argv)
    classifier = load_pretrained(args.model)
    crystals, labels, _ = amcsd_crystals(args.amcsd, args.cache)
    rng = np.random.default_rng(args.seed)

    def top1(group_crystals: list[xs.Crystal], group: int) -> float:
        patterns = simulate_on_grid(classifier, group_crystals, args.seed)
        return float(np.mean(answers_on_grid(classifier, patterns) == group))

    real = {
        group: [
            s
            for i in np.flatnonzero(labels == group)
            if crystals[i].num_atoms <= args.max_atoms
            and (s := standard_crystal(crystals[i], group)) is not None
        ]
        for group in args.groups
    }
    for group in args.groups:
        own = real[group]
        if not own:
            print(f"space group {group}: no real structure")
            continue
        sampler = xs.SpaceGroupSampler(statistics=args.statistics, seed=args.seed, space_groups=[group])
        sampled = sampler.sample(len(own)).to_crystals()
        rows = {
            "real": top1(own, group),
            "sampled": top1(sampled, group),
            "sampled atoms on real cells": top1(
                [on_lattice(s, r.lattice) for s, r in zip(sampled, own, strict=True)], group
            ),
            "real atoms on sampled cells": top1(
                [on_lattice(r, s.lattice) for s, r in zip(sampled, own, strict=True)], group
            ),
        }
        for sigma in args.jitter:
            jittered = [jitter_edges(r.lattice, sigma, rng) for r in own]
            rows[f"sampled atoms on real cells, edges x exp(N(0, {sigma:g}))"] = top1(
                [on_lattice(s, cell) for s, cell in zip(sampled, jittered, strict=True)], group
            )
        for other in args.groups:
            if other != group and real[other] and lattice_system(other) == lattice_system(group):
                cells = [real[other][k].lattice for k in rng.integers(len(real[other]), size=len(sampled))]
                rows[f"sampled atoms on real cells of group {other}"] = top1(
                    [on_lattice(s, cell) for s, cell in zip(sampled, cells, strict=True)], group
                )
        print(f"space group {group} ({len(own)} real structures, as many sampled), top-1 of {args.model}:")
        for name, value in rows.items():
            print(f"  {name}: {value:.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
