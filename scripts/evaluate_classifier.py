"""Accuracy of a space-group classifier on synthetic crystals, on real structures, and on measured patterns.

    python scripts/evaluate_classifier.py [--model NAME_OR_FOLDER] [--amcsd ../shared/data/amcsd-dev]
        [--xred ../shared/data/xred-monophase] [--synthetic 4096] [--json results.json]

(a) synthetic: ``--synthetic`` new crystals from SpaceGroupSampler (uniform over the 230 groups, a seed no
    training run uses), clean Cu Kα1 patterns, crystallite sizes 20–100 nm;
(b) amcsd-dev: every structure of the folder, simulated on the model's grid with random crystallite sizes
    20–100 nm (seeded), labels = the space group of index.csv;
(c) xred-monophase: the measured laboratory patterns (Cu Kα), read from pattern.csv, labels from index.csv
    (spglib's group at symprec 0.1 where the CIF declares none).

For each: top-1 and top-5 space-group accuracy, and crystal-system accuracy, of the system with the largest
summed probability and of the system of the first answer (see :func:`scores`). Per-structure predictions of
(b) go to ``--predictions`` (CSV) when given.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import xrdsynth as xs
from xrdsynth.models import Classifier, load_pretrained
from xrdsynth.symmetry import CRYSTAL_SYSTEM_OF_GROUP, CRYSTAL_SYSTEMS, enantiomorph
from xrdsynth.train import describe_hardware
from xrdsynth.transforms import smooth_gaussian

MAX_Z = 98  # the simulator's form factors end at Cf
SYSTEM_OF_GROUP = np.array(CRYSTAL_SYSTEM_OF_GROUP)
# Each group's enantiomorphic partner (itself where it has none): powder patterns cannot tell them apart.
PARTNER = np.array([enantiomorph(n) or n for n in range(1, 231)])


def scores(probability: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1/top-5 space group, top-1 up to the enantiomorph and crystal-system accuracy; labels are group
    numbers 1..230.

    Two crystal-system answers are scored: ``crystal_system``, the system with the largest summed
    probability (``Prediction.most_probable_crystal_system``), and ``crystal_system_first``, the system of
    the most probable group (``Prediction.crystal_system[0]``). They differ where the probability is
    spread: a system of many groups (59 orthorhombic) can collect the largest sum from many small shares.
    """
    order = np.argsort(-probability, axis=1)[:, :5] + 1
    true_system = SYSTEM_OF_GROUP[labels - 1]
    return {
        "n": len(labels),
        "top1": float(np.mean(order[:, 0] == labels)),
        "top1_enantiomorph": float(np.mean((order[:, 0] == labels) | (order[:, 0] == PARTNER[labels - 1]))),
        "top5": float(np.mean((order == labels[:, None]).any(axis=1))),
        "crystal_system": float(np.mean(most_probable_system(probability) == true_system)),
        "crystal_system_first": float(np.mean(SYSTEM_OF_GROUP[order[:, 0] - 1] == true_system)),
    }


def system_probability(probability: np.ndarray) -> np.ndarray:
    """(n, 230) group probabilities -> (n, 7) summed over each crystal system's groups (CRYSTAL_SYSTEMS
    order)."""
    per_system = np.zeros((len(probability), len(CRYSTAL_SYSTEMS)))
    np.add.at(per_system.T, SYSTEM_OF_GROUP, probability.T)
    return per_system


def most_probable_system(probability: np.ndarray) -> np.ndarray:
    """(n,) index into CRYSTAL_SYSTEMS of the system with the largest summed probability of each row."""
    return system_probability(probability).argmax(axis=1)


def breakdown(probability: np.ndarray, labels: np.ndarray, most: int = 6) -> dict:
    """Where a classifier fails: top-1 and crystal-system accuracy per true crystal system, the crystal
    systems of its first answers per true system (``answered_as``: counts in CRYSTAL_SYSTEMS order, a row
    of the confusion matrix), and how its answers concentrate (the groups it answers most often, with
    counts, and how many distinct groups)."""
    answer = probability.argmax(axis=1) + 1
    system_answer = most_probable_system(probability)
    first_system = SYSTEM_OF_GROUP[answer - 1]
    true_system = SYSTEM_OF_GROUP[labels - 1]
    systems = {}
    for k, name in enumerate(CRYSTAL_SYSTEMS):
        rows = true_system == k
        if rows.any():
            systems[name] = {
                "n": int(rows.sum()),
                "top1": float(np.mean(answer[rows] == labels[rows])),
                "crystal_system": float(np.mean(system_answer[rows] == k)),
                "crystal_system_first": float(np.mean(first_system[rows] == k)),
                "answered_as": np.bincount(first_system[rows], minlength=len(CRYSTAL_SYSTEMS)).tolist(),
            }
    groups, counts = np.unique(answer, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:most]
    return {
        "by_crystal_system": systems,
        "most_answered": [[int(groups[i]), int(counts[i])] for i in order],
        "distinct_answers": len(groups),
        "n": len(labels),
    }


COUNT_CLASSES = (0.0, 100.0, 300.0, 1000.0, math.inf)


def apparent_peak_counts(intensity: np.ndarray) -> np.ndarray:
    """(N,) the counts at the strongest point that Poisson statistics would need for the noise of each of
    ``intensity`` (N, M): with the background's median level b and the point-to-point scatter σ, both
    relative to the strongest point, counts = b / σ² (a Poisson level of B counts varies by √B). σ from the
    mean of the smallest 90 % of the absolute second differences (÷ 0.6573 √6 for a Gaussian σ; the largest
    tenth, where peaks curve, left out; a mean rather than a median, which the few distinct values of
    low counts bias). Smoothed or rescaled scans read higher than their true counts."""
    y = np.asarray(intensity, dtype=np.float64)
    top = np.maximum(y.max(axis=1), 1e-300)
    second = np.sort(np.abs(y[:, 2:] - 2.0 * y[:, 1:-1] + y[:, :-2]), axis=1)
    lower = second[:, : max(1, int(0.9 * second.shape[1]))]
    sigma = lower.mean(axis=1) / (0.6573 * math.sqrt(6.0)) / top
    level = np.median(y, axis=1) / top
    return level / np.maximum(sigma, 1e-12) ** 2


def counts_breakdown(intensity: np.ndarray, probability: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Top-1 accuracy of the measured patterns by their :func:`apparent_peak_counts` (classes of
    :data:`COUNT_CLASSES`): how far counting noise limits what the classifier reads."""
    counts = apparent_peak_counts(intensity)
    right = probability.argmax(axis=1) + 1 == labels
    rows = []
    for low, high in itertools.pairwise(COUNT_CLASSES):
        inside = (counts >= low) & (counts < high)
        rows.append(
            {"counts": [low, None if math.isinf(high) else high], "n": int(inside.sum()),
             "top1": float(right[inside].mean()) if inside.any() else None}
        )  # fmt: skip
    return rows


def rruff_patterns(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The measured patterns of rruff-dev: (M,) 2θ, (N, M) intensities, (N,) space groups."""
    data = np.load(folder / "rruff-dev.npz")
    return data["two_theta"], data["intensity"], data["space_group"].astype(np.int64)


def evaluate_rruff(
    classifier: Classifier, folder: Path, smooth_fwhm: float = 0.0
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Scores on rruff-dev (Cu Kα scans: the model reads them as Kα1 with a Kα2 shoulder, as it was
    trained), and the probabilities and labels. ``smooth_fwhm`` > 0 (degrees) first convolves every scan with
    a unit-area Gaussian of that FWHM, as exported scans are often smoothed: a probe of how much the
    classifier depends on white point-to-point noise and the finest peak shapes."""
    two_theta, intensity, labels = rruff_patterns(folder)
    if smooth_fwhm > 0:
        intensity = smoothed_scans(two_theta, intensity, smooth_fwhm)
    probability = classifier.predict_proba(two_theta, intensity, wavelength="CuKa1")
    return scores(probability, labels), probability, labels


def smoothed_scans(two_theta: np.ndarray, intensity: np.ndarray, fwhm: float) -> np.ndarray:
    """(N, M) scans on an evenly spaced (M,) grid convolved with a unit-area Gaussian of ``fwhm`` degrees
    (:func:`xrdsynth.transforms.smooth_gaussian`, the ends extended with their values), as exported scans
    are often smoothed."""
    scans = torch.as_tensor(np.asarray(intensity, dtype=np.float64))
    grid = torch.as_tensor(np.asarray(two_theta, dtype=np.float64))
    return smooth_gaussian(scans, grid, fwhm).numpy()


def _read(path: str) -> xs.Crystal | str:
    try:
        return xs.Crystal.from_cif(path)
    except ValueError as error:
        return f"{path}: {error}"


def amcsd_crystals(folder: Path, cache: Path | None) -> tuple[list[xs.Crystal], np.ndarray, list[str]]:
    if cache is not None and cache.exists():
        with open(cache, "rb") as handle:
            return pickle.load(handle)
    with open(folder / "index.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with ProcessPoolExecutor(2) as pool:
        files = [str(folder / r["file"]) for r in rows]
        read = list(tqdm(pool.map(_read, files, chunksize=64), total=len(files), desc="read amcsd-dev"))
    crystals, labels, ids = [], [], []
    for row, crystal in zip(rows, read, strict=True):
        if isinstance(crystal, str):
            print(f"skipped {crystal}", file=sys.stderr)
            continue
        if crystal.numbers.max() > MAX_Z:
            # amcsd_0020047 types a fluoride site "Fl" (flerovium); IT92 has no form factor beyond Cf.
            print(f"skipped {row['file']}: element Z = {crystal.numbers.max()} beyond Cf", file=sys.stderr)
            continue
        crystals.append(crystal)
        # index.csv leaves the group empty where the file states none; the CIF reader's group then
        # (from the operations) is the label.
        labels.append(int(row["space_group"]) if row["space_group"] else crystal.space_group)
        ids.append(row["amcsd_id"])
    result = (crystals, np.array(labels), ids)
    if cache is not None:
        with open(cache, "wb") as handle:
            pickle.dump(result, handle)
    return result


def simulate_on_grid(
    classifier: Classifier,
    crystals: list[xs.Crystal],
    seed: int,
    batch: int = 128,
    step_average: bool = False,
) -> torch.Tensor:
    spec = classifier.spec
    # Linear patterns: the classifier's own preprocessing (background removal, √) does the rest.
    sim = xs.PowderSimulator(
        two_theta=(spec.two_theta_min, spec.two_theta_max, spec.num_points),
        wavelength=spec.wavelength,
        crystallite_size_nm=(20.0, 100.0),
        seed=seed,
        step_average=step_average,
    )
    return render(sim, crystals, batch, desc="simulate amcsd-dev")


def render(
    condition: torch.nn.Module, crystals: list[xs.Crystal], batch: int = 128, desc: str | None = None
) -> torch.Tensor:
    """(N, P) patterns of ``crystals`` from a simulator or an augmented one (one of
    :func:`robustness_conditions`), called on batches of ``batch`` crystals in order."""
    starts = tqdm(range(0, len(crystals), batch), desc=desc, unit="batch", disable=desc is None)
    with torch.no_grad():
        return torch.cat([condition(crystals[i : i + batch]) for i in starts])


def answers_on_grid(classifier: Classifier, patterns: torch.Tensor) -> np.ndarray:
    """(N,) the group (1..230) the classifier puts first for each of ``patterns`` (N, P) on its grid."""
    with torch.no_grad():
        return classifier.probabilities_on_grid(patterns).argmax(dim=1).numpy() + 1


def mineral_names(folder: Path) -> dict[str, str]:
    """AMCSD id -> mineral name, from the folder's index.csv."""
    with open(folder / "index.csv", encoding="utf-8") as handle:
        return {row["amcsd_id"]: row["mineral"] for row in csv.DictReader(handle)}


def one_per_mineral(folder: Path, ids: list[str]) -> np.ndarray:
    """Indices into ``ids`` that keep the first structure (lowest AMCSD id) of each mineral name."""
    mineral = mineral_names(folder)
    first: dict[str, int] = {}
    for i in sorted(range(len(ids)), key=lambda k: ids[k]):
        first.setdefault(mineral[ids[i]], i)
    return np.array(sorted(first.values()))


def add_measurement_check_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments the measurement checks (scripts/check_other_tubes.py, scripts/check_scan_settings.py)
    share: the amcsd-dev folder, the model, the crystal cache, the counts, a limit and the seed."""
    parser.add_argument("amcsd", type=Path, help="amcsd-dev folder (with index.csv)")
    parser.add_argument("--model", default="xrdsynth-resnet-cu", help="shipped name or folder")
    parser.add_argument("--cache", type=Path, default=None, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument("--counts", type=float, default=1000.0, help="counts at the strongest peak")
    parser.add_argument("--limit", type=int, default=None, help="only the first N minerals")
    parser.add_argument("--seed", type=int, default=1)


def minerals(
    folder: Path, cache: Path | None, limit: int | None = None
) -> tuple[list[xs.Crystal], np.ndarray]:
    """The amcsd-dev crystals of ``folder`` with one structure per mineral (:func:`one_per_mineral`), the
    first ``limit`` of them, and their space groups (1..230)."""
    crystals, labels, ids = amcsd_crystals(folder, cache)
    keep = one_per_mineral(folder, ids)[:limit]
    return [crystals[i] for i in keep], labels[keep]


def condition_simulator(
    grid: tuple[float, float, int], seed: int, step_average: bool, profile: str
) -> xs.PowderSimulator:
    """The clean recipe's simulator (Cu Kα1, 20–100 nm crystallites) with ``profile`` peaks, on which the
    robustness and every-pattern conditions put their effects."""
    return xs.PowderSimulator(
        grid,
        wavelength="CuKa1",
        profile=profile,
        crystallite_size_nm=(20.0, 100.0),
        seed=seed,
        step_average=step_average,
    )


def robustness_conditions(
    grid: tuple[float, float, int], seed: int, step_average: bool = False
) -> dict[str, torch.nn.Module]:
    """The clean recipe, each laboratory effect alone on top of it, the whole laboratory preset, and the
    three laboratory conditions of issue 13's held-out table, as modules called like a simulator (with
    ``step_average``, every grid point the mean of the profile over its step, as measured scans are averaged
    onto the grid; else the profile's value at the point)."""
    from xrdsynth.transforms import (
        AugmentedSimulator,
        Background,
        CrystalliteSize,
        InstrumentFunction,
        KAlphaDoublet,
        Microstrain,
        PoissonNoise,
        ScanRange,
        laboratory_cu_transforms,
    )  # fmt: skip

    def gaussian() -> xs.PowderSimulator:
        return condition_simulator(grid, seed, step_average, "gaussian")

    def voigt() -> xs.PowderSimulator:
        return condition_simulator(grid, seed, step_average, "pseudo_voigt")

    widths = (InstrumentFunction, CrystalliteSize, Microstrain)
    conditions: dict[str, torch.nn.Module] = {"clean": AugmentedSimulator(gaussian())}
    # The width effects below are rendered with pseudo-Voigt peaks, the clean recipe with Gaussians: the
    # peak shape alone, to tell its part of their cost from theirs.
    conditions["clean, pseudo-Voigt peaks"] = AugmentedSimulator(voigt())
    for transform in laboratory_cu_transforms():
        if getattr(transform, "p", 1.0) == 0.0:  # an effect the preset carries switched off
            continue
        sim = voigt() if isinstance(transform, widths) else gaussian()
        conditions[f"+ {type(transform).__name__}"] = AugmentedSimulator(sim, [transform])
    conditions["laboratory-cu (all)"] = AugmentedSimulator(voigt(), laboratory_cu_transforms())
    doublet = KAlphaDoublet("CuKa1", ratio=0.5)
    instrument = [InstrumentFunction(u=0.004, v=-0.002, w=0.002), CrystalliteSize((200.0, 1000.0))]
    conditions["issue: + Kα2"] = AugmentedSimulator(gaussian(), [doublet])
    conditions["issue: + Kα2, instrument-limited pV"] = AugmentedSimulator(voigt(), [doublet, *instrument])
    conditions["issue: + background 2-10 %, Poisson 300-5000"] = AugmentedSimulator(
        voigt(),
        [*instrument, doublet, Background(level=0.0, floor=(0.02, 0.1)), PoissonNoise(counts=(300.0, 5e3))],
    )
    # Quick scans: the laboratory condition at 30-100 counts at the strongest point, where a fifth of
    # rruff-dev lies (its apparent counts, evaluate_classifier --rruff) and the preset draws little
    # (50-30,000 log-uniformly: 11 % below 100).
    conditions["quick scan: background 2-10 %, Poisson 30-100"] = AugmentedSimulator(
        voigt(),
        [*instrument, doublet, Background(level=0.0, floor=(0.02, 0.1)), PoissonNoise(counts=(30.0, 100.0))],
    )
    # Nanocrystalline powders (broad peaks from 5-20 nm crystallites, as in many materials-science
    # laboratories): below the laboratory preset's sizes when it was written, so measured on its own.
    conditions["nanocrystalline: 5-20 nm"] = AugmentedSimulator(voigt(), [CrystalliteSize((5.0, 20.0))])
    # Scans that start late and stop early (20-30° to 60-80°), as many laboratories measure: beyond the
    # preset's ScanRange when it was written (starts up to 20°, stops from 60°).
    conditions["late scan: 20-30° to 60-80°"] = AugmentedSimulator(
        gaussian(), [ScanRange(start=(20.0, 30.0), stop=(60.0, 80.0))]
    )
    return conditions


# The counted baseline of the every-pattern conditions (a name the model card looks for).
COUNTED = "counted: 1,000 counts over 3 %"


def every_pattern_conditions(
    grid: tuple[float, float, int], seed: int, step_average: bool = False
) -> dict[str, torch.nn.Module]:
    """The clean recipe, and each effect that the ``laboratory-cu`` preset applies to only a share of its
    patterns (0 < p < 1) applied to every pattern, with the preset's ranges: what the effect costs a pattern
    that has it, where :func:`robustness_conditions` gives its cost at the preset's rate. Microstrain is
    rendered with pseudo-Voigt peaks, the others with the clean recipe's Gaussians, as there.

    Then the same clean patterns counted (:data:`COUNTED`: 1,000 counts at the strongest peak over a 3 %
    background, Poisson noise), alone and with each of the two effects that add weak extra peaks (the
    impurity phase and the Kβ residue) on every pattern: on a noiseless baseline the weakest extra peak
    stands out as a reflection would, in a measured scan it may sink into the noise, so their cost on
    counted patterns (against the counted baseline) is the one a measurement meets."""
    from xrdsynth.transforms import (
        AugmentedSimulator,
        Background,
        Impurity,
        KBetaResidue,
        Microstrain,
        PoissonNoise,
        laboratory_cu_transforms,
    )  # fmt: skip

    preset = laboratory_cu_transforms()
    partial = [t for t in preset if 0.0 < getattr(t, "p", 1.0) < 1.0]
    # The same effects with p = 1, in the preset's order (unchanged otherwise).
    always = [
        t
        for t in laboratory_cu_transforms({type(t).__name__: {"p": 1.0} for t in partial})
        if any(type(t) is type(u) for u in partial)
    ]

    conditions: dict[str, torch.nn.Module] = {
        "clean": AugmentedSimulator(condition_simulator(grid, seed, step_average, "gaussian"))
    }
    for rate, transform in zip((t.p for t in partial), always, strict=True):
        profile = "pseudo_voigt" if isinstance(transform, Microstrain) else "gaussian"
        name = f"+ {type(transform).__name__} (the preset's: {rate:.0%} of patterns)"
        sim = condition_simulator(grid, seed, step_average, profile)
        conditions[name] = AugmentedSimulator(sim, [transform])

    def counted() -> list:
        return [Background(level=0.0, floor=(0.03, 0.03)), PoissonNoise(counts=(1e3, 1e3))]

    conditions[COUNTED] = AugmentedSimulator(
        condition_simulator(grid, seed, step_average, "gaussian"), counted()
    )
    for transform in always:
        if isinstance(transform, (Impurity, KBetaResidue)):
            sim = condition_simulator(grid, seed, step_average, "gaussian")
            name = f"{COUNTED} + {type(transform).__name__}"
            conditions[name] = AugmentedSimulator(sim, [transform, *counted()])
    return conditions


def evaluate_conditions(
    classifier: Classifier,
    crystals: list[xs.Crystal],
    labels: np.ndarray,
    conditions: dict[str, torch.nn.Module],
) -> dict[str, dict[str, float]]:
    """Scores of the structures simulated under each condition on the model's grid, printed as they come."""
    results = {}
    for name, condition in conditions.items():
        probability = []
        for i in tqdm(range(0, len(crystals), 128), desc=name, leave=False):
            with torch.no_grad():
                patterns = condition(crystals[i : i + 128])
            probability.append(classifier.probabilities_on_grid(patterns).double().numpy())
        results[name] = scores(np.concatenate(probability), labels)
        r = results[name]
        print(
            f"  {name:<48} top-1 {r['top1']:6.1%}  crystal system {r['crystal_system']:6.1%} "
            f"(of the first answer {r['crystal_system_first']:6.1%})",
            flush=True,
        )
    return results


def evaluate_robustness(
    classifier: Classifier,
    crystals: list[xs.Crystal],
    labels: np.ndarray,
    seed: int,
    step_average: bool = False,
) -> dict[str, dict[str, float]]:
    """Scores of the structures simulated under each of :func:`robustness_conditions` on the model's grid."""
    spec = classifier.spec
    grid = (spec.two_theta_min, spec.two_theta_max, spec.num_points)
    return evaluate_conditions(classifier, crystals, labels, robustness_conditions(grid, seed, step_average))


def evaluate_synthetic(classifier: Classifier, n: int, seed: int) -> dict[str, float]:
    spec = classifier.spec
    sampler = xs.SpaceGroupSampler(seed=seed)
    sim = xs.PowderSimulator(
        two_theta=(spec.two_theta_min, spec.two_theta_max, spec.num_points),
        wavelength=spec.wavelength,
        seed=seed,
    )
    probability, labels = [], []
    for start in tqdm(range(0, n, 256), desc="synthetic", unit="batch"):
        batch = sampler.sample(min(256, n - start))
        probability.append(classifier.probabilities_on_grid(sim(batch)).double().numpy())
        labels.append(batch.space_group.numpy())
    return scores(np.concatenate(probability), np.concatenate(labels))


def evaluate_measured(classifier: Classifier, folder: Path) -> tuple[dict[str, float], list[dict]]:
    with open(folder / "index.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    probability, labels, details = [], [], []
    for row in tqdm(rows, desc="xred-monophase", unit="pattern"):
        data = np.loadtxt(folder / row["pattern"], delimiter=",", comments="#", ndmin=2)
        if not np.isfinite(data[0]).all():
            data = data[1:]
        order = np.argsort(data[:, 0])
        p = classifier.predict_proba(data[order, 0], data[order, 1], wavelength="CuKa1")[0]
        label = int(row["space_group_declared"] or row["space_group_spglib_0p1"])
        probability.append(p)
        labels.append(label)
        top = np.argsort(-p)[:5] + 1
        details.append({"sample": row["sample"], "space_group": label, "top5": top.tolist()})
    return scores(np.array(probability), np.array(labels)), details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="shipped name or folder (default: the default model)")
    parser.add_argument("--amcsd", type=Path, default=None, help="amcsd-dev folder (with index.csv)")
    parser.add_argument("--xred", type=Path, default=None, help="xred-monophase folder (with index.csv)")
    parser.add_argument("--rruff", type=Path, default=None, help="rruff-dev folder (with rruff-dev.npz)")
    parser.add_argument(
        "--rruff-smooth-fwhm", type=float, default=0.0, metavar="DEG",
        help="with --rruff: smooth every measured scan by a Gaussian of this FWHM (degrees) first, a probe "
        "of how the classifier reads smoothed scans",
    )  # fmt: skip
    parser.add_argument(
        "--robustness", action="store_true",
        help="with --amcsd: one structure per mineral under each laboratory effect alone and all together",
    )  # fmt: skip
    parser.add_argument(
        "--every-pattern", action="store_true",
        help="with --amcsd: one structure per mineral with each effect the laboratory preset applies to only "
        "a share of its patterns applied to every pattern (what the effect costs a pattern that has it)",
    )  # fmt: skip
    parser.add_argument(
        "--step-average", action="store_true",
        help="simulate amcsd-dev (and the robustness conditions) with every grid point the mean of the "
        "profile over its step, as measured scans are averaged onto the grid (default: the value at the "
        "point)",
    )  # fmt: skip
    parser.add_argument("--synthetic", type=int, default=0, help="number of synthetic test crystals")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--cache", type=Path, default=None, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument("--predictions", type=Path, default=None, help="CSV of per-structure predictions")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--precision", choices=("auto", "float32", "bfloat16"), default="auto",
        help="the network's arithmetic (Classifier.precision; 'auto', what users get: bfloat16 on CPUs with "
        "bfloat16 instructions, else float32); recorded with the figures",
    )  # fmt: skip
    parser.add_argument(
        "--write-card",
        action="store_true",
        help="store the figures in the model's card.json under --card-key (--model must be a folder)",
    )
    parser.add_argument(
        "--card-key", choices=("evaluation", "evaluation_float32", "every_pattern"), default="evaluation",
        help="where --write-card stores the figures: 'evaluation' (the card's table), 'evaluation_float32' "
        "(the same figures in float32, shown beside it) or 'every_pattern' (a run with --every-pattern, its "
        "own table in the card)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.write_card and (args.model is None or not (Path(args.model) / "card.json").is_file()):
        parser.error("--write-card needs --model FOLDER (a folder with card.json)")
    if (args.robustness or args.every_pattern) and args.amcsd is None:
        parser.error("--robustness and --every-pattern need --amcsd")
    if args.write_card and (args.card_key == "every_pattern") != args.every_pattern:
        parser.error("--card-key every_pattern goes with --every-pattern, and --every-pattern with it")
    if args.threads:
        torch.set_num_threads(args.threads)
    classifier = load_pretrained(args.model, precision=args.precision)
    # bfloat16 and float32 networks differ in the last bits, which flips a few answers near a tie (about 1 %
    # of rruff-dev): the figures say which arithmetic made them.
    precision = str(classifier.inference_dtype).removeprefix("torch.")
    print(f"network arithmetic: {precision} (--precision {args.precision})", flush=True)
    results: dict[str, object] = {"model": args.model or "default", "precision": precision}
    if args.step_average:
        results["step_average"] = True
    if args.synthetic:
        t = time.perf_counter()
        results["synthetic"] = evaluate_synthetic(classifier, args.synthetic, args.seed)
        print(f"synthetic ({time.perf_counter() - t:.0f} s): {results['synthetic']}", flush=True)
    if args.amcsd is not None:
        t = time.perf_counter()
        crystals, labels, ids = amcsd_crystals(args.amcsd, args.cache)
        patterns = simulate_on_grid(classifier, crystals, args.seed, step_average=args.step_average)
        probability = classifier.probabilities_on_grid(patterns).double().numpy()
        results["amcsd"] = scores(probability, labels)
        print(f"amcsd-dev ({time.perf_counter() - t:.0f} s): {results['amcsd']}", flush=True)
        unique = one_per_mineral(args.amcsd, ids)
        results["amcsd_one_per_mineral"] = scores(probability[unique], labels[unique])
        print(f"amcsd-dev, one structure per mineral: {results['amcsd_one_per_mineral']}", flush=True)
        if args.robustness:
            print("robustness (amcsd-dev, one structure per mineral):")
            results["robustness"] = evaluate_robustness(
                classifier, [crystals[i] for i in unique], labels[unique], args.seed, args.step_average
            )
        if args.every_pattern:
            print("each partial effect on every pattern (amcsd-dev, one structure per mineral):")
            results["every_pattern"] = evaluate_conditions(
                classifier,
                [crystals[i] for i in unique],
                labels[unique],
                every_pattern_conditions(classifier.spec.grid, args.seed, args.step_average),
            )
        if args.predictions is not None:
            top = np.argsort(-probability, axis=1)[:, :5] + 1
            with open(args.predictions, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["amcsd_id", "space_group", "top1", "top2", "top3", "top4", "top5", "p_top1"])
                for i, row in enumerate(top):
                    writer.writerow([ids[i], labels[i], *row.tolist(), f"{probability[i, row[0] - 1]:.4f}"])
    if args.rruff is not None:
        results["rruff"], probability, labels = evaluate_rruff(classifier, args.rruff, args.rruff_smooth_fwhm)
        if args.rruff_smooth_fwhm:
            results["rruff_smooth_fwhm"] = args.rruff_smooth_fwhm
        results["rruff_breakdown"] = breakdown(probability, labels)
        results["rruff_by_counts"] = counts_breakdown(rruff_patterns(args.rruff)[1], probability, labels)
        print(f"rruff-dev: {results['rruff']}", flush=True)
        print(f"rruff-dev breakdown: {results['rruff_breakdown']}", flush=True)
        print("rruff-dev by apparent counts at the strongest point:", flush=True)
        for row in results["rruff_by_counts"]:
            low, high = row["counts"]
            span = f">= {low:g}" if high is None else f"{low:g}-{high:g}"
            top1 = "-" if row["top1"] is None else f"{row['top1']:.1%}"
            print(f"  {span:>10}: {row['n']:4d} patterns, top-1 {top1}", flush=True)
    if args.xred is not None:
        results["xred"], details = evaluate_measured(classifier, args.xred)
        print(f"xred-monophase: {results['xred']}", flush=True)
        for d in details:
            print(f"  {d['sample']:<10} {d['space_group']:>3} -> {d['top5']}")
    arguments = sys.argv[1:] if argv is None else argv
    # The cache is a local file of this machine: it changes nothing in the figures, so it is not recorded.
    shown = [
        a for i, a in enumerate(arguments) if a != "--cache" and (i == 0 or arguments[i - 1] != "--cache")
    ]
    results["command"] = "python scripts/evaluate_classifier.py " + " ".join(shown)
    results["date"] = time.strftime("%Y-%m-%d")
    results["hardware"] = describe_hardware(torch.device("cpu"))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.write_card:
        card_path = Path(args.model) / "card.json"
        meta = json.loads(card_path.read_text(encoding="utf-8"))
        meta["card"][args.card_key] = results
        card_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {card_path} under {args.card_key!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
