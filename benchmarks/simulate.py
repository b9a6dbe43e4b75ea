"""Speed of PowderSimulator against pymatgen's XRDCalculator plus a dense Gaussian on 64 amcsd-dev structures.

Usage:
    python benchmarks/simulate.py DATA_DIR [--rounds 5] [--threads 2] [--fwhm DEG | --crystallite-size-nm NM]
                                           [--device cpu] [--dtype float32] [--profile] [--compile]
                                           [--calls 10]

The 64 structures are the same every run: a seeded choice (``--selection-seed``, default 0; ``--max-atoms``
keeps only structures with at most that many atoms per cell) over amcsd-dev's index sorted by file name,
read with ``Crystal.from_cif`` and set to B = 0 (``xrdsynth.testing.reference_crystal``). Both sides produce
the same thing: a pattern on the 5–90° grid of 8501 points, Cu Kα1, each peak a Gaussian whose FWHM comes from
Scherrer with one crystallite size (default 50 nm, K = 0.9) or is fixed (``--fwhm``), normalised to max 1.

- pymatgen, as a user would do it: ``XRDCalculator(1.540593).get_pattern(structure, two_theta_range=(5, 90))``
  per structure, then the Gaussians evaluated densely on the grid with numpy (a (8501, n_peaks) matrix) and
  summed. The structures are converted to pymatgen before timing. ``get_pattern`` alone is timed too.
- xrdsynth: ``sim(batch)`` for the 64 structures in one ``CrystalBatch``, built before timing (building it
  with ``CrystalBatch.from_crystals`` is timed separately).

The two alternate for ``--rounds`` rounds in one process after an untimed warm-up of each, with
``torch.set_num_threads(--threads)`` (which the simulator uses only with ``--num-threads torch``: by default
it runs each call on one intra-op thread); reported are patterns/s of each (median over rounds) and the ratio
of the medians. xrdsynth is timed twice per round: one call right after pymatgen's second of work (cold
caches, freed memory handed back to the system, so its first touches page-fault), and ``--calls`` calls back
to back (the sustained rate of a loop that generates data). ``--profile`` then runs the simulator call under
torch.profiler and cProfile and prints the top entries. Without ``xrdsynth.PowderSimulator`` (before it
exists) only the pymatgen side is measured.
"""

from __future__ import annotations

import os

# One BLAS thread: OpenBLAS threads left spinning after numpy's matrix products (the dense Gaussian) compete
# with torch's threads for the 2 cores and slowed xrdsynth 4x in the alternating rounds; pymatgen is as fast
# or faster this way (59 against 54 patterns/s measured). Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse
import cProfile
import csv
import inspect
import io
import math
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import xrdsynth as xs
from xrdsynth import testing as ref

N_STRUCTURES = 64
SELECTION_SEED = 0
SCHERRER_K = 0.9
FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))


def choose_structures(
    data_dir: Path, n: int = N_STRUCTURES, seed: int = SELECTION_SEED, max_atoms: int | None = None
) -> list[xs.Crystal]:
    """``n`` structures chosen by a seeded permutation of the index sorted by file name (only those with at
    most ``max_atoms`` atoms per cell, when given); files that do not read are passed over (none of the
    first 64 at the time of writing)."""
    with open(data_dir / "index.csv", newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["file"])
    if max_atoms is not None:
        rows = [row for row in rows if 0 < int(row["n_atoms_cell"]) <= max_atoms]
    crystals = []
    for i in np.random.default_rng(seed).permutation(len(rows)):
        try:
            crystal = xs.Crystal.from_cif(data_dir / rows[i]["file"])
        except xs.CIFError:
            continue
        if max_atoms is not None and crystal.num_atoms > max_atoms:
            continue
        crystals.append(ref.reference_crystal(crystal))
        if len(crystals) == n:
            break
    return crystals


def gaussian_fwhm(two_theta: np.ndarray, fwhm: float | None, crystallite_size_nm: float) -> np.ndarray:
    """FWHM in degrees 2θ per peak: fixed, or Scherrer Kλ / (L cos θ) with L in nm."""
    if fwhm is not None:
        return np.full(two_theta.shape, fwhm)
    theta = np.radians(two_theta / 2.0)
    return np.degrees(SCHERRER_K * ref.WAVELENGTH / (crystallite_size_nm * 10.0 * np.cos(theta)))


def pymatgen_patterns(structures: list, x: np.ndarray, fwhm: float | None, size_nm: float) -> np.ndarray:
    """(B, P) patterns the way a pymatgen user would make them: sticks, then dense Gaussians in numpy."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    calculator = XRDCalculator(wavelength=ref.WAVELENGTH)
    out = np.empty((len(structures), x.size))
    for i, structure in enumerate(structures):
        pattern = calculator.get_pattern(structure, scaled=True, two_theta_range=ref.TWO_THETA_RANGE)
        centres, heights = np.asarray(pattern.x), np.asarray(pattern.y)
        sigma = gaussian_fwhm(centres, fwhm, size_nm) * FWHM_TO_SIGMA
        profile = np.exp(-0.5 * ((x[:, None] - centres[None, :]) / sigma[None, :]) ** 2)
        y = profile @ heights
        out[i] = y / y.max()
    return out


def pymatgen_sticks_only(structures: list) -> None:
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    calculator = XRDCalculator(wavelength=ref.WAVELENGTH)
    for structure in structures:
        calculator.get_pattern(structure, scaled=True, two_theta_range=ref.TWO_THETA_RANGE)


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def make_simulator(args: argparse.Namespace):
    simulator_class = getattr(xs, "PowderSimulator", None)
    if simulator_class is None:
        return None
    # The fixed width is the simulator's instrument FWHM, named "fwhm" in versions before the rename.
    parameters = inspect.signature(simulator_class).parameters
    fixed_width = "instrument_fwhm" if "instrument_fwhm" in parameters else "fwhm"
    return simulator_class(
        two_theta=ref.GRID,
        wavelength=ref.WAVELENGTH,
        profile="gaussian",
        crystallite_size_nm=None if args.fwhm is not None else args.crystallite_size_nm,
        **{fixed_width: args.fwhm},
        device=args.device,
        dtype=getattr(torch, args.dtype),
        seed=0,
        compile=args.compile,
        **_num_threads(args, parameters),
        **({"step_average": True} if getattr(args, "step_average", False) else {}),
    )


def _num_threads(args: argparse.Namespace, parameters) -> dict:  # type: ignore[no-untyped-def]
    """The simulator's num_threads argument, where the simulator has one (versions before it had not)."""
    choice = getattr(args, "num_threads", "default")
    if choice == "default" or "num_threads" not in parameters:
        return {}
    return {"num_threads": None if choice == "torch" else int(choice)}


def simulate(simulator, batch) -> torch.Tensor:
    with torch.no_grad():
        out = simulator(batch)
    if out.is_cuda:
        torch.cuda.synchronize()
    return out


def profile_simulator(simulator, batch, top: int) -> None:
    activities = [torch.profiler.ProfilerActivity.CPU]
    if batch.lattice.is_cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities, record_shapes=False) as prof:
        simulate(simulator, batch)
    sort_by = "cuda_time_total" if batch.lattice.is_cuda else "self_cpu_time_total"
    print(f"\ntorch.profiler, one call on {len(batch.space_group)} structures, top {top} by {sort_by}:")
    print(prof.key_averages().table(sort_by=sort_by, row_limit=top))

    profiler = cProfile.Profile()
    profiler.enable()
    simulate(simulator, batch)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(top)
    print(f"cProfile, one call, top {top} by cumulative time:")
    print(stream.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument(
        "--selection-seed", type=int, default=SELECTION_SEED, help="seed of the choice of structures (0)"
    )
    parser.add_argument(
        "--max-atoms", type=int, default=None, help="only structures with at most this many atoms"
    )
    parser.add_argument(
        "--num-threads",
        default="default",
        help="PowderSimulator's num_threads: 'default' (the constructor's, 1 since it exists), an int, or "
        "'torch' (None: torch's setting, --threads)",
    )
    width = parser.add_mutually_exclusive_group()
    width.add_argument("--fwhm", type=float, default=None, help="fixed FWHM in degrees 2θ")
    width.add_argument("--crystallite-size-nm", type=float, default=50.0, help="Scherrer size (default 50)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--profile", action="store_true", help="profile the simulator call afterwards")
    parser.add_argument(
        "--compile", action="store_true", help="PowderSimulator(compile=True); compiled in the warm-up call"
    )
    parser.add_argument(
        "--step-average", action="store_true",
        help="PowderSimulator(step_average=True): each point the mean of the profile over its step "
        "(pymatgen's side stays sampled at the points)",
    )  # fmt: skip
    parser.add_argument("--top", type=int, default=25, help="entries printed by --profile")
    parser.add_argument(
        "--calls", type=int, default=10, help="back-to-back xrdsynth calls timed per round (default 10)"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    crystals = choose_structures(args.data_dir, seed=args.selection_seed, max_atoms=args.max_atoms)
    structures = [c.to_pymatgen() for c in crystals]
    x = ref.grid()
    atoms = np.array([c.num_atoms for c in crystals])
    width_text = f"FWHM {args.fwhm}°" if args.fwhm is not None else f"Scherrer {args.crystallite_size_nm} nm"
    print(
        f"{len(crystals)} structures, atoms per cell median {int(np.median(atoms))}, max {atoms.max()}; "
        f"grid {ref.GRID}; Gaussian, {width_text}; torch threads {torch.get_num_threads()}; "
        f"compile={args.compile}, step_average={args.step_average}"
    )

    simulator = make_simulator(args)
    batch = None
    if simulator is None:
        print("xrdsynth.PowderSimulator does not exist yet: measuring pymatgen only")
    else:
        start = time.perf_counter()
        batch = xs.CrystalBatch.from_crystals(crystals, device=args.device, dtype=getattr(torch, args.dtype))
        elapsed_ms = 1e3 * (time.perf_counter() - start)
        print(f"CrystalBatch.from_crystals for the {len(crystals)}: {elapsed_ms:.1f} ms")
        simulate(simulator, batch)  # warm-up
    pymatgen_patterns(structures[:4], x, args.fwhm, args.crystallite_size_nm)  # warm-up

    times: dict[str, list[float]] = {
        "pymatgen + Gaussian": [],
        "pymatgen get_pattern only": [],
        "xrdsynth": [],
        f"xrdsynth, {args.calls} calls": [],
    }
    for round_index in range(args.rounds):
        times["pymatgen + Gaussian"].append(
            timed(pymatgen_patterns, structures, x, args.fwhm, args.crystallite_size_nm)
        )
        times["pymatgen get_pattern only"].append(timed(pymatgen_sticks_only, structures))
        if simulator is not None:
            # One call right after pymatgen (cold caches, memory just returned to the system), then --calls
            # back-to-back calls (the sustained rate of a data-generating loop), per call.
            times["xrdsynth"].append(timed(simulate, simulator, batch))
            times[f"xrdsynth, {args.calls} calls"].append(
                timed(lambda: [simulate(simulator, batch) for _ in range(args.calls)]) / args.calls
            )
        line = ", ".join(f"{name} {values[-1]:.3f} s" for name, values in times.items() if values)
        print(f"round {round_index + 1}/{args.rounds}: {line}")

    rates = {name: len(crystals) / statistics.median(values) for name, values in times.items() if values}
    print("\npatterns/s (median over rounds):")
    for name, rate in rates.items():
        print(f"  {name:28s} {rate:12.1f}")
    if simulator is not None:
        for ours in ("xrdsynth", f"xrdsynth, {args.calls} calls"):
            for name in ("pymatgen + Gaussian", "pymatgen get_pattern only"):
                print(f"  ratio {ours} / {name}: {rates[ours] / rates[name]:.1f}x")
        if args.profile:
            profile_simulator(simulator, batch, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
