"""Read every file under a folder with xrdsynth.io.read_all_patterns and list what comes out: a survey of
instrument files no one has stated facts for (a program's example data, a repository's test files).

    python scripts/survey_pattern_files.py DIR [DIR ...]

One row per file: the format read, how many ranges, the first range's points, 2θ span, wavelength and probe,
and any note the reader left; or the reason it was refused. A summary counts read and refused files and the
formats seen. Reading a folder of real files this way and looking at each row (is the 2θ span a diffraction
scan's? are refusals for files that are no powder patterns?) is how the readers' mistakes on the held-out
kind of file are found; the row's numbers are what a user gets.
"""

from __future__ import annotations

import argparse
import collections
import sys
import warnings
from pathlib import Path

from xrdsynth.io import PatternFileError, read_all_patterns


def survey(path: Path) -> tuple[str, str]:
    """("read" or "refused", the row to print) for one file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            patterns = read_all_patterns(path)
        except PatternFileError as error:
            return "refused", f"refused  {path.name}: {str(error).removeprefix(str(path) + ': ')[:200]}"
    p = patterns[0]
    note = p.metadata.get("note", "")
    span = f"2θ {p.two_theta[0]:.4g}-{p.two_theta[-1]:.4g}°"
    row = (
        f"read     {path.name}: {p.format}, {len(patterns)} range(s), {len(p)} points, {span}, "
        f"λ {p.wavelength if p.wavelength is not None else 'not stated'}"
        + (f", probe {p.metadata['probe']}" if p.metadata.get("probe") else "")
        + (f"; note: {note[:120]}" if note else "")
    )
    return f"read:{p.format}", row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args(argv)
    outcomes: collections.Counter[str] = collections.Counter()
    for folder in args.folders:
        if not folder.is_dir():
            parser.error(f"{folder}: not a folder")
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_size > 0):
            outcome, row = survey(path)
            outcomes[outcome] += 1
            print(row)
    read = sum(n for k, n in outcomes.items() if k.startswith("read"))
    formats = ", ".join(f"{k.split(':')[1]} {n}" for k, n in sorted(outcomes.items()) if k.startswith("read"))
    print(f"\n{read + outcomes['refused']} files: {read} read ({formats}), {outcomes['refused']} refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
