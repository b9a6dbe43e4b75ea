"""SPEC data files: one range per #S scan, 2θ and detector columns by their #L labels, multichannel spectra
skipped, other scans refused with what they scan (layout of SPEC's standard data file, as written by
certif.com's SPEC; the files here are made in the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import pattern_outcome
from xrdsynth.io import PatternFileError, read_all_patterns, read_pattern

FILE_HEADER = [
    "#F /data/powder.spec",
    "#E 1283859942",
    "#D Sun Oct 31 11:12:42 2010",
    "#C lab  User = someone",
    "#O0    Two Theta     Theta       Chi       Phi",
]


def scan_lines(number: int, command: str, labels: list[str], rows: np.ndarray, spectra: bool = False) -> list:
    """The lines of one scan: #S, its header, #L (labels two spaces apart) and the rows; with ``spectra``
    an @A spectrum of 24 channels after every row, continued over three lines by backslashes."""
    lines = [
        "",
        f"#S {number}  {command}",
        "#D Sun Oct 31 13:31:28 2010",
        "#T 2  (Seconds)",
        "#P0 10 5 0 0",
        f"#N {len(labels)}",
        "#@MCA %16C",
        "#L " + "  ".join(labels),
    ]
    for row in rows:
        lines.append(" ".join(f"{v:.6g}" for v in row))
        if spectra:
            lines += [
                "@A " + " ".join("1" * 8) + "\\",
                " " + " ".join("0" * 8) + "\\",
                " " + " ".join("2" * 8),
            ]
    return lines


def two_theta_rows(start: float, n: int = 301, step: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    two_theta = start + step * np.arange(n)
    counts = np.round(50 + 2000 * np.exp(-0.5 * ((two_theta - (start + 3.0)) / 0.04) ** 2))
    return two_theta, counts


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_each_scan_is_a_range_with_the_detector_counts(tmp_path: Path) -> None:
    """Two 2θ scans, the second starting where the first ends (which, read as one column file, looked like
    a repeated point): two ranges, each 2θ from 'Two Theta' and the counts from 'Detector' (not the
    monitor or the time stamps beside them), with its scan number, command, date and counting time."""
    labels = ["Two Theta", "Theta", "Epoch", "Seconds", "Monitor", "Detector"]
    lines = list(FILE_HEADER)
    expected = []
    for number, start in ((1, 10.0), (2, 16.0)):
        x, y = two_theta_rows(start)
        rows = np.column_stack(
            [x, x / 2, 1000 + np.arange(len(x)), np.full_like(x, 2), np.full_like(x, 9e5), y]
        )
        lines += scan_lines(number, f"ascan  tth {start:g} {start + 6:g} 300 2", labels, rows)
        expected.append((x, y))
    patterns = read_all_patterns(write(tmp_path / "powder.spec", lines))
    assert [p.format for p in patterns] == ["spec", "spec"]
    for p, (x, y), number in zip(patterns, expected, ("1", "2"), strict=True):
        np.testing.assert_allclose(p.two_theta, x)
        np.testing.assert_array_equal(p.intensity, y)
        assert p.metadata["scan_number"] == number
        assert p.metadata["scan_command"].startswith("ascan tth")
        assert p.metadata["columns"] == "2θ/x from 'Two Theta', intensity from 'Detector'"
        assert p.metadata["counting_time_s"] == "2"
        assert p.metadata["date"] == "Sun Oct 31 13:31:28 2010"
    second = read_pattern(tmp_path / "powder.spec", scan=1)
    assert second.two_theta[0] == pytest.approx(16.0)


def test_multichannel_spectra_after_the_rows_are_skipped(tmp_path: Path) -> None:
    x, y = two_theta_rows(20.0)
    rows = np.column_stack([x, np.full_like(x, 1), y])
    path = write(
        tmp_path / "mca.spec",
        FILE_HEADER
        + scan_lines(7, "ascan tth 20 26 300 1", ["tth", "Seconds", "Detector"], rows, spectra=True),
    )
    p = read_pattern(path)
    np.testing.assert_array_equal(p.intensity, y)
    assert len(p) == len(x)


def test_the_two_theta_column_wherever_it_stands_and_the_last_column_as_the_counter(tmp_path: Path) -> None:
    """An a2scan of θ and 2θ lists θ first: 2θ is read from its own column. No column labelled as a
    counter: SPEC's main counter is the last column."""
    x, y = two_theta_rows(30.0)
    rows = np.column_stack([x / 2, x, np.full_like(x, 1), y])
    path = write(
        tmp_path / "a2scan.spec",
        FILE_HEADER
        + scan_lines(3, "a2scan th 15 18 tth 30 36 300 1", ["Theta", "Two Theta", "Seconds", "apdcnt"], rows),
    )
    p = read_pattern(path)
    np.testing.assert_allclose(p.two_theta, x)
    np.testing.assert_array_equal(p.intensity, y)
    assert p.metadata["columns"] == "2θ/x from 'Two Theta', intensity from 'apdcnt'"


def test_scans_of_other_axes_are_refused_and_left_out(tmp_path: Path) -> None:
    """A θ scan (no 2θ column), an ω rocking curve, a 2θ column that stays put while θ moves and a scan
    whose last column is its counting time are no powder patterns: each says why, and the 2θ scan of the
    same file is the one read."""
    x, y = two_theta_rows(10.0)
    theta = np.linspace(5, 6, 51)
    lines = list(FILE_HEADER)
    lines += scan_lines(
        1,
        "ascan th 5 6 50 1",
        ["Theta", "Seconds", "Detector"],
        np.column_stack([theta, np.ones(51), np.arange(51)]),
    )
    lines += scan_lines(
        2,
        "ascan om 5 6 50 1",
        ["omega", "Seconds", "Detector"],
        np.column_stack([theta, np.ones(51), np.arange(51)]),
    )
    lines += scan_lines(
        3,
        "ascan th 5 6 50 1",
        ["Theta", "Two Theta", "Detector"],
        np.column_stack([theta, np.full(51, 12.0), np.arange(51)]),
    )
    lines += scan_lines(
        4, "ascan tth 10 16 300 1", ["Two Theta", "Seconds"], np.column_stack([x, np.ones_like(x)])
    )
    lines += scan_lines(
        5,
        "ascan tth 10 16 300 1",
        ["Two Theta", "Seconds", "Detector"],
        np.column_stack([x, np.ones_like(x), y]),
    )
    path = write(tmp_path / "mixed.spec", lines)
    patterns = read_all_patterns(path)
    assert [p.metadata["scan_number"] for p in patterns] == ["5"]
    assert patterns[0].metadata["range"] == "5"
    for scan, match in [
        (0, r"scan 1 \(line \d+: ascan th 5 6 50 1\): scans 'Theta' and has no 2θ column"),
        (1, r"'omega', a goniometer angle other than 2θ"),
        (2, r"scan 3 .*2θ stays at 12° while 'Theta' moves"),
        (3, r"scan 4 .*no column holds a detector's counts"),
    ]:
        with pytest.raises(PatternFileError, match=match):
            read_pattern(path, scan=scan)


def test_messages_name_the_line_of_the_file(tmp_path: Path) -> None:
    x, y = two_theta_rows(10.0, n=20)
    lines = list(FILE_HEADER)
    lines += scan_lines(1, "ascan tth 10 10.38 19 1", ["Two Theta", "Detector"], np.column_stack([x, y]))
    lines += scan_lines(2, "ascan tth 10 10.38 19 1", ["Two Theta", "Detector"], np.column_stack([x, y]))
    bad = len(lines) - 5  # a row of the second scan
    lines[bad] = lines[bad] + " 7"
    with pytest.raises(PatternFileError, match=rf"line {bad + 1}: 3 numbers in a row of scan 2"):
        read_pattern(write(tmp_path / "bad.spec", lines), scan=1)


def test_a_wavelength_in_a_comment_and_a_q_scan_with_a_given_wavelength(tmp_path: Path) -> None:
    """The wavelength a #C comment states is the pattern's; a scan of Q is converted with the wavelength
    given to the reader (the text columns' rules), and refused without one."""
    x, y = two_theta_rows(10.0)
    header = [*FILE_HEADER, "#C wavelength = 1.5406 A"]
    p = read_pattern(
        write(
            tmp_path / "wl.spec",
            header
            + scan_lines(1, "ascan tth 10 16 300 1", ["Two Theta", "Detector"], np.column_stack([x, y])),
        )
    )
    assert p.wavelength == pytest.approx(1.5406)
    q = np.linspace(1.0, 3.0, 101)
    path = write(
        tmp_path / "q.spec",
        FILE_HEADER
        + scan_lines(
            1, "ascan q 1 3 100 1", ["q_A^-1", "Detector"], np.column_stack([q, 100 + np.arange(101)])
        ),
    )
    with pytest.raises(PatternFileError, match=r"wavelength"):
        read_pattern(path)
    converted = read_pattern(path, wavelength=1.5406)
    assert converted.format == "spec" and converted.metadata["scan_number"] == "1"
    np.testing.assert_allclose(converted.two_theta, np.degrees(2 * np.arcsin(q * 1.5406 / (4 * np.pi))))


def test_a_constant_column_is_not_taken_for_d_spacings(tmp_path: Path) -> None:
    """Unlabelled columns 2θ, a counting time of 1 s, counts: whole numbers fit Bragg's law at any
    wavelength within their rounding, so the second column was read as d (and the wavelength made up)."""
    path = tmp_path / "three.txt"
    x = np.arange(5.0, 6.0001, 0.02)
    path.write_text("".join(f"{a:.2f} 1 {100 + i}\n" for i, a in enumerate(x)))
    p = read_pattern(path)
    assert p.wavelength is None
    assert "spacing_column" not in p.metadata


def test_scans_read_as_text_columns_name_the_line_of_the_file(tmp_path: Path) -> None:
    """A scan of Q goes through the text columns' rules; their messages name the file's line, not the line
    within the scan handed to them."""
    x, y = two_theta_rows(10.0, n=20)
    q = np.linspace(1.0, 2.0, 20)
    lines = list(FILE_HEADER)
    lines += scan_lines(1, "ascan tth 10 10.38 19 1", ["Two Theta", "Detector"], np.column_stack([x, y]))
    lines += scan_lines(2, "ascan q 1 2 19 1", ["q_A^-1", "Detector"], np.column_stack([q, y]))
    bad = len(lines) - 3
    lines[bad] = lines[bad].split()[0] + " nan"
    with pytest.raises(PatternFileError, match=rf"line {bad + 1}: non-finite intensity"):
        read_pattern(write(tmp_path / "q.spec", lines), scan=1, wavelength=1.5406)


def test_damaged_copies_are_read_or_refused_with_the_file_named(tmp_path: Path) -> None:
    """Truncated copies and copies with one byte overwritten of a SPEC file with spectra: each reads as
    patterns or is refused with a PatternFileError naming the file, never another exception."""
    x, y = two_theta_rows(10.0, n=40)
    lines = list(FILE_HEADER)
    for number in (1, 2):
        rows = np.column_stack([x, np.ones_like(x), y])
        lines += scan_lines(
            number, "ascan tth 10 10.78 39 1", ["tth", "Seconds", "Detector"], rows, spectra=True
        )
    data = ("\n".join(lines) + "\n").encode()
    rng = np.random.default_rng(0)
    damaged = [data[: int(n)] for n in rng.integers(1, len(data), 40)]
    for at, value in zip(rng.integers(0, len(data), 160), rng.integers(0, 256, 160), strict=True):
        copy = bytearray(data)
        copy[int(at)] = int(value)
        damaged.append(bytes(copy))
    outcomes = []
    for k, content in enumerate(damaged):
        path = tmp_path / f"damaged_{k}.spec"
        path.write_bytes(content)
        outcomes.append(pattern_outcome(path))
    assert set(outcomes) == {"pattern", "refused"}
