"""Read every instrument file of a pattern-files folder and compare what comes out with the facts its
SOURCES.csv states (number of points, first and last 2θ, wavelength, first and last intensity).

    python scripts/check_pattern_files.py DATA_DIR        # e.g. ../shared/data/pattern-files

Prints one row per file (what xrdsynth.io.read_pattern yields, and how many stated facts it reproduces),
the files that are one measurement in two formats side by side, and a summary. A file with no stated facts
is listed with what it yields; a refused file with the reason. Exit status 1 when a stated fact is not
reproduced or a pair disagrees.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

from xrdsynth.io import MeasuredPattern, PatternFileError, read_pattern

# Tolerances for "reproduces the fact": the facts are written with 8-10 significant digits.
TWO_THETA_ATOL = 1e-6  # degrees
RELATIVE = 1e-6  # wavelength and intensities
# The same measurement in two formats: text exports round 2θ to 4 decimals.
PAIR_TWO_THETA_ATOL = 5e-4
PAIRS = [
    ("brml/chameleon_standard.brml", "txt/chameleon_standard_test.txt"),
    ("raw1.01/chameleon_brukerraw_test.RAW", "txt/chameleon_bruker_output.txt"),
]
FACTS = ("points", "tt_first", "tt_last", "wavelength", "y_first", "y_last")


def _value(pattern: MeasuredPattern, fact: str) -> float | None:
    return {
        "points": float(len(pattern)),
        "tt_first": float(pattern.two_theta[0]),
        "tt_last": float(pattern.two_theta[-1]),
        "wavelength": pattern.wavelength,
        "y_first": float(pattern.intensity[0]),
        "y_last": float(pattern.intensity[-1]),
    }[fact]


def _agrees(fact: str, got: float | None, expected: float) -> bool:
    if got is None:
        return False
    if fact == "points":
        return int(got) == int(expected)
    if fact.startswith("tt_"):
        return abs(got - expected) <= TWO_THETA_ATOL
    return math.isclose(got, expected, rel_tol=RELATIVE, abs_tol=1e-9)


def _number(value: float | None, digits: int = 6) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with SOURCES.csv and the files")
    args = parser.parse_args(argv)
    rows = list(csv.DictReader((args.data_dir / "SOURCES.csv").open(encoding="utf-8")))

    header = (
        f"{'file':<52} {'read as':<8} {'points':>6} {'2θ first':>9} {'2θ last':>9} {'λ (Å)':>11} "
        f"{'I first':>9} {'I last':>9}  facts"
    )
    print(header)
    print("-" * len(header))
    patterns: dict[str, MeasuredPattern] = {}
    totals = {"files": 0, "read": 0, "refused": 0, "facts": 0, "agree": 0, "files_all_agree": 0}
    disagreements: list[str] = []
    for row in rows:
        name = row["file"]
        totals["files"] += 1
        stated = {f: float(row[f]) for f in FACTS if row.get(f, "").strip()}
        try:
            pattern = read_pattern(args.data_dir / name)
        except PatternFileError as error:
            totals["refused"] += 1
            totals["facts"] += len(stated)  # not reproduced: counted against the reader
            reason = str(error).split(": ", 1)[-1]
            verdict = "refused" + (f"; {len(stated)} stated facts NOT reproduced" if stated else "")
            if stated:
                disagreements.append(f"{name}: refused but SOURCES.csv states facts")
            print(f"{name:<52} {'-':<8} {verdict}: {reason[:160]}")
            continue
        totals["read"] += 1
        patterns[name] = pattern
        agree = [f for f, v in stated.items() if _agrees(f, _value(pattern, f), v)]
        totals["facts"] += len(stated)
        totals["agree"] += len(agree)
        if stated and len(agree) == len(stated):
            totals["files_all_agree"] += 1
        for fact in stated:
            if fact not in agree:
                disagreements.append(
                    f"{name}: {fact} = {_value(pattern, fact)!r}, SOURCES.csv says {stated[fact]!r}"
                )
        facts = f"{len(agree)}/{len(stated)} agree" if stated else "none stated"
        print(
            f"{name:<52} {pattern.format:<8} {len(pattern):>6} {pattern.two_theta[0]:>9.4f} "
            f"{pattern.two_theta[-1]:>9.4f} {_number(pattern.wavelength, 8):>11} "
            f"{_number(float(pattern.intensity[0])):>9} {_number(float(pattern.intensity[-1])):>9}  {facts}"
        )

    print("\nOne measurement in two formats:")
    pairs_agree = 0
    for first, second in PAIRS:
        a, b = patterns.get(first), patterns.get(second)
        if a is None or b is None:
            print(f"  {first} vs {second}: not both read")
            disagreements.append(f"pair {first} / {second}: not both read")
            continue
        same_n = len(a) == len(b)
        dt = float(np.max(np.abs(a.two_theta - b.two_theta))) if same_n else math.inf
        di = float(np.max(np.abs(a.intensity - b.intensity))) if same_n else math.inf
        same_lambda = (
            a.wavelength is not None
            and b.wavelength is not None
            and math.isclose(a.wavelength, b.wavelength, rel_tol=1e-4)
        )
        ok = same_n and dt <= PAIR_TWO_THETA_ATOL and di == 0 and same_lambda
        pairs_agree += ok
        if not ok:
            disagreements.append(f"pair {first} / {second} disagree")
        print(
            f"  {first} vs {second}: points {len(a)}/{len(b)}, max |Δ2θ| {dt:.2g}°, max |ΔI| {di:g}, "
            f"λ {_number(a.wavelength, 8)}/{_number(b.wavelength, 8)} Å -> {'agree' if ok else 'DISAGREE'}"
        )

    print(
        f"\n{totals['files']} files: {totals['read']} read, {totals['refused']} refused; stated facts "
        f"reproduced: {totals['agree']}/{totals['facts']} (all facts of {totals['files_all_agree']} files); "
        f"pairs agreeing: {pairs_agree}/{len(PAIRS)}"
    )
    for line in disagreements:
        print(f"  DISAGREES: {line}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
