"""Does removing a Kβ residue from the input help the shipped classifier? (issue 13; docs/training.md)

    python scripts/try_kbeta_stripping.py --rruff ../shared/data/rruff-dev [--amcsd ../shared/data/amcsd-dev
        --cache /tmp/amcsd.pkl] [--model NAME_OR_FOLDER] [--ratios 0.005 0.01 0.02 auto auto*1.5]
        [--conditions NAME ...]

A Ni-filtered Cu tube leaves a weak Kβ line (λ 1.39222 Å, a few tenths to a few percent of Kα): every
reflection of spacing d also shows at the Kβ angle of d, below its Kα angle. On the model's grid the Kβ part
at 2θ is r·I(2θ′), 2θ′ the Kα1 angle of the d that Kβ puts at 2θ (sin θ′ = λ(Kα1)/λ(Kβ) sin θ; no source where
that exceeds 1), so the stripped pattern is I − r·I(2θ′), clipped at 0 (one step: r is small). Applied to the
patterns on the model's grid before the classifier's own preprocessing. The ratio ``auto`` estimates one per
pattern (:func:`xrdsynth.transforms.kbeta_ratio`: 0, nothing stripped, where no residue is found) and prints
the share of patterns where one was found; ``auto*F`` strips F times that estimate. The model is read without
its own strip (``InputSpec.kbeta_strip`` off), so that r = 0 is the pattern as measured. Prints, for each
ratio r, top-1 and the first answer's crystal system on rruff-dev (measured), each paired against no stripping
(patterns right only without / only with, exact McNemar p), and with ``--amcsd`` the same on amcsd-dev, one
structure per mineral, simulated under ``--conditions`` (default: clean, with the laboratory preset's Kβ
residue alone, with its Kα doublet, with the whole preset; names of ``evaluate_classifier.py --robustness``,
seed 0, or of :func:`kbeta_conditions`: a Kβ residue of 0.2–2 % on every pattern, alone and with the issue's
laboratory conditions, and those conditions counted with 30,000–100,000 counts at the strongest peak, with and
without it).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from compare_classifiers import mcnemar_p
from evaluate_classifier import (
    SYSTEM_OF_GROUP,
    amcsd_crystals,
    answers_on_grid,
    one_per_mineral,
    render,
    robustness_conditions,
    rruff_patterns,
)

from xrdsynth.models import load_pretrained, resample_pattern
from xrdsynth.simulate import WAVELENGTHS
from xrdsynth.transforms import kbeta_ratio, strip_kbeta

CU_KBETA = 1.39222  # Å, Cu Kβ1,3


def strip(patterns: torch.Tensor, two_theta: np.ndarray, ratio: float | str) -> tuple[torch.Tensor, float]:
    """(B, P) Cu Kα1 patterns on the equally spaced grid ``two_theta`` (degrees) minus ``ratio`` times their
    Kβ image, clipped at 0 (:func:`xrdsynth.transforms.strip_kbeta`; ``"auto"``: the ratio estimated per
    pattern, ``"auto*F"``: that estimate times F), and the share of patterns stripped."""
    grid = torch.as_tensor(two_theta, dtype=patterns.dtype)
    kalpha1 = WAVELENGTHS["CuKa1"]
    if isinstance(ratio, str):
        factor = float(ratio.removeprefix("auto").removeprefix("*") or 1.0)
        found = kbeta_ratio(patterns, grid, kalpha1, CU_KBETA)
        stripped = strip_kbeta(patterns, grid, kalpha1, CU_KBETA, (factor * found).clamp(max=0.5))
        return stripped, float((found > 0).double().mean())
    return strip_kbeta(patterns, grid, kalpha1, CU_KBETA, float(ratio)), 1.0 if ratio else 0.0


def ratio_argument(text: str) -> float | str:
    """A --ratios value: a number, ``auto`` or ``auto*F``."""
    if text == "auto" or (text.startswith("auto*") and float(text[5:]) > 0):
        return text
    return float(text)


def kbeta_conditions(grid: tuple[float, float, int], seed: int) -> dict[str, torch.nn.Module]:
    """More conditions than the robustness table's: a Kβ residue on every pattern, on clean patterns and with
    the issue's laboratory conditions (pseudo-Voigt, instrument-limited, Kα doublet, background 2–10 %),
    counted with 300–5,000 or with 30,000–100,000 counts at the strongest peak."""
    import xrdsynth as xs
    from xrdsynth.transforms import (
        AugmentedSimulator,
        Background,
        CrystalliteSize,
        InstrumentFunction,
        KAlphaDoublet,
        KBetaResidue,
        PoissonNoise,
    )

    def simulator(profile: str) -> xs.PowderSimulator:
        return xs.PowderSimulator(
            grid, wavelength="CuKa1", profile=profile, crystallite_size_nm=(20.0, 100.0), seed=seed
        )

    def laboratory(counts: tuple[float, float]) -> list:
        return [
            InstrumentFunction(u=0.004, v=-0.002, w=0.002),
            CrystalliteSize((200.0, 1000.0)),
            KAlphaDoublet("CuKa1", ratio=0.5),
            Background(level=0.0, floor=(0.02, 0.1)),
            PoissonNoise(counts=counts),
        ]

    kbeta = KBetaResidue("CuKa1", ratio=(0.002, 0.02), p=1.0)
    conditions: dict[str, torch.nn.Module] = {
        "Kβ 0.2-2 % on every pattern": AugmentedSimulator(simulator("gaussian"), [kbeta])
    }
    for name, counts in (("300-5000", (300.0, 5e3)), ("30000-100000", (3e4, 1e5))):
        conditions[f"laboratory, {name} counts"] = AugmentedSimulator(
            simulator("pseudo_voigt"), laboratory(counts)
        )
        conditions[f"laboratory, {name} counts, + Kβ on every pattern"] = AugmentedSimulator(
            simulator("pseudo_voigt"), [kbeta, *laboratory(counts)]
        )
    return conditions


def mcnemar(before: np.ndarray, after: np.ndarray) -> tuple[int, int, float]:
    """(right only before, right only after, two-sided exact McNemar p) of two (N,) bool arrays."""
    only_before, only_after = int(np.sum(before & ~after)), int(np.sum(~before & after))
    return only_before, only_after, mcnemar_p(only_before, only_after)


def report(name: str, answers: dict[float | str, tuple[np.ndarray, float]], labels: np.ndarray) -> None:
    base = answers[0.0][0]
    for ratio, (top, share) in answers.items():
        right, system = top == labels, SYSTEM_OF_GROUP[top - 1] == SYSTEM_OF_GROUP[labels - 1]
        line = f"  {name:<34} r = {ratio!s:<6} top-1 {right.mean():6.1%}  crystal system {system.mean():6.1%}"
        if isinstance(ratio, str):
            line += f"  (stripped {share:.0%})"
        if ratio:
            a, b, p = mcnemar(base == labels, right)
            c, d, q = mcnemar(SYSTEM_OF_GROUP[base - 1] == SYSTEM_OF_GROUP[labels - 1], system)
            line += f"  (top-1 {a} / {b}, p = {p:.2g}; system {c} / {d}, p = {q:.2g})"
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rruff", type=Path, required=True, help="rruff-dev folder (with rruff-dev.npz)")
    parser.add_argument("--amcsd", type=Path, default=None, help="amcsd-dev folder")
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the read amcsd-dev structures")
    parser.add_argument("--model", default=None, help="shipped name or saved folder (default: the default)")
    parser.add_argument(
        "--ratios",
        type=ratio_argument,
        nargs="+",
        default=[0.005, 0.01, 0.02],
        help="Kβ/Kα peak-height ratios, auto (estimated per pattern) or auto*F (that estimate times F)",
    )
    parser.add_argument(
        "--conditions",
        nargs="+",
        default=["clean", "+ KBetaResidue", "+ KAlphaDoublet", "laboratory-cu (all)"],
        help="amcsd-dev conditions (names of evaluate_classifier.robustness_conditions)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    classifier = load_pretrained(args.model, precision="float32")
    # Stripped here or not at all: a model whose card strips the residue itself is read without its strip.
    classifier.spec = spec = dataclasses.replace(classifier.spec, kbeta_strip=False)
    ratios = [0.0, *args.ratios]

    def answers(patterns: torch.Tensor) -> dict[float | str, tuple[np.ndarray, float]]:
        out = {}
        for r in ratios:
            stripped, share = strip(patterns, spec.two_theta, r)
            out[r] = (answers_on_grid(classifier, stripped), share)
        return out

    two_theta, intensity, labels = rruff_patterns(args.rruff)
    grid = torch.as_tensor(
        resample_pattern(two_theta, intensity, WAVELENGTHS["CuKa1"], spec), dtype=torch.float32
    )
    print(
        f"rruff-dev, {len(labels)} measured patterns (paired against r = 0: right only without / only with):"
    )
    report("measured", answers(grid), labels)
    if args.amcsd is not None:
        crystals, groups, ids = amcsd_crystals(args.amcsd, args.cache)
        keep = one_per_mineral(args.amcsd, ids)
        crystals, groups = [crystals[i] for i in keep], np.asarray(groups)[keep]
        grid_spec = (spec.two_theta_min, spec.two_theta_max, spec.num_points)
        conditions = {**robustness_conditions(grid_spec, 0), **kbeta_conditions(grid_spec, 0)}
        print(f"amcsd-dev, one structure per mineral ({len(crystals)}):")
        for name in args.conditions:
            report(name, answers(render(conditions[name], crystals)), groups)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
