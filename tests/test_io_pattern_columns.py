"""Column text files whose header names the columns: x and intensity found by their labels, a wavelength
from a d or Q column beside 2θ, time stamps after the numbers, several scans or a series of intensity
columns in one file; spreadsheets (.xlsx) read as such tables."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xrdsynth.io import PatternFileError, read_all_patterns, read_pattern
from xrdsynth.simulate import WAVELENGTHS


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _frame_export(wavelength: float, frames: int = 2) -> tuple[str, np.ndarray]:
    """A frame-by-frame export as an area-detector integration writes it (the layout of a public example
    file): frame number first, 2θ, 2θ at Cu Kα, d, Q, intensity, frame, monitor, date, time."""
    two_theta = np.round(np.arange(3.0, 55.0, 0.02), 5)
    theta = np.radians(two_theta) / 2
    d = wavelength / (2 * np.sin(theta))
    q = 4 * math.pi * np.sin(theta) / wavelength
    cuka = np.degrees(2 * np.arcsin(np.clip(1.5418 / (2 * d), 0, 1)))
    lines = [
        "imagenum  twotheta  twotheta_cuka  dspacing  qvalue  intensity  frame_number  izero  date  time"
    ]
    intensities = []
    for frame in range(frames):
        intensity = 100.0 + 900.0 * np.exp(-0.5 * ((two_theta - 20.0 - frame) / 0.05) ** 2)
        intensities.append(intensity)
        for t, c, dd, qq, y in zip(two_theta, cuka, d, q, intensity, strict=True):
            lines.append(
                f"{frame:6d} {t:10.5f} {c:10.5f} {dd:10.5f} {qq:10.5f} {y:15.2f} {frame + 1:6d}"
                f"        10897.00 07/07/2022 19:15:30"
            )
    return "\n".join(lines) + "\n", np.array(intensities)


def test_labelled_columns_time_stamps_frames_and_the_wavelength_of_a_d_column(tmp_path: Path) -> None:
    text, intensities = _frame_export(1.23984)
    path = _write(tmp_path, "frames.dat", text)
    patterns = read_all_patterns(path)
    assert len(patterns) == 2  # one range per frame number
    for frame, pattern in enumerate(patterns):
        assert pattern.two_theta[0] == pytest.approx(3.0) and pattern.two_theta[-1] == pytest.approx(54.98)
        # The 2θ column, not the frame number (column 1) nor the Cu Kα equivalent.
        np.testing.assert_allclose(pattern.intensity, intensities[frame], rtol=0, atol=0.006)
        # λ = 2 d sinθ of the file's own rows (d written to 5 decimals).
        assert pattern.wavelength == pytest.approx(1.23984, abs=2e-5)
        assert pattern.metadata["range"] == str(frame + 1) and pattern.metadata["ranges"] == "2"
        assert "'twotheta'" in pattern.metadata["columns"] and "'intensity'" in pattern.metadata["columns"]
        assert "'dspacing'" in pattern.metadata["wavelength_from"]
    assert read_pattern(path, scan=1).intensity.argmax() != read_pattern(path).intensity.argmax()


def test_a_stated_wavelength_wins_over_the_d_column(tmp_path: Path) -> None:
    text, _ = _frame_export(1.23984, frames=1)
    path = _write(tmp_path, "stated.dat", "# wavelength = 1.2398 A\n" + text)
    pattern = read_pattern(path)
    assert pattern.wavelength == pytest.approx(1.2398)
    assert "wavelength_from" not in pattern.metadata


def test_a_d_column_that_disagrees_with_two_theta_is_refused(tmp_path: Path) -> None:
    # Every row's d scaled by a factor growing from 1 to 1.01: the rows give different wavelengths.
    text, _ = _frame_export(1.23984, frames=1)
    lines = text.splitlines()
    for i in range(1, len(lines)):
        words = lines[i].split()
        words[3] = f"{float(words[3]) * (1 + 0.01 * i / len(lines)):.5f}"
        lines[i] = " ".join(words)
    path = _write(tmp_path, "bad_d.dat", "\n".join(lines) + "\n")
    with pytest.raises(PatternFileError, match="'dspacing' column does not give one"):
        read_pattern(path)


def test_tab_separated_labels_with_units_and_a_point_number_first(tmp_path: Path) -> None:
    # HighScore-like: "No." then "Pos. [°2Th.]" then "Iobs [cts]", tab-separated, Cu Kα named in the header.
    rows = [f"{i + 1}\t{10 + 0.02 * i:.2f}\t{50 + i % 7}\t{0.1 * i:.1f}" for i in range(400)]
    text = "Anode: Cu Ka1\nNo.\tPos. [°2Th.]\tIobs [cts]\tIcalc [cts]\n" + "\n".join(rows) + "\n"
    pattern = read_pattern(_write(tmp_path, "highscore.txt", text))
    assert pattern.two_theta[0] == pytest.approx(10.0) and pattern.two_theta[-1] == pytest.approx(17.98)
    assert pattern.intensity[:8].tolist() == [50, 51, 52, 53, 54, 55, 56, 50]
    assert pattern.wavelength == pytest.approx(WAVELENGTHS["CuKa1"])
    assert pattern.metadata["ignored_columns"] == "2"


def test_bruker_eva_angle_label_after_an_index(tmp_path: Path) -> None:
    rows = [f"{i},{20 + 0.05 * i:.3f},{1000 - i}" for i in range(50)]
    text = "Point,Angle,Intensity\n" + "\n".join(rows) + "\n"
    pattern = read_pattern(_write(tmp_path, "eva.csv", text))
    assert pattern.two_theta[0] == pytest.approx(20.0) and pattern.intensity[0] == 1000


def test_time_stamps_after_unlabelled_columns(tmp_path: Path) -> None:
    rows = [f"{10 + 0.1 * i:.1f} {100 + i} 2022-07-07T19:15:{i % 60:02d}" for i in range(30)]
    pattern = read_pattern(_write(tmp_path, "stamped.xy", "\n".join(rows) + "\n"))
    assert pattern.two_theta.size == 30 and pattern.intensity[-1] == 129


def test_scans_one_after_another_are_ranges_and_a_small_step_back_is_not(tmp_path: Path) -> None:
    first = [f"{10 + 0.5 * i:.1f} {i}" for i in range(20)]
    second = [f"{10 + 0.5 * i:.1f} {100 + i}" for i in range(20)]
    path = _write(tmp_path, "two_scans.xy", "\n".join(first + second) + "\n")
    patterns = read_all_patterns(path)
    assert [p.intensity[0] for p in patterns] == [0, 100]
    assert all(p.two_theta.size == 20 for p in patterns)
    jitter = [f"{10 + 0.5 * i - (0.6 if i == 10 else 0):.1f} {i}" for i in range(20)]
    with pytest.raises(PatternFileError, match="not monotonic"):
        read_pattern(_write(tmp_path, "jitter.xy", "\n".join(jitter) + "\n"))
    # Ranges that overlap: the second starts 1° (50 steps) before the first ends, far less than half of it.
    first_range = [f"{30 + 0.02 * i:.2f} {i}" for i in range(1800)]
    overlap = first_range + [f"{65 + 0.03 * i:.2f} {i}" for i in range(500)]
    patterns = read_all_patterns(_write(tmp_path, "overlap.xy", "\n".join(overlap) + "\n"))
    assert [(p.two_theta[0], p.two_theta[-1]) for p in patterns] == [(30.0, 65.98), (65.0, 79.97)]


def test_labels_that_do_not_match_the_columns_leave_the_first_two(tmp_path: Path) -> None:
    # Three labels over two columns: not a header of these columns; x and y are the first two as always.
    text = "2theta intensity sigma\n" + "\n".join(f"{5 + i} {i}" for i in range(10)) + "\n"
    pattern = read_pattern(_write(tmp_path, "short.xy", text))
    assert pattern.two_theta[0] == 5 and pattern.intensity[-1] == 9 and "columns" not in pattern.metadata


def test_several_intensity_columns_of_one_kind_are_a_series(tmp_path: Path) -> None:
    # An in-situ series exported as one table: one 2θ column, an intensity column per temperature.
    rows = [f"{15 + 0.01 * i:.2f}\t{100 + i}\t{200 + i}\t{300 + i}\t{5 + i}" for i in range(50)]
    text = "θ/2θ, °\tIntensity at 30°C\tIntensity at 100°C\tIntensity at 200°C\tIcalc\n" + "\n".join(rows)
    path = _write(tmp_path, "series.txt", text + "\n")
    patterns = read_all_patterns(path)
    assert [p.metadata["column"] for p in patterns] == [
        "Intensity at 30°C",
        "Intensity at 100°C",
        "Intensity at 200°C",
    ]  # the calculated column is not a measurement
    assert [p.intensity[0] for p in patterns] == [100, 200, 300]
    assert read_pattern(path).intensity[-1] == 149 and patterns[0].two_theta[0] == pytest.approx(15.0)
    # A background column labelled as an intensity of another kind is not a second measurement.
    text = "2theta\tIntensity\tIntensity (background)\n" + "\n".join(r.rsplit("\t", 2)[0] for r in rows)
    assert len(read_all_patterns(_write(tmp_path, "background.txt", text + "\n"))) == 1


def _xlsx(sheets: list[tuple[str, list[list[object]]]]) -> bytes:
    """A minimal spreadsheet as Excel writes one: shared strings for text, numbers as values, cell
    references with letters (a gap left where a row skips a column)."""
    strings: list[str] = []
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    book = [f"<workbook {main} {rel}><sheets>"]
    rels = ['<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">']
    members = {}
    for index, (name, rows) in enumerate(sheets, start=1):
        book.append(f'<sheet name="{name}" sheetId="{index}" r:id="rId{index}"/>')
        rels.append(f'<Relationship Id="rId{index}" Type="worksheet" Target="worksheets/sheet{index}.xml"/>')
        cells = []
        for r, row in enumerate(rows, start=1):
            parts = []
            for c, value in enumerate(row):
                ref = f"{'ABCDEFGHIJ'[c]}{r}"
                if value is None:
                    continue
                if isinstance(value, str):
                    strings.append(value)
                    parts.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
                else:
                    parts.append(f'<c r="{ref}"><v>{value!r}</v></c>')
            cells.append(f'<row r="{r}">{"".join(parts)}</row>')
        members[f"xl/worksheets/sheet{index}.xml"] = (
            f"<worksheet {main}><sheetData>{''.join(cells)}</sheetData></worksheet>"
        )
    book.append("</sheets></workbook>")
    rels.append("</Relationships>")
    shared = "".join(f"<si><t>{s}</t></si>" for s in strings)
    members["xl/workbook.xml"] = "".join(book)
    members["xl/_rels/workbook.xml.rels"] = "".join(rels)
    members["xl/sharedStrings.xml"] = f"<sst {main}>{shared}</sst>"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_spreadsheet_sheets_are_read_as_tables(tmp_path: Path) -> None:
    info = [["Sample", "quartz"], ["Wavelength", "Cu Ka1"]]
    data: list[list[object]] = [["2theta (deg)", "Intensity (counts)"]]
    data += [[10.0 + 0.02 * i, float(100 + i)] for i in range(40)]
    data[5] = [
        data[5][0],
        None,
        data[5][1],
    ]  # a row whose value sits one column further: refused, not shifted
    path = tmp_path / "export.xlsx"
    path.write_bytes(_xlsx([("Info", info), ("Scan", data[:5] + data[6:])]))
    p = read_pattern(path)  # the info sheet holds no pattern: the scan sheet is the first readable range
    assert p.format == "xlsx" and p.metadata["sheet"] == "Scan" and len(p) == 39
    np.testing.assert_allclose(p.two_theta[:2], [10.0, 10.02])
    assert p.intensity[0] == 100 and "'Intensity (counts)'" not in p.metadata.get("columns", "")
    with pytest.raises(PatternFileError, match="sheet 'Info'"):
        read_pattern(path, scan=0)
    path.write_bytes(_xlsx([("Scan", data)]))
    with pytest.raises(
        PatternFileError, match=r"sheet 'Scan': line 6: 3 columns, but the data started with 2"
    ):
        read_pattern(path)
    # A table placed from column B (the first column empty) reads the same.
    path.write_bytes(_xlsx([("Scan", [[None, *row] for row in data[:5] + data[6:]])]))
    assert read_pattern(path).intensity[0] == 100


def test_a_saved_tables_row_index_is_not_two_theta(tmp_path: Path) -> None:
    # pandas' DataFrame.to_csv: an unnamed index column first, its header field empty.
    rows = "".join(f"{i},{10 + 0.1 * i:.1f},{5 + i % 3}\n" for i in range(6))
    p = read_pattern(_write(tmp_path, "labelled.csv", ",2theta,intensity\n" + rows))
    np.testing.assert_allclose(p.two_theta, 10 + 0.1 * np.arange(6))
    assert p.intensity[:3].tolist() == [5, 6, 7]
    # Without labels (the first data row became the header) the index counts past 180: not 2θ.
    many = "".join(f"{i},{4 + 0.01 * i:.2f},{100 + i % 7}\n" for i in range(300))
    p = read_pattern(_write(tmp_path, "unlabelled.csv", ",4,16.455\n" + many))
    assert p.two_theta[0] == pytest.approx(4.0) and p.intensity[0] == 100 and len(p) == 300
    assert "index" in p.metadata["note"]
    # A real 2θ axis in whole degrees stays the axis.
    whole = "".join(f"{t} {50 + t} {7}\n" for t in range(1, 91))
    p = read_pattern(_write(tmp_path, "degrees.xy", whole))
    assert p.two_theta[0] == 1 and p.intensity[0] == 51


def test_a_peak_list_or_an_axis_as_intensity_is_refused(tmp_path: Path) -> None:
    """Labels that say the first two columns are not 2θ and an intensity: a peak list (HighScore, Jade), or a
    second column labelled d with no intensity column. Read without labels, the heights or the d values
    would have become a pattern."""
    peaks = "Pos. [°2Th.]\tHeight [cts]\tFWHM Left [°2Th.]\td-spacing [Å]\tRel. Int. [%]\n" + "".join(
        f"{t:.3f}\t{h}\t0.10\t{1.5406 / (2 * math.sin(math.radians(t / 2))):.4f}\t{h / 9:.1f}\n"
        for t, h in ((20.86, 210), (26.64, 900), (36.54, 80), (39.47, 75), (50.14, 130))
    )
    with pytest.raises(
        PatternFileError, match=r"peaks\.txt: line 1: columns 'Pos\. \[°2Th\.\]', .*a peak list"
    ):
        read_pattern(_write(tmp_path, "peaks.txt", peaks))
    two_theta = 10 + 0.02 * np.arange(50)
    spacings = "2theta d\n" + "".join(
        f"{t:.2f} {1.5406 / (2 * math.sin(math.radians(t / 2))):.5f}\n" for t in two_theta
    )
    with pytest.raises(PatternFileError, match=r"the second column is 'd', an axis"):
        read_pattern(_write(tmp_path, "spacings.txt", spacings))
    # Positions and heights alone: a peak list where the positions are uneven, a scan where they are steps.
    heights = "2Theta Height\n" + "".join(f"{t} {h}\n" for t, h in ((20.86, 210), (26.64, 900), (36.54, 80)))
    with pytest.raises(PatternFileError, match=r"columns '2Theta', 'Height': a peak list"):
        read_pattern(_write(tmp_path, "heights.txt", heights))
    scan = "2Theta Height\n" + "".join(f"{t:.2f} {100 + i}\n" for i, t in enumerate(two_theta))
    assert read_pattern(_write(tmp_path, "scan.txt", scan)).intensity[1] == 101
    # The same columns with an intensity beside them read as before.
    counts = "2theta d counts\n" + "".join(
        f"{t:.2f} {1.5406 / (2 * math.sin(math.radians(t / 2))):.5f} {100 + i}\n"
        for i, t in enumerate(two_theta)
    )
    assert read_pattern(_write(tmp_path, "counts.txt", counts)).intensity[0] == 100
