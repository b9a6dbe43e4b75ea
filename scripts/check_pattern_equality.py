"""Check that simulated patterns have not changed: save them from one version, compare another with them.

Usage:
    python scripts/check_pattern_equality.py save DATA_DIR REFERENCE.npz [--every 4] [--limit N]
    python scripts/check_pattern_equality.py compare DATA_DIR REFERENCE.npz [--tolerance 1e-9]

Run ``save`` with the old version on the path (for example ``git archive OLD src | tar -x -C /tmp/old`` and
``PYTHONPATH=/tmp/old/src``), then ``compare`` with the new one. Only public API is used, so the script runs
against both.

Every CIF of ``DATA_DIR/cifs`` that reads and whose elements all have IT92 form factors (Z ≤ 98) is
simulated in float64, in batches of 64 in file-name order, under these settings:

- ``clean`` (every structure): Cu Kα1, 5–90° in 4251 points, Gaussian peaks of Scherrer 50 nm.
- ``laboratory`` (every ``--every``-th structure): the Cu Kα doublet, pseudo-Voigt peaks, crystallite size,
  microstrain, zero shift, specimen displacement and March–Dollase texture drawn per pattern from a seeded
  generator, a Caglioti instrument function, an instrument FWHM and a graphite monochromator.
- ``pattern_effects`` (every ``--every``-th): Lorentzian peaks, an impurity phase, a Chebyshev background,
  an amorphous hump, Poisson and Gaussian noise and the square-root scale, all seeded.
- ``preset`` (every ``--every``-th): ``xrdsynth.transforms.preset("laboratory-cu")`` with seed 0.
- ``q_grid`` (every ``--every``-th): Mo Kα1 on a grid in Q, Scherrer 30 nm, fixed texture along 001.
- ``gradient`` (the first 64): the differentiable path (a lattice with ``requires_grad``), Scherrer 50 nm.
- ``peaks`` (every ``--every``-th): ``PowderSimulator.peaks`` of the Cu Kα doublet, positions,
  intensities and hkl.

``compare`` prints, per setting, the largest absolute difference over all patterns divided by each pattern's
maximum, and fails (exit status 1) when one exceeds ``--tolerance``.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import xrdsynth as xs

BATCH = 64
# IT92 form factors stop at californium; the simulator rejects heavier elements.
HEAVIEST_Z = 98
GRID = (5.0, 90.0, 4251)
# The added instrument width's keyword: "fwhm" in versions before it was renamed "instrument_fwhm".
INSTRUMENT_FWHM = (
    "instrument_fwhm" if "instrument_fwhm" in inspect.signature(xs.PowderSimulator).parameters else "fwhm"
)


def read_crystals(data_dir: Path, limit: int | None) -> tuple[list[str], list[xs.Crystal]]:
    """The readable CIFs of ``data_dir/cifs`` in file-name order, with their names."""
    names, crystals = [], []
    for path in sorted((data_dir / "cifs").glob("*.cif"))[:limit]:
        try:
            crystal = xs.Crystal.from_cif(path)
        except ValueError:  # CIFError is a ValueError
            continue
        if crystal.numbers.min() < 1 or crystal.numbers.max() > HEAVIEST_Z:
            continue
        names.append(path.name)
        crystals.append(crystal)
    return names, crystals


def _simulate(simulate: Callable[[list[xs.Crystal]], torch.Tensor], crystals: list[xs.Crystal]) -> np.ndarray:
    parts = []
    for start in range(0, len(crystals), BATCH):
        parts.append(simulate(crystals[start : start + BATCH]).detach().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, GRID[2]))


def settings() -> dict[str, tuple[str, Callable[[], Callable[[list[xs.Crystal]], torch.Tensor]]]]:
    """name -> (which structures: "all", "every" or "first", a builder of the simulating callable)."""
    f64 = torch.float64

    def clean():
        sim = xs.PowderSimulator(GRID, crystallite_size_nm=50.0, dtype=f64)
        return lambda c: sim(c)

    def laboratory():
        sim = xs.PowderSimulator(
            GRID,
            wavelength="CuKa",
            profile="pseudo_voigt",
            crystallite_size_nm=(20.0, 100.0),
            microstrain=(0.0, 1e-3),
            **{INSTRUMENT_FWHM: 0.01},
            caglioti=(0.004, -0.002, 0.003),
            monochromator_two_theta=26.6,
            zero_shift=(-0.05, 0.05),
            specimen_displacement_mm=(-0.1, 0.1),
            march_dollase=(0.7, 1.3),
            dtype=f64,
            seed=1,
        )
        return lambda c: sim(c)

    def pattern_effects():
        sim = xs.PowderSimulator(
            GRID,
            profile="lorentzian",
            crystallite_size_nm=(30.0, 80.0),
            impurity_fraction=(0.01, 0.05),
            background=(0.0, 0.1),
            amorphous_hump=(0.0, 0.1),
            poisson_counts=(1e3, 1e5),
            gaussian_noise=(0.0, 0.01),
            sqrt_scale=True,
            dtype=f64,
            seed=2,
        )
        return lambda c: sim(c)

    def preset():
        augmented = xs.transforms.preset("laboratory-cu", GRID, dtype=f64, seed=0)
        return lambda c: augmented(c)

    def q_grid():
        sim = xs.PowderSimulator(
            q=(0.5, 7.0, 3001),
            wavelength="MoKa1",
            crystallite_size_nm=30.0,
            march_dollase=0.8,
            preferred_orientation_hkl=(0, 0, 1),
            dtype=f64,
        )
        return lambda c: sim(c)

    def gradient():
        sim = xs.PowderSimulator(GRID, crystallite_size_nm=50.0, dtype=f64)

        def run(crystals: list[xs.Crystal]) -> torch.Tensor:
            batch = xs.CrystalBatch.from_crystals(crystals, dtype=f64)
            lattice = batch.lattice.clone().requires_grad_(True)
            moved = xs.CrystalBatch(**{**_fields(batch), "lattice": lattice})
            return sim(moved)

        return run

    return {
        "clean": ("all", clean),
        "laboratory": ("every", laboratory),
        "pattern_effects": ("every", pattern_effects),
        "preset": ("every", preset),
        "q_grid": ("every", q_grid),
        "gradient": ("first", gradient),
    }


def _fields(batch: xs.CrystalBatch) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}


def _chosen(which: str, crystals: list[xs.Crystal], every: int) -> list[xs.Crystal]:
    if which == "all":
        return crystals
    if which == "first":
        return crystals[:BATCH]
    return crystals[::every]


def _peaks(crystals: list[xs.Crystal]) -> dict[str, np.ndarray]:
    sim = xs.PowderSimulator(GRID, wavelength="CuKa", crystallite_size_nm=50.0, dtype=torch.float64)
    position, intensity, hkl, counts = [], [], [], []
    for crystal in crystals:
        peaks = sim.peaks(crystal)
        position.append(peaks.two_theta)
        intensity.append(peaks.intensity)
        hkl.append(peaks.hkl)
        counts.append(len(peaks))
    return {
        "peaks_two_theta": np.concatenate(position),
        "peaks_intensity": np.concatenate(intensity),
        "peaks_hkl": np.concatenate(hkl),
        "peaks_count": np.array(counts),
    }


def compute(data_dir: Path, every: int, limit: int | None) -> dict[str, np.ndarray]:
    """Every setting's patterns (and the peak lists) of the structures of ``data_dir``."""
    names, crystals = read_crystals(data_dir, limit)
    print(f"{len(crystals)} structures read", flush=True)
    out: dict[str, np.ndarray] = {"names": np.array(names), "every": np.array(every)}
    with torch.no_grad():
        for name, (which, build) in settings().items():
            chosen = _chosen(which, crystals, every)
            if name == "gradient":
                with torch.enable_grad():
                    out[name] = _simulate(build(), chosen)
            else:
                out[name] = _simulate(build(), chosen)
            print(f"{name}: {out[name].shape[0]} patterns", flush=True)
        out.update(_peaks(crystals[::every]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["save", "compare"])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("reference", type=Path)
    parser.add_argument("--every", type=int, default=4, help="structures for the costlier settings")
    parser.add_argument("--limit", type=int, default=None, help="first N files only (save)")
    parser.add_argument("--tolerance", type=float, default=1e-9, help="relative to each pattern's maximum")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mode == "save":
        result = compute(args.data_dir, args.every, args.limit)
        np.savez(args.reference, **result)
        print(f"saved {args.reference} (xrdsynth from {xs.__file__})")
        return 0

    reference = dict(np.load(args.reference))
    names = [str(n) for n in reference["names"]]
    # Read up to the reference's last structure (a --limit save holds the first files only).
    result = compute(args.data_dir, int(reference["every"]), _limit_for(args.data_dir, names))
    if [str(n) for n in result["names"]] != names:
        print("the structures read differ from the reference's")
        return 1
    failed = False
    print(f"xrdsynth from {xs.__file__}; {len(names)} structures")
    for name in [*settings(), "peaks_two_theta", "peaks_intensity"]:
        old, new = reference[name], result[name]
        if old.shape != new.shape:
            print(f"{name}: shape {new.shape} differs from the reference's {old.shape}")
            failed = True
            continue
        if name.startswith("peaks"):
            worst = float(np.max(np.abs(new - old), initial=0.0)) / max(float(np.max(np.abs(old))), 1e-300)
        else:
            scale = np.maximum(np.abs(old).max(axis=1, keepdims=True), 1e-300)
            worst = float(np.max(np.abs(new - old) / scale, initial=0.0))
        verdict = "ok" if worst <= args.tolerance else "DIFFERS"
        failed |= worst > args.tolerance
        print(f"{name:16s} {old.shape[0]:5d} rows  max |new - old| / max|old| = {worst:.3e}  {verdict}")
    same_hkl = np.array_equal(reference["peaks_hkl"], result["peaks_hkl"]) and np.array_equal(
        reference["peaks_count"], result["peaks_count"]
    )
    print(f"peaks_hkl        {'identical' if same_hkl else 'DIFFER'}")
    failed |= not same_hkl
    return 1 if failed else 0


def _limit_for(data_dir: Path, names: list[str]) -> int:
    """The --limit that reads up to the reference's last structure."""
    files = sorted(p.name for p in (data_dir / "cifs").glob("*.cif"))
    return files.index(names[-1]) + 1


if __name__ == "__main__":
    sys.exit(main())
