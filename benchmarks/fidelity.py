"""Stick patterns of PowderSimulator against live pymatgen over every structure of amcsd-dev.

Usage:
    python benchmarks/fidelity.py DATA_DIR [--workers 2] [--limit N] [--json results.json]
                                           [--candidate simulator|brute-force] [--worst 20]

For every file of ``index.csv``: ``Crystal.from_cif``, the comparison crystal (B = 0, no charges, occupancies
capped at 1), pymatgen's ``XRDCalculator(1.540593).get_pattern(two_theta_range=(5, 90))`` and ``sim.peaks``
(Cu Kα1, 5–90°), compared as in ``tests/test_simulate_pymatgen.py``: positions of peaks >= 1% within 1e-4°
both ways, and the cosine of both stick lists rendered with one Gaussian (FWHM 0.1°, 8501 points) >= 0.999.

To tell why a structure falls outside, each one is also computed by the brute-force IT92 calculator of
``xrdsynth.testing`` (every hkl of the limiting sphere in float64 numpy, the simulator's form
factors): where the simulator agrees with it (cosine >= 0.99999, same positions) the difference to pymatgen
is the form-factor tables (IT92 against pymatgen's Mott–Bethe fits), otherwise the simulator itself differs.
Tags add what the structure has: partial occupancies, heavy atoms (Z > 54), hydrogen, sites skipped by the
reader (index.csv), close peaks (a strong peak with a neighbour within 0.01°).

``--candidate brute-force`` compares the brute-force IT92 calculator instead of the simulator with pymatgen
(the form-factor floor: what an exact IT92 simulator would score). Prints the share within the position
tolerance, the share with cosine >= 0.999, the cosine distribution, the failures by reason and the worst
structures; ``--json`` writes every structure's result.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import multiprocessing
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

import xrdsynth as xs
from xrdsynth import testing as ref

AGREE_WITH_BRUTE_FORCE = 0.99999  # cosine above which the simulator counts as equal to the brute force
HEAVY_Z = 54  # heavier than Xe: where the two form-factor tables differ most
CLOSE_PEAKS = 0.01  # degrees: neighbours this close can merge differently
COSINE_BINS = (0.99, 0.999, 0.9999, 0.99999)

_simulator: Any = None
_candidate = "simulator"
_data_dir = Path()
_grid = ref.grid()


def _init_worker(data_dir: Path, candidate: str) -> None:
    global _simulator, _candidate, _data_dir
    torch.set_num_threads(1)
    _data_dir, _candidate = data_dir, candidate
    if candidate == "simulator":
        _simulator = xs.PowderSimulator(
            two_theta=ref.GRID,
            wavelength=ref.WAVELENGTH,
            profile="gaussian",
            crystallite_size_nm=None,
            instrument_fwhm=ref.FWHM,
            device="cpu",
            dtype=torch.float64,
            seed=0,
        )


def _largest_difference(ours: ref.Sticks, other: ref.Sticks) -> dict[str, Any]:
    """The strong peak (>= 1% on either side) with the largest intensity difference, matched by position."""
    best: dict[str, Any] = {}
    for peaks, against, side in ((ours, other, "ours"), (other, ours, "other")):
        strong = np.flatnonzero(peaks.intensity >= ref.MIN_RELATIVE_INTENSITY)
        if strong.size == 0 or against.two_theta.size == 0:
            continue
        j = np.searchsorted(against.two_theta, peaks.two_theta[strong])
        candidates = np.stack(
            [np.clip(j - 1, 0, against.two_theta.size - 1), np.clip(j, 0, against.two_theta.size - 1)]
        )
        distance = np.abs(against.two_theta[candidates] - peaks.two_theta[strong][None, :])
        nearest = candidates[np.argmin(distance, axis=0), np.arange(strong.size)]
        matched = np.min(distance, axis=0) <= ref.POSITION_TOLERANCE
        other_intensity = np.where(matched, against.intensity[nearest], 0.0)
        difference = np.abs(peaks.intensity[strong] - other_intensity)
        k = int(np.argmax(difference))
        if not best or difference[k] > best["difference"]:
            i = strong[k]
            best = {
                "difference": float(difference[k]),
                "two_theta": float(peaks.two_theta[i]),
                "hkl": [int(v) for v in peaks.hkl[i]],
                "ours": float(peaks.intensity[i] if side == "ours" else other_intensity[k]),
                "other": float(other_intensity[k] if side == "ours" else peaks.intensity[i]),
            }
    return best


def _tags(crystal: xs.Crystal, reference: ref.Sticks, skipped_sites: bool) -> list[str]:
    tags = []
    if np.any(crystal.occupancies < 1.0):
        tags.append("partial occupancy")
    if np.any(crystal.numbers > HEAVY_Z):
        tags.append("heavy atoms")
    if np.any(crystal.numbers == 1):
        tags.append("hydrogen")
    if skipped_sites:
        tags.append("sites skipped")
    gaps = np.diff(reference.two_theta)
    close = np.concatenate([[np.inf], gaps]) < CLOSE_PEAKS
    close |= np.concatenate([gaps, [np.inf]]) < CLOSE_PEAKS
    if np.any(close & (reference.intensity >= ref.MIN_RELATIVE_INTENSITY)):
        tags.append("close peaks")
    return tags


def _peak_list(two_theta: np.ndarray, hkl: np.ndarray) -> list[list[Any]]:
    return [[float(t), [int(v) for v in h]] for t, h in zip(two_theta, hkl, strict=True)]


def evaluate(row: dict[str, str]) -> dict[str, Any]:
    """Compare one structure; never raises (failures are results)."""
    name = Path(row["file"]).name
    result: dict[str, Any] = {"name": name, "atoms": int(row["n_atoms_cell"] or 0)}
    try:
        crystal = ref.reference_crystal(xs.Crystal.from_cif(_data_dir / row["file"]))
    except xs.CIFError as exc:
        return {**result, "status": "unreadable", "error": str(exc)}
    result["atoms"] = crystal.num_atoms
    try:
        pymatgen = ref.pymatgen_sticks(crystal)
    except ValueError as exc:
        return {**result, "status": "pymatgen failed", "error": str(exc)}
    brute = ref.kinematic_sticks(crystal, "it92")
    try:
        ours = ref.Sticks.from_peaks(_simulator.peaks(crystal)) if _candidate == "simulator" else brute
    except Exception as exc:  # a crash of the simulator is a finding, reported with its traceback
        return {**result, "status": "simulator error", "error": "".join(traceback.format_exception_only(exc))}
    against_pymatgen = ref.compare(ours, pymatgen, _grid)
    against_brute = ref.compare(ours, brute, _grid)
    floor = ref.compare(brute, pymatgen, _grid)
    result.update(
        status="ok",
        cosine=against_pymatgen.cosine,
        positions_ok=against_pymatgen.positions_ok,
        max_offset=against_pymatgen.max_offset,
        missing=_peak_list(against_pymatgen.missing, against_pymatgen.missing_hkl),
        extra=_peak_list(against_pymatgen.extra, against_pymatgen.extra_hkl),
        cosine_brute_force=against_brute.cosine,
        positions_ok_brute_force=against_brute.positions_ok,
        cosine_floor=floor.cosine,
        largest_difference=_largest_difference(ours, pymatgen),
        largest_difference_brute_force=_largest_difference(ours, brute),
        tags=_tags(crystal, pymatgen, row.get("some_sites_skipped") == "True"),
        peaks=int(pymatgen.two_theta.size),
    )
    if not (against_pymatgen.positions_ok and against_pymatgen.cosine_ok):
        agrees = against_brute.positions_ok and against_brute.cosine >= AGREE_WITH_BRUTE_FORCE
        result["reason"] = "form-factor tables" if agrees else "simulator differs from brute force"
    return result


def summarise(results: list[dict[str, Any]], worst: int) -> None:
    statuses = collections.Counter(r["status"] for r in results)
    ok = [r for r in results if r["status"] == "ok"]
    print(f"\n{len(results)} structures: " + ", ".join(f"{k} {v}" for k, v in statuses.most_common()))
    for status in ("unreadable", "pymatgen failed", "simulator error"):
        examples = [r for r in results if r["status"] == status][:5]
        for r in examples:
            print(f"  {status}: {r['name']}: {r['error'].strip()[:200]}")
    if not ok:
        return
    cosines = np.array([r["cosine"] for r in ok])
    positions = np.array([r["positions_ok"] for r in ok])
    within = cosines >= ref.MIN_COSINE
    print(f"positions within {ref.POSITION_TOLERANCE}° (peaks >= 1%, both ways): {_share(positions)}")
    print(f"cosine >= {ref.MIN_COSINE}: {_share(within)}; both: {_share(positions & within)}")
    quantiles = [0.0, 0.001, 0.01, 0.05, 0.5]
    print("cosine quantiles: " + ", ".join(f"q{q:g} {np.quantile(cosines, q):.6f}" for q in quantiles))
    edges = (-1.0, *COSINE_BINS, 1.0 + 1e-12)
    counts = np.histogram(cosines, bins=edges)[0]
    bins = zip(edges[:-1], edges[1:], counts, strict=True)
    print("cosine histogram: " + ", ".join(f"[{lo:g}, {hi:.5g}) {n}" for lo, hi, n in bins))
    floor = np.array([r["cosine_floor"] for r in ok])
    print(
        f"form-factor floor (brute-force IT92 vs pymatgen): cosine >= {ref.MIN_COSINE} "
        f"{_share(floor >= ref.MIN_COSINE)}, min {floor.min():.6f}"
    )
    brute = np.array([r["cosine_brute_force"] for r in ok])
    brute_positions = np.array([r["positions_ok_brute_force"] for r in ok])
    print(
        f"ours vs brute-force IT92: positions {_share(brute_positions)}, cosine >= {AGREE_WITH_BRUTE_FORCE} "
        f"{_share(brute >= AGREE_WITH_BRUTE_FORCE)}, min {brute.min():.8f}"
    )
    failing = [r for r in ok if "reason" in r]
    reasons = collections.Counter(r["reason"] for r in failing)
    tags = collections.Counter(t for r in failing for t in r["tags"])
    print(f"outside thresholds: {len(failing)}; by reason: {dict(reasons)}; tags among them: {dict(tags)}")
    print(f"\n{worst} worst (position failures first, then lowest cosine):")
    for r in sorted(ok, key=lambda r: (r["positions_ok"], r["cosine"]))[:worst]:
        print(
            f"  {r['name']} atoms {r['atoms']} peaks {r['peaks']}: cosine {r['cosine']:.6f} "
            f"(brute-force IT92 vs pymatgen {r['cosine_floor']:.6f}, ours vs brute force "
            f"{r['cosine_brute_force']:.8f}); positions {'ok' if r['positions_ok'] else 'FAIL'}, "
            f"max offset {r['max_offset']:.2e}°"
        )
        print(f"      reason: {r.get('reason', '-')}; tags: {', '.join(r['tags']) or '-'}")
        for key, label in (("largest_difference", "pymatgen"), ("largest_difference_brute_force", "brute")):
            d = r[key]
            if d:
                print(
                    f"      largest difference to {label} at {d['two_theta']:.4f}° hkl {tuple(d['hkl'])}: "
                    f"ours {d['ours']:.2f}, {label} {d['other']:.2f}"
                )
        for label in ("missing", "extra"):
            if r[label]:
                print(f"      {label}: " + ", ".join(f"{t:.5f}° {tuple(h)}" for t, h in r[label][:5]))


def _share(flags: np.ndarray) -> str:
    return f"{flags.mean():.2%} ({int(flags.sum())}/{flags.size})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files of the index")
    parser.add_argument("--json", type=Path, default=None, help="write every structure's result here")
    parser.add_argument("--candidate", choices=["simulator", "brute-force"], default="simulator")
    parser.add_argument("--worst", type=int, default=20)
    args = parser.parse_args(argv)

    if args.candidate == "simulator" and not hasattr(xs, "PowderSimulator"):
        parser.error("xrdsynth.PowderSimulator does not exist yet; try --candidate brute-force")
    with open(args.data_dir / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[: args.limit]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(
        args.workers, initializer=_init_worker, initargs=(args.data_dir, args.candidate)
    ) as pool:
        progress = tqdm(total=len(rows), desc="fidelity", mininterval=1.0 if sys.stderr.isatty() else 30.0)
        results = []
        for result in pool.imap(evaluate, rows, chunksize=4):
            results.append(result)
            progress.update(1)
        progress.close()
    print(f"{args.candidate} against pymatgen {ref.pymatgen_version()}, {time.perf_counter() - start:.0f} s")
    summarise(results, args.worst)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
