"""Measured-pattern readers (xrdsynth.io.read_pattern): every format against its fixture and against numpy,
the header rules, and every error case naming the file and the line."""

from __future__ import annotations

import dataclasses
import pickle
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from xrdsynth.io import MeasuredPattern, PatternFileError, read_all_patterns, read_pattern
from xrdsynth.simulate import KALPHA2_RATIO, WAVELENGTHS

DATA = Path(__file__).parent / "data" / "patterns"
XY = DATA / "quartz_comment_header.xy"
XYE = DATA / "quartz.xye"
CSV = DATA / "quartz_header_row.csv"
RRUFF = DATA / "Quartz__R040031__Powder__Xray_Data_XY_Processed.txt"
XRDML = DATA / "quartz.xrdml"
RAW = DATA / "quartz.raw"
# The synthetic fixtures share one pattern: 51 points, 2theta 20..30 degrees in 0.2 degree steps.
GRID = np.linspace(20.0, 30.0, 51)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _counts() -> np.ndarray:
    return np.loadtxt(XY, comments="#")[:, 1]


# ---------------------------------------------------------------------------------------------------------
# Bruker RAW4 writer: the layout the reader documents (xrdsynth/io/_patterns.py), used to make quartz.raw.


def _text(value: str, size: int) -> bytes:
    return value.encode("latin-1").ljust(size, b"\x00")[:size]


def _range_bytes(
    counts: np.ndarray, start: float, step: float, scan_type: str, used_lambda: float, kind: int = 0
) -> bytes:
    header = bytearray(160)
    struct.pack_into("<I", header, 0, kind)
    header[32:56] = _text(scan_type, 24)
    struct.pack_into("<ddIf", header, 72, start, step, len(counts), 1.0)  # start, step, steps, time per step
    struct.pack_into("<ff", header, 100, 40.0, 40.0)  # generator kV, mA
    struct.pack_into("<d", header, 112, used_lambda)
    supplementary = bytearray(64)  # one drive segment (type 50), "2Theta" starting at `start`
    struct.pack_into("<II", supplementary, 0, 50, 64)
    supplementary[12:36] = _text("2Theta", 24)
    struct.pack_into("<d", supplementary, 56, start)
    struct.pack_into("<II", header, 136, 4, len(supplementary))
    return bytes(header) + bytes(supplementary) + np.asarray(counts, dtype="<f4").tobytes()


def _raw4_bytes(
    counts: np.ndarray,
    start: float = 20.0,
    step: float = 0.2,
    *,
    source: bool = True,
    scan_type: str = "Locked Coupled",
    before: tuple[bytes, ...] = (),
) -> bytes:
    """A Bruker RAW4.00 file: header, a text variable, the X-ray source, an unknown segment, ranges."""
    head = bytearray(61)
    head[0:7] = b"RAW4.00"
    head[12:24] = _text("05/14/2024", 12)
    head[24:34] = _text("10:12:00", 10)
    value = _text("quartz", 40)
    segments = struct.pack("<II", 10, 36 + len(value)) + bytes(4) + _text("SAMPLEID", 24) + value
    if source:
        tube = bytearray(120)
        struct.pack_into("<II", tube, 0, 30, 120)
        struct.pack_into("<5d", tube, 72, 1.541874, 1.540598, 1.544426, 1.392250, 0.5)
        tube[116:120] = _text("Cu", 4)
        segments += bytes(tube)
    segments += struct.pack("<II", 60, 76) + bytes(68)  # a drive alignment segment: skipped
    body = b"".join(before) + _range_bytes(counts, start, step, scan_type, 1.540598)
    return bytes(head) + segments + body


# ---------------------------------------------------------------------------------------------------------
# Text


def test_xy_with_comment_header() -> None:
    reference = np.loadtxt(XY, comments="#")
    p = read_pattern(XY)
    assert isinstance(p, MeasuredPattern)
    assert p.format == "xy" and p.source == str(XY) and len(p) == 51
    np.testing.assert_array_equal(p.two_theta, reference[:, 0])
    np.testing.assert_array_equal(p.intensity, reference[:, 1])
    np.testing.assert_allclose(p.two_theta, GRID)
    assert p.sigma is None
    assert p.wavelength == 1.5406 and p.wavelength2 is None and p.ratio is None
    assert "Bragg-Brentano" in p.metadata["header"]
    assert p.two_theta.dtype == np.float64 and not p.two_theta.flags.writeable


def test_xye_sigma_and_named_line() -> None:
    reference = np.loadtxt(XYE, comments="!")
    p = read_pattern(XYE)
    assert p.format == "xye"
    np.testing.assert_array_equal(p.sigma, reference[:, 2])
    np.testing.assert_array_equal(p.intensity, _counts())
    assert p.wavelength == WAVELENGTHS["CuKa1"] and p.wavelength2 is None


def test_csv_with_header_row() -> None:
    reference = np.loadtxt(CSV, delimiter=",", skiprows=2)
    p = read_pattern(CSV)
    assert p.format == "csv" and p.wavelength == 1.54056
    np.testing.assert_array_equal(p.intensity, reference[:, 1])
    assert "2theta,intensity" in p.metadata["header"]


def test_rruff_file() -> None:
    p = read_pattern(RRUFF)
    assert p.format == "rruff" and len(p) == 51
    assert p.wavelength == 1.541838 and p.wavelength2 is None
    assert p.metadata["NAMES"] == "Quartz" and p.metadata["sample"] == "Quartz"
    assert p.metadata["RRUFFID"] == "R040031"
    assert p.metadata["LOCALITY"].startswith("Hühnerkobel")  # Latin-1 bytes decoded
    counts = _counts()
    np.testing.assert_allclose(p.intensity, np.round(counts / counts.max() * 100, 2))


def test_rruff_data_end_at_end_marker(tmp_path: Path) -> None:
    path = _write(tmp_path, "r.txt", "##NAMES=X\n##WAVELENGTH=1.54184\n10, 1\n11, 2\n12, 3\n##END=\n13, 4\n")
    p = read_pattern(path)
    assert p.format == "rruff" and len(p) == 3 and p.wavelength == 1.54184


def test_measured_xred_patterns() -> None:
    """Excerpts of the laboratory patterns of xred-monophase (CRLF, no final newline, "x,y" and "x, y")."""
    for name, n in (("xred_CdS_pattern.csv", 584), ("xred_PbSO4_excerpt.csv", 400)):
        path = DATA / name
        reference = np.loadtxt(path, delimiter=",")
        p = read_pattern(path)
        assert p.format == "csv" and len(p) == n and p.wavelength is None
        np.testing.assert_array_equal(p.two_theta, reference[:, 0])
        np.testing.assert_array_equal(p.intensity, reference[:, 1])


@pytest.mark.parametrize(
    ("delimiter", "suffix"), [(",", ".csv"), ("\t", ".txt"), (" ", ".xy"), (";", ".dat")]
)
def test_round_trip_with_numpy(tmp_path: Path, delimiter: str, suffix: str) -> None:
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(5, 90, 200))
    y = rng.uniform(0, 1e4, 200)
    path = tmp_path / f"p{suffix}"
    np.savetxt(path, np.column_stack([x, y]), delimiter=delimiter, header="two_theta intensity", fmt="%.10g")
    p = read_pattern(path)
    np.testing.assert_allclose(p.two_theta, x, rtol=1e-9)
    np.testing.assert_allclose(p.intensity, y, rtol=1e-9)
    assert p.format == ("csv" if suffix == ".csv" else "xy")


def test_reversed_file_is_sorted(tmp_path: Path) -> None:
    path = _write(tmp_path, "r.xye", "30 5 1\n20 7 2\n10 9 3\n")
    p = read_pattern(path)
    np.testing.assert_array_equal(p.two_theta, [10, 20, 30])
    np.testing.assert_array_equal(p.intensity, [9, 7, 5])
    np.testing.assert_array_equal(p.sigma, [3, 2, 1])


def test_decimal_comma_only_when_unambiguous(tmp_path: Path) -> None:
    p = read_pattern(_write(tmp_path, "a.csv", "2theta;counts\n10,5;123,25\n10,6;124\n"))
    np.testing.assert_array_equal(p.two_theta, [10.5, 10.6])
    np.testing.assert_array_equal(p.intensity, [123.25, 124])
    p = read_pattern(_write(tmp_path, "b.txt", "10,5\t1,5\n10,7\t2\n"))
    np.testing.assert_array_equal(p.intensity, [1.5, 2])
    # Separated by spaces (a European locale's space-delimited export): decimal commas too.
    p = read_pattern(_write(tmp_path, "c.xy", "10,5 123,4\n10,6   124\n"))
    np.testing.assert_array_equal(p.two_theta, [10.5, 10.6])
    np.testing.assert_array_equal(p.intensity, [123.4, 124])
    # ... unless every comma could as well separate thousands.
    with pytest.raises(PatternFileError, match=r"d\.xy: line 1: .*ambiguous \(decimal commas, or commas"):
        read_pattern(_write(tmp_path, "d.xy", "10,000 12,345\n10,020 12,400\n"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("# wavelength = 1.5406", (1.5406, None, None)),
        ("# lambda: 1.54056", (1.54056, None, None)),
        ("Wavelength (Angstrom): 0.7093", (0.7093, None, None)),
        ("# Wavelength [nm] = 0.15406", (1.5406, None, None)),
        ("! lambda = 154.06 pm", (1.5406, None, None)),
        ("# Cu Ka1", (WAVELENGTHS["CuKa1"], None, None)),
        ("# Mo K-alpha1 radiation", (WAVELENGTHS["MoKa1"], None, None)),
        ("# Anode: CuKα", (WAVELENGTHS["CuKa1"], WAVELENGTHS["CuKa2"], KALPHA2_RATIO)),
        ("# Kα1 = 1.54060, Kα2 = 1.54443, ratio Kα2/Kα1 = 0.5", (1.5406, 1.54443, 0.5)),
        ("# CuKa, Kalpha1 = 1.5405", (1.5405, None, None)),  # a number wins over a named line
        ("# Peak a1 = 1.5, sample 1: 2.5 mg", (None, None, None)),
        ("# wavelength 2: 1.5444", (None, None, None)),  # Kα2 alone is no wavelength
        ("# wavelength = 25.0", (None, None, None)),  # outside 0.01-10 Å
    ],
)
def test_header_wavelength(tmp_path: Path, header: str, expected: tuple[float | None, ...]) -> None:
    p = read_pattern(_write(tmp_path, "h.xy", f"{header}\n10 1\n11 2\n"))
    assert (p.wavelength, p.wavelength2, p.ratio) == pytest.approx(expected)


def test_third_column_sigma_only_when_it_looks_like_one(tmp_path: Path) -> None:
    y = np.array([100.0, 400.0, 900.0, 1600.0])
    x = np.arange(4.0) + 10
    np.savetxt(tmp_path / "s.xy", np.column_stack([x, y, np.sqrt(y)]))
    p = read_pattern(tmp_path / "s.xy")
    assert p.format == "xye"
    np.testing.assert_array_equal(p.sigma, np.sqrt(y))
    np.savetxt(tmp_path / "c.xy", np.column_stack([x, y, 1.02 * y]))  # a calculated pattern, not sigma
    p = read_pattern(tmp_path / "c.xy")
    assert p.format == "xy" and p.sigma is None and p.metadata["ignored_columns"] == "1"


def test_an_axis_is_not_sigma_and_numbers_over_the_columns_are_a_header(tmp_path: Path) -> None:
    x = 10 + 0.02 * np.arange(50)
    y = 100 + 400 * np.exp(-0.5 * ((x - 10.5) / 0.05) ** 2)
    # Two scans side by side: the second scan's 2θ is of the order of sqrt(y), but an axis, not σ.
    np.savetxt(
        tmp_path / "side.txt", np.column_stack([x, y, x + 10, 2 * y]), header="2theta_1 I_1 2theta_2 I_2"
    )
    p = read_pattern(tmp_path / "side.txt")
    assert p.format == "xy" and p.sigma is None and p.metadata["ignored_columns"] == "2"
    # A "start stop step" line over two columns: a header line, not a refused first data row.
    rows = "".join(f"{a:.2f} {b:.1f}\n" for a, b in zip(x, y, strict=True))
    p = read_pattern(_write(tmp_path, "h.xy", "quartz\n10.0 10.98 0.02\n" + rows))
    assert len(p) == 50 and p.two_theta[0] == 10.0 and "line 2" in p.metadata["note"]
    assert p.metadata["header"].endswith("10 10.98 0.02")


def test_footer_is_ignored_but_data_may_not_resume(tmp_path: Path) -> None:
    p = read_pattern(_write(tmp_path, "f.xy", "10 1\n11 2\nEnd of data\n"))
    assert len(p) == 2
    with pytest.raises(PatternFileError, match=r"g\.xy: line 3: not numeric .*line 4"):
        read_pattern(_write(tmp_path, "g.xy", "10 1\n11 2\n12 oops\n13 4\n"))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text(tmp_path: Path, encoding: str) -> None:
    # With its byte-order mark, and without it (Windows "Unicode" text some programs save so).
    path = tmp_path / "w.txt"
    path.write_bytes("# wavelength = 1.5406\r\n10\t1\r\n11\t2\r\n".encode(encoding))
    p = read_pattern(path)
    assert len(p) == 2 and p.wavelength == 1.5406 and p.intensity.tolist() == [1, 2]


# ---------------------------------------------------------------------------------------------------------
# XRDML


def test_xrdml_fixture() -> None:
    p = read_pattern(XRDML)
    assert p.format == "xrdml" and len(p) == 51
    np.testing.assert_allclose(p.two_theta, GRID, atol=1e-12)
    np.testing.assert_array_equal(p.intensity, _counts())
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.540598, 1.544426, 0.5)
    m = p.metadata
    assert m["sample"] == "quartz" and m["sample_id"] == "Q-001" and m["anode"] == "Cu"
    assert m["date"].startswith("2024-05-14") and m["scan_axis"] == "Gonio"
    assert m["counting_time_s"] == "1.000" and m["intended_wavelength"] == "K-Alpha 1"
    assert "scans" not in m


def _xrdml_variant(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = XRDML.read_text(encoding="utf-8")
    assert text.count(old) >= count
    return _write(tmp_path, "v.xrdml", text.replace(old, new))


def test_xrdml_version2_counts_times_attenuation(tmp_path: Path) -> None:
    text = XRDML.read_text(encoding="utf-8").replace("XRDMeasurement/1.5", "XRDMeasurement/2.1")
    factors = np.ones(51)
    factors[30:35] = 10.0
    text = text.replace('<intensities unit="counts">', '<counts unit="counts">')
    text = text.replace(
        "</intensities>",
        "</counts>\n<beamAttenuationFactors>" + " ".join(map(str, factors)) + "</beamAttenuationFactors>",
    )
    p = read_pattern(_write(tmp_path, "v2.xrdml", text))
    np.testing.assert_array_equal(p.intensity, _counts() * factors)
    # Schema 1.x intensities are already corrected: the factors are not applied again.
    corrected = XRDML.read_text(encoding="utf-8").replace(
        "</intensities>",
        "</intensities>\n<beamAttenuationFactors>"
        + " ".join(map(str, factors))
        + "</beamAttenuationFactors>",
    )
    np.testing.assert_array_equal(read_pattern(_write(tmp_path, "v1.xrdml", corrected)).intensity, _counts())


def test_xrdml_list_positions_and_reversed_scan(tmp_path: Path) -> None:
    listed = " ".join(f"{v:.4f}" for v in GRID)
    path = _xrdml_variant(
        tmp_path,
        "<startPosition>20.0000</startPosition>\n\t\t\t\t\t<endPosition>30.0000</endPosition>",
        f"<listPositions>{listed}</listPositions>",
    )
    np.testing.assert_allclose(read_pattern(path).two_theta, GRID)
    path = _xrdml_variant(
        tmp_path,
        "<startPosition>20.0000</startPosition>\n\t\t\t\t\t<endPosition>30.0000</endPosition>",
        "<startPosition>30.0000</startPosition><endPosition>20.0000</endPosition>",
    )
    p = read_pattern(path)
    np.testing.assert_allclose(p.two_theta, GRID, atol=1e-12)
    np.testing.assert_array_equal(p.intensity, _counts()[::-1])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("<startPosition>20.0000</startPosition>", "<commonPosition>20</commonPosition>", "not a 2θ scan"),
        ('axis="2Theta"', 'axis="Chi"', 'no <positions axis="2Theta">'),
        ('<intensities unit="counts">', '<intensities unit="counts">x ', "non-number"),
        ("</xrdMeasurements>", "", "not well-formed XML"),
        ("<scan ", "<notascan ", "no <scan>"),
        ('www.xrdml.com/XRDMeasurement/1.5" xmlns:xsi', 'example.org/other" xmlns:xsi', "not an XRDML file"),
    ],
)
def test_xrdml_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = XRDML.read_text(encoding="utf-8").replace(old, new, 1)
    if new.startswith("<notascan"):
        text = text.replace("</scan>", "</notascan>")
    path = _write(tmp_path, "bad.xrdml", text)
    with pytest.raises(PatternFileError, match=r"bad\.xrdml: .*" + re.escape(message)):
        read_pattern(path, format="xrdml")


def test_xrdml_area_measurement_lines_say_they_are_part_of_a_map(tmp_path: Path) -> None:
    """An area measurement (a reciprocal-space map as xrayutilities' rsm_1.xrdml: 2θ lines in steps of ω) is
    read line by line, and each line says it is one of the map's, not a powder scan."""
    text = XRDML.read_text(encoding="utf-8")
    start, end = text.index("<scan "), text.index("</scan>") + len("</scan>")
    text = text[:start] + text[start:end] * 3 + text[end:]
    text = text.replace(
        'measurementType="Scan"', 'measurementType="Area measurement" measurementStepAxis="Omega"'
    )
    patterns = read_all_patterns(_write(tmp_path, "map.xrdml", text))
    assert len(patterns) == 3
    for p in patterns:
        assert p.metadata["measurement_type"] == "Area measurement"
        assert (
            p.metadata["note"]
            == "one of 3 2θ lines of an area measurement in steps of Omega (a map, not one powder scan)"
        )
    assert "note" not in read_pattern(XRDML).metadata


def test_xml_that_is_not_xrdml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PatternFileError, match="not XRDML"):
        read_pattern(_write(tmp_path, "x.xml", "<?xml version='1.0'?><data><x>1</x></data>"))


# ---------------------------------------------------------------------------------------------------------
# Bruker RAW4


def test_raw_fixture_is_the_writers_output() -> None:
    assert RAW.read_bytes() == _raw4_bytes(_counts())


def test_raw_fixture() -> None:
    p = read_pattern(RAW)
    assert p.format == "raw" and len(p) == 51
    np.testing.assert_allclose(p.two_theta, GRID, atol=1e-12)
    np.testing.assert_array_equal(p.intensity, _counts())  # integer counts are exact in float32
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.540598, 1.544426, 0.5)
    m = p.metadata
    assert m["anode"] == "Cu" and m["SAMPLEID"] == "quartz" and m["scan_type"] == "Locked Coupled"
    assert m["date"] == "05/14/2024" and m["time"] == "10:12:00" and m["raw_version"] == "4"
    assert m["tube_kv"] == "40" and "ranges" not in m  # "ranges"/"range" only for files of several


def test_raw_reads_the_first_two_theta_range(tmp_path: Path) -> None:
    rocking = _range_bytes(np.ones(7), 5.0, 0.01, "Rocking Curve", 1.540598)
    data = _raw4_bytes(_counts(), 20.0, 0.2, before=(rocking,))
    path = tmp_path / "two.raw"
    path.write_bytes(data)
    p = read_pattern(path)
    assert len(p) == 51 and p.metadata["ranges"] == "2" and p.metadata["range"] == "2"
    assert p.two_theta[0] == 20.0
    with pytest.raises(PatternFileError, match=r"two\.raw: range 1 .*'Rocking Curve' is not a 2θ scan"):
        read_pattern(path, scan=0)
    np.testing.assert_array_equal(read_pattern(path, scan=1).intensity, p.intensity)


def test_raw_without_source_segment_uses_the_range_wavelength(tmp_path: Path) -> None:
    path = tmp_path / "s.raw"
    path.write_bytes(_raw4_bytes(_counts(), source=False))
    p = read_pattern(path)
    assert p.wavelength == 1.540598 and p.wavelength2 is None and "anode" not in p.metadata


def test_raw_errors(tmp_path: Path) -> None:
    data = _raw4_bytes(_counts())
    (tmp_path / "t.raw").write_bytes(data[:-10])
    with pytest.raises(PatternFileError, match=r"t\.raw: truncated Bruker RAW4"):
        read_pattern(tmp_path / "t.raw")
    (tmp_path / "o.raw").write_bytes(_raw4_bytes(_counts(), scan_type="Rocking Curve"))
    with pytest.raises(PatternFileError, match=r"scan type 'Rocking Curve' is not a 2θ scan"):
        read_pattern(tmp_path / "o.raw")
    (tmp_path / "v3.raw").write_bytes(b"RAW1.01" + bytes(800))
    with pytest.raises(PatternFileError, match=r"v3\.raw: Bruker RAW v3 file states 0 ranges"):
        read_pattern(tmp_path / "v3.raw")
    with pytest.raises(PatternFileError, match=r"not a Bruker RAW file"):
        read_pattern(XY, format="raw")


# ---------------------------------------------------------------------------------------------------------
# Errors common to all files


def test_missing_file_is_a_pattern_error_and_a_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(PatternFileError, match=r"nothere\.xy: no such file") as info:
        read_pattern(tmp_path / "nothere.xy")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    with pytest.raises(PatternFileError, match="directory"):
        read_pattern(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.xy", "", "empty file"),
        ("blank.xy", "  \n\n", "empty file"),
        ("text.xy", "# only\nwords here\n", "no numeric data lines"),
        ("one.xy", "# a\n10 5\n", "1 data point"),
        ("single.xy", "10\n11\n", "line 1: one column"),
        ("nan.xy", "10 1\n11 nan\n12 3\n", "line 2: non-finite intensity"),
        ("inf.xy", "10 1\ninf 2\n12 3\n", "line 2: non-finite two_theta"),
        ("order.xy", "# h\n10 1\n12 2\n11 3\n13 4\n", "line 4: 2θ is not monotonic"),
        ("dup.xy", "10 1\n10 2\n11 3\n", "line 2: 2θ = 10 again (1 repeated value"),
        ("cols.xy", "10 1\n11 2 3\n", "line 2: 3 columns, but the data started with 2"),
        ("neg.xye", "10 1 1\n11 2 -1\n", "line 2: negative sigma"),
    ],
)
def test_text_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    """Each fault is refused with its line, and with nothing else: no numpy warning on the way."""
    path = _write(tmp_path, name, content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PatternFileError, match=f"{re.escape(name)}: .*{re.escape(message)}"):
            read_pattern(path)


def test_two_column_xye_reads_without_sigma(tmp_path: Path) -> None:
    """GSAS-II reads an .xye file of two columns; so does read_pattern (it used to refuse it)."""
    p = read_pattern(_write(tmp_path, "two.xye", "10 1\n11 2\n12 4\n"))
    assert p.sigma is None and p.format == "xy" and p.metadata["note"] == "no sigma column (2 columns)"
    np.testing.assert_array_equal(p.intensity, [1, 2, 4])


def test_binary_file_of_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PatternFileError, match=r"x\.bin: a binary file \(NUL byte at offset 0\)"):
        read_pattern(path)


def test_unknown_format_argument() -> None:
    with pytest.raises(ValueError, match="unknown pattern format 'jpg'"):
        read_pattern(XY, format="jpg")


# ---------------------------------------------------------------------------------------------------------
# MeasuredPattern itself


def test_measured_pattern_validates_and_freezes() -> None:
    p = MeasuredPattern(torch.tensor([10.0, 11.0, 12.0]), [1, 2, 3], wavelength=1.5406, metadata={"a": 1})
    assert len(p) == 3 and p.metadata == {"a": "1"} and p.intensity.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        p.intensity[0] = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.wavelength = 1.0  # type: ignore[misc]
    text = repr(p)
    assert "3 points" in text and "λ=1.5406 Å" in text
    doublet = dataclasses.replace(p, wavelength2=1.5444, ratio=0.5)
    assert "1.5406/1.5444 Å, ratio 0.5" in repr(doublet)


def test_measured_pattern_pickles() -> None:
    p = read_pattern(str(XYE))  # a str path works as well as a Path
    q = pickle.loads(pickle.dumps(p))
    np.testing.assert_array_equal(q.sigma, p.sigma)
    assert not q.intensity.flags.writeable
    assert (q.wavelength, q.format, q.source, q.metadata) == (p.wavelength, p.format, p.source, p.metadata)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"two_theta": [10, 9, 11]}, "strictly increasing"),
        ({"two_theta": [10]}, "at least 2 points"),
        ({"intensity": [1, 2]}, "must have 3 values"),
        ({"intensity": [1, np.nan, 2]}, "non-finite"),
        ({"two_theta": [[10, 11, 12]]}, "1-D"),
        ({"sigma": [1, -1, 1]}, "non-negative"),
        ({"wavelength": 0.0}, "wavelength must be finite and > 0"),
        ({"ratio": -0.5}, "ratio must be finite and >= 0"),
        ({"wavelength": "CuKa"}, "must be a number"),
    ],
)
def test_measured_pattern_bad_input(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"two_theta": [10.0, 11.0, 12.0], "intensity": [1.0, 2.0, 3.0], **kwargs}
    with pytest.raises(ValueError, match=message):
        MeasuredPattern(**fields)  # type: ignore[arg-type]
