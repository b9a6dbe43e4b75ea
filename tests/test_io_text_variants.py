"""One measured-like pattern written as text the ways exports write it, and read back.

Each variant combines a column separator, a decimal mark, quoting, column labels (in several languages and
with units), a further column (σ, a background, a row index, the d spacing) or the columns swapped, a header
(a comment, key: value lines, a title, a /* */ block), a number format, line ends and an encoding. Every
variant must read back to the same 2θ and intensities, or be refused: refusal is allowed only for the one
layout that no reader can untangle (commas both between the columns and in the numbers, unquoted). Nothing
may come back silently wrong.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from xrdsynth.io import PatternFileError, read_pattern

_RNG = np.random.default_rng(0)
TWO_THETA = np.round(10 + 0.02 * np.arange(300), 2)
INTENSITY = np.round(
    200 + 800 * np.exp(-0.5 * ((TWO_THETA - 14) / 0.05) ** 2) + _RNG.uniform(0, 20, TWO_THETA.size), 1
)
SEPARATORS = {"space": " ", "spaces": "   ", "tab": "\t", "comma": ",", "semicolon": ";"}
LABELS = (
    None,
    ("2Theta", "Intensity"),
    ("Angle", "Counts"),
    ("2θ (°)", "Intensität (cps)"),
    ("Pos. [°2Th.]", "Iobs [cts]"),
    ("2theta_deg", "I"),
    ("two_theta", "counts"),
    ("Winkel", "Intensität"),
)
EXTRAS = (None, "sigma", "background", "index", "swapped", "d")
HEADERS = (
    None,
    "# measured on a diffractometer",
    "Sample: quartz\nWavelength: 1.5406",
    "Quartz standard scan",
    "/*\nquartz, GSAS-II style\n10 90 0.02\n*/",
)
VARIANTS = list(
    itertools.product(
        SEPARATORS,
        LABELS,
        EXTRAS,
        ("\n", "\r\n", "\r"),
        ("utf-8", "utf-8-sig", "latin-1", "utf-16"),
        HEADERS,
        ("fixed", "scientific"),
        (".", ","),
        (False, True),
    )
)
random.Random(1).shuffle(VARIANTS)


def _text(separator, labels, extra, ending, header, numbers, decimal, quoted) -> str | None:
    columns, names = [TWO_THETA, INTENSITY], None if labels is None else list(labels)
    if extra == "sigma":
        columns.append(np.round(np.sqrt(INTENSITY), 2))
        names = names and [*names, "sigma"]
    elif extra == "background":
        columns.append(np.full(TWO_THETA.size, 150.0))
        names = names and [*names, "Background"]
    elif extra == "d":  # the d spacing beside 2θ (Cu Kα1), as HighScore and GSAS-II exports add it
        columns.insert(1, np.round(1.5406 / (2 * np.sin(np.radians(TWO_THETA / 2))), 6))
        names = names and [names[0], "d (Å)", names[1]]
    elif extra == "index":
        columns.insert(0, np.arange(TWO_THETA.size))
        names = names and ["index", *names]
    elif extra == "swapped":
        if names is None:
            return None  # intensity first without labels: nothing says which is which
        columns, names = [INTENSITY, TWO_THETA], [names[1], names[0]]

    def field(value: float, column: int) -> str:
        if extra == "index" and column == 0:
            text = str(int(value))
        else:
            text = (f"{value:.6e}" if numbers == "scientific" else f"{value:.2f}").replace(".", decimal)
        return f'"{text}"' if quoted else text

    lines = [] if header is None else header.split("\n")
    if names:
        lines.append(separator.join(f'"{n}"' if quoted else n for n in names))
    lines += [separator.join(field(v, k) for k, v in enumerate(row)) for row in zip(*columns, strict=True)]
    return ending.join(lines) + ending


def _file(variant) -> bytes | None:
    separator, labels, extra, ending, encoding, header, numbers, decimal, quoted = variant
    text = _text(SEPARATORS[separator], labels, extra, ending, header, numbers, decimal, quoted)
    try:
        return None if text is None else text.encode(encoding)
    except UnicodeEncodeError:
        return None  # "2θ" has no Latin-1 byte: such a file does not exist


# The first 400 variants (of the shuffled ~67,000) that make a file.
CASES = list(itertools.islice(((v, f) for v in VARIANTS if (f := _file(v)) is not None), 400))


@pytest.mark.parametrize(("variant", "data"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_a_text_export_reads_back_or_is_refused_for_its_one_ambiguity(
    tmp_path: Path, variant: tuple, data: bytes
) -> None:
    separator, _, _, _, _, _, _, decimal, quoted = variant
    path = tmp_path / "export.txt"
    path.write_bytes(data)
    untangleable = separator == "comma" and decimal == "," and not quoted
    try:
        p = read_pattern(path)
    except PatternFileError:
        assert untangleable, "refused, though the layout can be read"
        return
    np.testing.assert_allclose(p.two_theta, TWO_THETA, atol=1e-6)
    np.testing.assert_allclose(p.intensity, INTENSITY, rtol=1e-6, atol=1e-3)


# Counts alone under header lines that state the grid, in the ways such headers are written.
KEYED = [
    ("Start angle: {start}", "Step size: {step}", "End angle: {stop}"),
    ("START={start}", "STEP={step}", "STOP={stop}"),
    ("2Theta start (deg) = {start}", "2Theta step (deg) = {step}", "Number of points = {points}"),
    ("StartAngle\t{start}", "StepWidth\t{step}", None),
    ("# Start: {start}", "# Increment: {step}", "# Points: {points}"),
]


@pytest.mark.parametrize("keys", KEYED, ids=[k[0].split()[0].strip("#:=") for k in KEYED])
@pytest.mark.parametrize("per_row", [1, 8])
@pytest.mark.parametrize("decimal", [".", ","])
def test_counts_under_a_header_that_states_the_grid(
    tmp_path: Path, keys: tuple, per_row: int, decimal: str
) -> None:
    counts = INTENSITY.astype(int)
    values = dict(start="10", step="0.02".replace(".", decimal), stop="15.98".replace(".", decimal))
    values["points"] = str(counts.size)
    header = [k.format(**values) for k in keys if k is not None]
    rows = [" ".join(str(c) for c in counts[i : i + per_row]) for i in range(0, counts.size, per_row)]
    path = tmp_path / "counts.txt"
    path.write_text("\n".join(["Quartz", *header, *rows]) + "\n", encoding="utf-8")
    if per_row > 1 and keys[2] is None:
        # Rows of several counts with neither an end nor a number of points: nothing says they are counts.
        with pytest.raises(PatternFileError):
            read_pattern(path)
        return
    p = read_pattern(path)
    np.testing.assert_allclose(p.two_theta, TWO_THETA, atol=1e-9)
    np.testing.assert_array_equal(p.intensity, counts)
