"""The pattern readers on small files written here to each format's layout: Bruker RAW v1-v4, .brml, Rigaku
.rasx/.ras/.asc, GSAS, UXD; the x-axis rules (centidegrees, radians, Q, d, time of flight, energy); several
ranges; compressed files; MeasuredPattern.from_q/from_d; write_pattern and ``xrdsynth convert`` round
trips."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import xrdsynth.io
from xrdsynth.cli import main
from xrdsynth.io import MeasuredPattern, PatternFileError, read_all_patterns, read_pattern, write_pattern

FILES = Path(__file__).parent / "data" / "pattern-files"
COUNTS = np.array([10.0, 12.0, 30.0, 95.0, 40.0, 15.0, 11.0, 10.0])
N = COUNTS.shape[0]


def _text(value: str, size: int) -> bytes:
    return value.encode("latin-1").ljust(size, b"\x00")[:size]


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_public_names() -> None:
    for name in ("read_pattern", "read_all_patterns", "write_pattern", "MeasuredPattern", "PatternFileError"):
        assert name in xrdsynth.io.__all__ and getattr(xrdsynth.io, name).__doc__


# ---------------------------------------------------------------------------------------------------------
# Bruker RAW v1, v2, v3 (layouts of xylib's bruker_raw.cpp) and v4 with 8-byte steps


def _raw1(ranges: list[tuple[float, float, np.ndarray]], repeat_magic: bool = False) -> bytes:
    out = b"RAW "
    for k, (start, step, counts) in enumerate(ranges):
        header = bytearray(152)
        struct.pack_into("<Iff", header, 0, len(counts), 2.0, step)
        struct.pack_into("<f", header, 20, start)
        header[36:68] = _text("SAMPLE-1", 32)
        struct.pack_into("<ff", header, 68, 1.5406, 1.54439)
        struct.pack_into("<I", header, 148, 1 if k + 1 < len(ranges) else 0)
        out += (b"RAW " if k and repeat_magic else b"") + bytes(header) + counts.astype("<f4").tobytes()
    return out


def _raw2(ranges: list[tuple[float, float, np.ndarray]]) -> bytes:
    head = bytearray(256)
    head[0:4] = b"RAW2"
    struct.pack_into("<H", head, 4, len(ranges))
    head[8:40] = _text("QUARTZ.DAT", 32)
    head[168:188] = _text("01-02-199912:00", 20)
    head[188:190] = b"Co"
    struct.pack_into("<fff", head, 190, 1.78897, 1.79285, 0.5)
    out = bytes(head)
    for start, step, counts in ranges:
        header = bytearray(60)
        struct.pack_into("<HH", header, 0, 60, len(counts))
        struct.pack_into("<fff", header, 8, 1.5, step, start)
        out += bytes(header) + counts.astype("<f4").tobytes()
    return out


def _raw3(ranges: list[tuple[float, float, np.ndarray]], supplementary: int = 40) -> bytes:
    head = bytearray(712)
    head[0:8] = b"RAW1.01\x00"
    struct.pack_into("<II", head, 8, 1, len(ranges))
    head[16:26] = _text("05/14/24", 10)
    head[326:386] = _text("quartz", 60)
    head[608:612] = _text("Cu", 4)
    struct.pack_into("<5d", head, 616, 1.5418, 1.540598, 1.544426, 1.39222, 0.5)
    out = bytes(head)
    for start, step, counts in ranges:
        header = bytearray(304)
        struct.pack_into("<IIdd", header, 0, 304, len(counts), start / 2, start)
        struct.pack_into("<d", header, 176, step)
        struct.pack_into("<f", header, 192, 1.0)
        struct.pack_into("<II", header, 224, 40, 40)
        struct.pack_into("<d", header, 240, 1.540598)
        struct.pack_into("<I", header, 256, supplementary)
        out += bytes(header) + bytes(supplementary) + counts.astype("<f4").tobytes()
    return out


@pytest.mark.parametrize(("writer", "version"), [(_raw1, "1"), (_raw2, "2"), (_raw3, "3")])
def test_raw_versions_1_to_3(tmp_path: Path, writer, version: str) -> None:
    second = COUNTS[::-1] * 2
    path = _write(tmp_path, f"v{version}.raw", writer([(20.0, 0.5, COUNTS), (40.0, 0.25, second)]))
    first = read_pattern(path)
    assert first.format == "raw" and first.metadata["raw_version"] == version
    np.testing.assert_array_equal(first.intensity, COUNTS)
    np.testing.assert_allclose(first.two_theta, 20.0 + 0.5 * np.arange(N))
    assert first.metadata["ranges"] == "2" and first.metadata["range"] == "1"
    both = read_all_patterns(path)
    assert [p.metadata["range"] for p in both] == ["1", "2"]
    np.testing.assert_array_equal(both[1].intensity, second)
    np.testing.assert_allclose(both[1].two_theta, 40.0 + 0.25 * np.arange(N))
    assert first.wavelength is not None and first.wavelength2 is not None
    with pytest.raises(PatternFileError, match=rf"truncated Bruker RAW v{version}"):
        read_pattern(_write(tmp_path, "cut.raw", path.read_bytes()[:-9]))


def test_raw1_repeated_magic_and_radiation(tmp_path: Path) -> None:
    p = read_all_patterns(_write(tmp_path, "r.raw", _raw1([(5.0, 1.0, COUNTS), (6.0, 1.0, COUNTS)], True)))
    assert len(p) == 2 and p[1].two_theta[0] == 6.0 and p[0].metadata["sample"] == "SAMPLE-1"
    assert (p[0].wavelength, p[0].wavelength2, p[0].ratio) == pytest.approx((1.5406, 1.54439, None))


def test_raw2_and_raw3_radiation(tmp_path: Path) -> None:
    two = read_pattern(_write(tmp_path, "2.raw", _raw2([(10.0, 0.1, COUNTS)])))
    # float32 header values come out as the decimals that were written, not their binary neighbours.
    assert (two.wavelength, two.wavelength2, two.ratio) == (1.78897, 1.79285, 0.5)
    assert two.metadata["anode"] == "Co" and two.metadata["counting_time_s"] == "1.5"
    three = read_pattern(_write(tmp_path, "3.raw", _raw3([(10.0, 0.1, COUNTS)], supplementary=0)))
    assert (three.wavelength, three.wavelength2, three.ratio) == (1.540598, 1.544426, 0.5)
    assert three.metadata["sample"] == "quartz" and three.metadata["tube_kv"] == "40"


def _raw4_eight_byte(counts: np.ndarray, scan_type: str = "Locked Coupled") -> bytes:
    head = bytearray(61)
    head[0:7] = b"RAW4.00"
    header = bytearray(160)
    header[32:56] = _text(scan_type, 24)
    struct.pack_into("<ddIf", header, 72, 10.0, 0.02, len(counts), 0.5)
    struct.pack_into("<d", header, 112, 1.5406)
    struct.pack_into("<II", header, 136, 8, 0)
    steps = np.zeros(len(counts), dtype=[("count", "<f4"), ("extra", "<u4")])
    steps["count"], steps["extra"] = counts, 1
    return bytes(head) + bytes(header) + steps.tobytes()


def test_raw4_wavelength_widened_from_float32_reads_as_written(tmp_path: Path) -> None:
    """RAW4 stores doubles; a writer that widened a float32 leaves 1.5405999422073364: read as 1.5406. A
    double that is no float32 (1.5406 itself, 0.02) stays exactly as stored."""
    data = bytearray(_raw4_eight_byte(COUNTS))
    struct.pack_into("<d", data, 61 + 112, float(np.float32(1.5406)))
    assert read_pattern(_write(tmp_path, "widened.raw", bytes(data))).wavelength == 1.5406
    p = read_pattern(_write(tmp_path, "double.raw", _raw4_eight_byte(COUNTS)))
    assert p.wavelength == 1.5406 and np.diff(p.two_theta)[0] == pytest.approx(0.02, abs=1e-15)


def test_raw4_eight_byte_steps_and_several_ranges(tmp_path: Path) -> None:
    rocking = _raw4_eight_byte(COUNTS, "Rocking Curve")[61:]
    path = _write(tmp_path, "r4.raw", _raw4_eight_byte(COUNTS * 3) + rocking)
    patterns = read_all_patterns(path)
    assert len(patterns) == 1 and patterns[0].metadata["range"] == "1"
    np.testing.assert_array_equal(patterns[0].intensity, COUNTS * 3)
    assert patterns[0].wavelength == 1.5406 and patterns[0].metadata["used_wavelength"] == "1.5406"
    with pytest.raises(PatternFileError, match=r"scan 2 asked; the file holds 2"):
        read_pattern(path, scan=2)
    only_rocking = _write(tmp_path, "rc.raw", _raw4_eight_byte(COUNTS, "Rocking Curve"))
    with pytest.raises(PatternFileError, match=r"rc\.raw: range 1 .*'Rocking Curve' is not a 2θ scan"):
        read_all_patterns(only_rocking)


# ---------------------------------------------------------------------------------------------------------
# Bruker .brml (zip of XML), Rigaku .rasx (zip)


def _zip(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _raw_data(axes: list[str], rows: list[str], views: bool = True) -> str:
    axis_xml = "".join(
        f'<ScanAxisInfo AxisId="{a}" AxisName="{a}" Unit="°"><Start>20</Start><Increment>0.5</Increment>'
        "</ScanAxisInfo>"
        for a in axes
    )
    view_xml = ""
    if views:
        fields = "".join(f'<FieldDefinitions FieldName="{a}" AxisId="{a}"/>' for a in axes)
        view_xml = (
            '<DataViews><RawDataView xsi:type="FixedRawDataView" Start="0" Length="1" LogicName="Time"/>'
            f'<RawDataView xsi:type="VaryingRawDataView" Start="2" Length="{len(axes)}"><Varying>{fields}'
            "</Varying></RawDataView>"
            f'<RawDataView xsi:type="RecordedRawDataView" Start="{3 + len(axes)}" Length="1" '
            'MeasuredDataIndex="0"/></DataViews>'
        )
    datum = "".join(f"<Datum>{r}</Datum>" for r in rows)
    return (
        '<?xml version="1.0"?><RawData xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<TimeStampStarted>2024-05-14T10:00:00</TimeStampStarted><DataRoutes>"
        '<DataRoute RouteFlag="Measured"><ScanInformation ScanName="LockedCoupled" VisibleName="Coupled">'
        f"<TimePerStep>1.5</TimePerStep><ScanAxes>{axis_xml}</ScanAxes></ScanInformation>{view_xml}{datum}"
        '</DataRoute></DataRoutes><FixedInformation><Tube><WaveLengthAlpha1 Unit="Å" Value="1.78897"/>'
        '<WaveLengthAlpha2 Unit="Å" Value="1.79285"/><WaveLengthRatio Value="0.5"/>'
        "<TubeMaterial>Co</TubeMaterial></Tube></FixedInformation></RawData>"
    )


def test_brml_views_fallback_and_a_rocking_curve(tmp_path: Path) -> None:
    x = 20.0 + 0.5 * np.arange(N)
    # time, absorber, 2θ, θ, an extra column, counts (views say: counts at index 5).
    rows = [f"1,1,{t},{t / 2},-0.1,{c}" for t, c in zip(x, COUNTS, strict=True)]
    plain = [f"1,1,{t},{t / 2},{c}" for t, c in zip(x, COUNTS * 2, strict=True)]
    rocking = [f"1,1,{w},{c}" for w, c in zip(x / 2, COUNTS, strict=True)]
    path = _write(
        tmp_path,
        "m.brml",
        _zip(
            {
                "experimentCollection.xml": "<ExperimentCollection/>",
                "Experiment0/RawData0.xml": _raw_data(["TwoTheta", "Theta"], rows),
                "Experiment0/RawData1.xml": _raw_data(["Theta"], rocking),
                "Experiment0/RawData2.xml": _raw_data(["TwoTheta", "Theta"], plain, views=False),
            }
        ),
    )
    patterns = read_all_patterns(path)
    assert [p.metadata["range"] for p in patterns] == ["1", "3"] and patterns[0].format == "brml"
    np.testing.assert_array_equal(patterns[0].intensity, COUNTS)
    np.testing.assert_array_equal(patterns[1].intensity, COUNTS * 2)  # no views: the last column
    np.testing.assert_allclose(patterns[0].two_theta, x)
    p = patterns[0]
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.78897, 1.79285, 0.5) and p.metadata["anode"] == "Co"
    assert p.metadata["counting_time_s"] == "1.5" and p.metadata["scan_type"] == "Coupled"
    with pytest.raises(PatternFileError, match=r"m\.brml: Experiment0/RawData1\.xml: 2θ is not a scan axis"):
        read_pattern(path, scan=1)


def _profile(x: np.ndarray, y: np.ndarray, factor: np.ndarray) -> bytes:
    rows = "".join(f"{a:.4f}\t{b}\t{f:g}\r\n" for a, b, f in zip(x, y, factor, strict=True))
    return b"\xef\xbb\xbf" + rows.encode()


def _conditions(axis: str, wave_type: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><MeasurementConditions><GeneralInformation>'
        "<SampleName>quartz</SampleName></GeneralInformation><HWConfigurations><XrayGenerator>"
        f"<TargetName>Cu</TargetName><WaveType>{wave_type}</WaveType><Voltage>40</Voltage>"
        "<WavelengthKalpha1>1.540593</WavelengthKalpha1><WavelengthKalpha2>1.544414</WavelengthKalpha2>"
        f"</XrayGenerator></HWConfigurations><ScanInformation><AxisName>{axis}</AxisName><Step>0.02</Step>"
        "<Speed>1.2</Speed><SpeedUnit>deg/min</SpeedUnit><PositionUnit>deg</PositionUnit>"
        "</ScanInformation></MeasurementConditions>"
    )


def test_rasx_attenuator_factor_wave_type_and_scans(tmp_path: Path) -> None:
    x = 30.0 + 0.02 * np.arange(N)
    factor = np.where(COUNTS > 50, 10.0, 1.0)  # an attenuator in for the peak
    path = _write(
        tmp_path,
        "s.rasx",
        _zip(
            {
                "root.xml": "<Root/>",
                "Data0/Profile0.txt": _profile(x, COUNTS, factor),
                "Data0/MesurementConditions0.xml": _conditions("TwoThetaTheta", "Ka"),
                "Data1/Profile0.txt": _profile(x / 2, COUNTS, np.ones(N)),
                "Data1/MesurementConditions0.xml": _conditions("Omega", "Ka1"),
            }
        ),
    )
    p = read_pattern(path)
    np.testing.assert_array_equal(p.intensity, COUNTS * factor)
    assert (p.wavelength, p.wavelength2) == (1.540593, 1.544414) and p.metadata["ranges"] == "2"
    assert p.metadata["counting_time_s"] == "1" and p.metadata["sample"] == "quartz"  # 0.02° at 1.2°/min
    with pytest.raises(PatternFileError, match=r"Data1/Profile0\.txt: scan axis 'Omega' is not 2θ"):
        read_pattern(path, scan=1)


def test_a_zip_that_is_not_an_instrument_file(tmp_path: Path) -> None:
    # Members named like pattern files are read as such, and each says why it is not one.
    path = _write(tmp_path, "a.zip", _zip({"notes.txt": "hello", "data.csv": "1,2\n"}))
    with pytest.raises(
        PatternFileError, match=r"a\.zip: none of the 2 ranges .*data\.csv: 1 data point.*notes\.txt"
    ):
        read_pattern(path)
    path = _write(tmp_path, "b.zip", _zip({"notes.md": "hello", "image.png": "PNG"}))
    with pytest.raises(
        PatternFileError, match=r"b\.zip: a zip archive that is not a diffractometer file.*notes"
    ):
        read_pattern(path)


# ---------------------------------------------------------------------------------------------------------
# Rigaku .ras and .asc


def _ras_scan(axis: str, rows: str, wave_type: str = "Ka1") -> str:
    return (
        '*RAS_HEADER_START\r\n*FILE_SAMPLE "quartz"\r\n*HW_XG_TARGET_NAME "Cu"\r\n'
        '*HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"\r\n*HW_XG_WAVE_LENGTH_ALPHA2 "1.544414"\r\n'
        f'*HW_XG_WAVE_LENGTH_UNIT "Angstrom"\r\n*MEAS_COND_XG_WAVE_TYPE "{wave_type}"\r\n'
        f'*MEAS_SCAN_AXIS_X "{axis}"\r\n*MEAS_SCAN_UNIT_X "deg"\r\n*MEAS_SCAN_SPEED "2.0"\r\n'
        '*MEAS_SCAN_SPEED_UNIT "deg/min"\r\n*MEAS_SCAN_STEP "0.02"\r\n*RAS_HEADER_END\r\n'
        f"*RAS_INT_START\r\n{rows}*RAS_INT_END\r\n"
    )


def test_ras_scans_wavelength_and_factor(tmp_path: Path) -> None:
    x = 20.0 + 0.02 * np.arange(N)
    rows = "".join(f"{a:.4f} {c:g} {2 if c > 50 else 1}\r\n" for a, c in zip(x, COUNTS, strict=True))
    text = (
        "*RAS_DATA_START\r\n"
        + _ras_scan("Omega", rows)
        + _ras_scan("TwoTheta", rows, "Ka")
        + _ras_scan("2-Theta/Omega", rows)
        + "*RAS_DATA_END\r\n"
    )
    path = _write(tmp_path, "s.ras", text)
    patterns = read_all_patterns(path)
    assert [p.metadata["range"] for p in patterns] == ["2", "3"] and patterns[0].format == "ras"
    np.testing.assert_array_equal(patterns[0].intensity, COUNTS * np.where(COUNTS > 50, 2, 1))
    assert (patterns[0].wavelength, patterns[0].wavelength2) == (1.540593, 1.544414)
    assert (patterns[1].wavelength, patterns[1].wavelength2) == (1.540593, None)  # Ka1 only
    assert patterns[0].metadata["counting_time_s"] == "0.6"  # 0.02° at 2°/min
    with pytest.raises(PatternFileError, match=r"scan 1 \(line 2\): scan axis 'Omega' is not 2θ"):
        read_pattern(path, scan=0)
    cut = _write(tmp_path, "cut.ras", text[: text.index("*RAS_INT_END")])
    with pytest.raises(PatternFileError, match=r"cut\.ras: the data of the last scan end without"):
        read_pattern(cut)


def test_ras_in_shift_jis(tmp_path: Path) -> None:
    """Rigaku's software on Japanese systems writes .ras headers in Shift-JIS: the sample name reads as
    written (it came out as Latin-1 mojibake), the data as before."""
    rows = "".join(f"{20.0 + 0.02 * i:.4f} {c:g} 1\r\n" for i, c in enumerate(COUNTS))
    text = "*RAS_DATA_START\r\n" + _ras_scan("TwoThetaOmega", rows) + "*RAS_DATA_END\r\n"
    path = tmp_path / "jp.ras"
    path.write_bytes(text.replace('"quartz"', '"石英 サンプル"').encode("shift_jis"))
    p = read_pattern(path)
    assert p.metadata["sample"] == "石英 サンプル"
    np.testing.assert_array_equal(p.intensity, COUNTS)


def test_asc_group(tmp_path: Path) -> None:
    counts = ", ".join(f"{c:g}" for c in COUNTS[:4]) + "\n" + ", ".join(f"{c:g}" for c in COUNTS[4:]) + "\n"
    text = (
        "*TYPE\t\t=  Raw\n*CLASS\t\t=  ASCII CLASS\n*SAMPLE\t\t=  quartz\n*GROUP_COUNT\t=  1\n"
        "*SCAN_AXIS\t=  2theta/theta\n*TARGET\t\t=  29\n*XRAY_CHAR\t=  K-ALPHA\n*WAVE_LENGTH1\t=  1.54059\n"
        "*WAVE_LENGTH2\t=  1.54441\n*SPEED_DIM\t=  sec./step\n\n*BEGIN\n*START\t\t=  4\n*STOP\t\t=  4.07\n"
        f"*STEP\t\t=  0.01\n*SPEED\t\t=  0.6\n*COUNT\t\t=  {N}\n{counts}*END\n\n*EOF\n"
    )  # SmartLab ends the file with *EOF after the last group
    p = read_pattern(_write(tmp_path, "s.asc", text))
    assert p.format == "asc" and p.metadata["anode"] == "Cu" and p.metadata["counting_time_s"] == "0.6"
    np.testing.assert_allclose(p.two_theta, 4.0 + 0.01 * np.arange(N))
    np.testing.assert_array_equal(p.intensity, COUNTS)
    assert (p.wavelength, p.wavelength2) == (1.54059, 1.54441)
    with pytest.raises(PatternFileError, match=r"7 counts, \*COUNT says 8"):
        read_pattern(_write(tmp_path, "bad.asc", text.replace(", 10\n*END", "\n*END")))


# ---------------------------------------------------------------------------------------------------------
# GSAS


def test_gsas_fxye_in_centidegrees(tmp_path: Path) -> None:
    """The defect: a .fxye whose x is centidegrees came out as 50-4999.6 "degrees"."""
    x = np.linspace(500.0, 4999.6, N)  # centidegrees, as GSAS writes constant-wavelength data
    rows = "".join(f"{a:.2f} {c:.1f} {math.sqrt(c):.3f}\n" for a, c in zip(x, COUNTS, strict=True))
    text = f"quartz, Cu Ka1 lambda = 1.540593\nBANK 1 {N} {N} CONS 500.0 642.8 0 0 FXYE\n{rows}"
    p = read_pattern(_write(tmp_path, "q.fxye", text))
    assert p.format == "gsas" and p.metadata["gsas_type"] == "FXYE"
    np.testing.assert_allclose(p.two_theta, x / 100)
    np.testing.assert_allclose(p.sigma, np.round(np.sqrt(COUNTS), 3))
    assert p.wavelength == 1.540593 and p.two_theta[-1] < 180


def test_gsas_title_padded_with_binary_bytes(tmp_path: Path) -> None:
    """Fortran writers pad the 80-byte title record with whatever was in memory (a GSAS-II tutorial's
    neutron data has NUL and other bytes there); the rest of the file is text and is read."""
    esd = "".join(f"{c:8.0f}{math.sqrt(c):8.0f}" for c in COUNTS)
    title = b"lamno LaMnO3 50K".ljust(64) + b"e\x82X\x00\xf0\xf3\x9b\xbf\xb4\xf0\x9b\xbf\xa0\xfel "
    body = f"\r\nBANK  1 {N} 2 CONST 300.00 5.00 0 0 ESD\r\n{esd}\r\n".encode()
    path = tmp_path / "padded.gsas"
    path.write_bytes(title + body)
    p = read_pattern(path)
    assert p.format == "gsas" and p.metadata["sample"].startswith("lamno LaMnO3 50K")
    np.testing.assert_allclose(p.two_theta, 3.0 + 0.05 * np.arange(N))
    np.testing.assert_array_equal(p.intensity, COUNTS)
    # NUL bytes past the first line are a binary file, as before.
    path.write_bytes(title + body + b"\x00\x01")
    with pytest.raises(PatternFileError, match="a binary file"):
        read_pattern(path)


def test_gsas_std_and_esd_banks(tmp_path: Path) -> None:
    std = "".join(f"{'':2}{c:6.0f}" for c in COUNTS)  # 10(I2,F6): blank counter number
    esd = "".join(f"{c:8.1f}{math.sqrt(c):8.2f}" for c in COUNTS[:5]) + "\n"
    esd += "".join(f"{c:8.1f}{math.sqrt(c):8.2f}" for c in COUNTS[5:])
    text = (
        "title\nInstrument parameter file: inst.prm\n# comment\n"
        f"BANK 1 {N} 1 CONST 1000.0 5.0 0 0 STD\n{std}\n"
        f"BANK 2 {N} 2 CONST 2000.0 10.0 0 0 ESD\n{esd}\n"
    )
    patterns = read_all_patterns(_write(tmp_path, "s.gsa", text))
    np.testing.assert_allclose(patterns[0].two_theta, 10.0 + 0.05 * np.arange(N))
    np.testing.assert_array_equal(patterns[0].intensity, COUNTS)
    np.testing.assert_allclose(patterns[1].two_theta, 20.0 + 0.1 * np.arange(N))
    np.testing.assert_allclose(patterns[1].sigma, np.round(np.sqrt(COUNTS), 2))


@pytest.mark.parametrize(
    ("title", "wavelength", "probe"),
    [
        # The titles of the IUCr CPD round-robin files GSAS-II keeps as test input (PBSO4.CWN, PBSO4.XRA).
        ("10.0    0.05    155.9   CPD RRRR   PbSO4 1.909A neutron data   8.8.89", 1.909, "neutron"),
        ("  10.000   0.025 159.00  CPD RRRR   PbSO4  Cu Ka X-ray data  22.9.89", 1.540593, None),
        ("PbSO4 1.909 A neutrons, lambda = 1.9100", 1.91, "neutron"),  # a keyword wins
        ("film 2.5A pores", None, None),  # a length that the title does not call a radiation's
    ],
)
def test_gsas_title_wavelength_and_probe(
    tmp_path: Path, title: str, wavelength: float | None, probe: str | None
) -> None:
    std = "".join(f" 1{c:6.0f}" for c in COUNTS)
    text = f"{title}\nBANK 1 {N} 1 CONST 1000.0 5.0 0 0 STD\n{std}\n"
    p = read_pattern(_write(tmp_path, "s.gsa", text))
    np.testing.assert_array_equal(p.intensity, COUNTS)
    assert p.wavelength == wavelength and p.metadata.get("probe") == probe


@pytest.mark.parametrize(
    ("bank", "message"),
    [
        ("BANK 1 8 2 RALF 1000 32 1000 0.0005 ALT", "time-of-flight \\(neutron\\) bank \\(RALF\\)"),
        ("BANK 1 8 2 SLOG 1000 32 1000 0.0005 FXYE", "time-of-flight"),
        ("BANK 1 8 1 EDS 0.1 0.01 0 0 STD", "energy-dispersive bank"),
    ],
)
def test_gsas_time_of_flight_and_energy_are_refused(tmp_path: Path, bank: str, message: str) -> None:
    """The defect: TOF .gsa files came out as 2θ with a wavelength taken from the title."""
    rows = "".join(f"{1000 + 10 * i} {c} 1\n" for i, c in enumerate(COUNTS))
    path = _write(tmp_path, "t.gsa", f"TOF run, lambda 1.54\n{bank}\n{rows}")
    with pytest.raises(PatternFileError, match=rf"t\.gsa: line 2 \(BANK 1\): .*{message}"):
        read_pattern(path)


# ---------------------------------------------------------------------------------------------------------
# UXD


def test_uxd_angle_count_time_triples(tmp_path: Path) -> None:
    head = "_FILEVERSION=1\n_WL1=1.540600\n_DRIVE='COUPLED'\n_2THETACOUNTSTIME\n"
    same = "\n".join(f"{20 + 0.05 * i:.2f} {c:g} 2.0" for i, c in enumerate(COUNTS))
    p = read_pattern(_write(tmp_path, "same.uxd", head + same + "\n"))
    np.testing.assert_allclose(p.two_theta, 20.0 + 0.05 * np.arange(N))
    np.testing.assert_array_equal(p.intensity, COUNTS)  # one counting time: the counts as stored
    assert p.metadata["counting_time_s"] == "2" and p.metadata["intensity_unit"] == "counts"
    times = 1.0 + np.arange(N)  # a variable counting time scan: counts per second compare, counts do not
    varying = "\n".join(
        f"{20 + 0.05 * i:.2f} {c:g} {t:g}" for i, (c, t) in enumerate(zip(COUNTS, times, strict=True))
    )
    p = read_pattern(_write(tmp_path, "varying.uxd", head + varying + "\n"))
    np.testing.assert_allclose(p.intensity, COUNTS / times)
    assert p.metadata["intensity_unit"] == "cps" and "counting times" in p.metadata["note"]
    with pytest.raises(PatternFileError, match="angle, count, time triples"):
        read_pattern(_write(tmp_path, "odd.uxd", head + same + "\n30.00 5\n"))


def test_uxd_ranges_wavelengths_and_drives(tmp_path: Path) -> None:
    counts = "  ".join(f"{c:g}" for c in COUNTS)
    pairs = "\n".join(f"{30 + 0.1 * i:.2f}  {c:g}" for i, c in enumerate(COUNTS))
    text = (
        "; Siemens UXD\n_FILEVERSION=1\n_SAMPLE='quartz'\n_WL1=1.540600\n_WL2=1.544390\n_WLRATIO=0.500000\n"
        "_ANODE='Cu'\n; range 1\n_DRIVE='COUPLED'\n_STEPTIME=2.0\n_STEPSIZE=0.02\n_START=10.0\n"
        f"_COUNTS\n{counts}\n; range 2\n_DRIVE='THETA'\n_STEPSIZE=0.01\n_START=5.0\n_COUNTS\n{counts}\n"
        f"; range 3\n_DRIVE='COUPLED'\n_2THETACPS\n{pairs}\n"
    )
    path = _write(tmp_path, "s.uxd", text)
    patterns = read_all_patterns(path)
    assert [p.metadata["range"] for p in patterns] == ["1", "3"] and patterns[0].format == "uxd"
    np.testing.assert_allclose(patterns[0].two_theta, 10.0 + 0.02 * np.arange(N))
    np.testing.assert_allclose(patterns[1].two_theta, 30.0 + 0.1 * np.arange(N))
    p = patterns[0]
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.5406, 1.54439, 0.5)
    assert p.metadata["counting_time_s"] == "2" and patterns[1].metadata["intensity_unit"] == "cps"
    with pytest.raises(PatternFileError, match=r"block 2 \(line 16\): drive 'THETA' is not a 2θ scan"):
        read_pattern(path, scan=1)


# ---------------------------------------------------------------------------------------------------------
# Text: what the x axis is


def _xy(x: np.ndarray, header: str, y: np.ndarray = COUNTS) -> str:
    return header + "".join(f"{a!r} {b!r}\n" for a, b in zip(x.tolist(), y.tolist(), strict=True))


def test_time_of_flight_xye_is_refused(tmp_path: Path) -> None:
    """The defect: an .xye whose header says "Time-of-flight" came out as 2θ."""
    path = _write(tmp_path, "t.xye", _xy(1000 + 10.0 * np.arange(N), "/*\n# Time-of-flight, bank 2\n*/\n"))
    with pytest.raises(PatternFileError, match=r"t\.xye: the x axis is time of flight .*'Time-of-flight'"):
        read_pattern(path)


def test_q_axis_converted_with_the_stated_wavelength(tmp_path: Path) -> None:
    q = np.linspace(1.0, 4.0, N)
    lam = 0.7093
    p = read_pattern(_write(tmp_path, "q.xy", _xy(q, f"# wavelength = {lam} A\n# q_A^-1 I\n")))
    expected = 2 * np.degrees(np.arcsin(q * lam / (4 * np.pi)))  # Q = 4π sinθ / λ
    np.testing.assert_allclose(p.two_theta, expected, rtol=1e-12)
    assert p.metadata["x_axis"].startswith("Q in 1/Å") and p.wavelength == lam
    nm = read_pattern(_write(tmp_path, "qn.xy", _xy(q * 10, f"# wavelength = {lam} A\n# q_nm^-1 I\n")))
    np.testing.assert_allclose(nm.two_theta, expected, rtol=1e-12)
    with pytest.raises(
        PatternFileError, match=r"the x axis is Q .*needs the wavelength.*MeasuredPattern\.from_q"
    ):
        read_pattern(_write(tmp_path, "q2.xy", _xy(q, "# q_A^-1 I\n")))
    with pytest.raises(PatternFileError, match=r"Q \('Q'\) without a unit"):
        read_pattern(_write(tmp_path, "q3.xy", _xy(q, f"# lambda = {lam}\n# Q I\n")))


def test_d_radians_centidegrees_energy(tmp_path: Path) -> None:
    d = np.linspace(1.2, 4.0, N)
    p = read_pattern(_write(tmp_path, "d.xy", _xy(d, "# Cu Ka1\n# d-spacing intensity\n")))
    lam = p.wavelength
    np.testing.assert_allclose(p.two_theta, 2 * np.degrees(np.arcsin(lam / (2 * d)))[::-1], rtol=1e-12)
    np.testing.assert_array_equal(p.intensity, COUNTS[::-1])  # increasing d is decreasing 2θ: reversed
    rad = read_pattern(_write(tmp_path, "r.xy", _xy(np.radians(10 + np.arange(N)), "# 2th_rad I\n")))
    np.testing.assert_allclose(rad.two_theta, 10.0 + np.arange(N))
    cdeg = read_pattern(_write(tmp_path, "c.xy", _xy(1000.0 + 5 * np.arange(N), "2theta(centideg),counts\n")))
    np.testing.assert_allclose(cdeg.two_theta, 10.0 + 0.05 * np.arange(N))
    with pytest.raises(PatternFileError, match=r"energy \(energy-dispersive\)"):
        read_pattern(_write(tmp_path, "e.xy", _xy(10.0 + np.arange(N), "# Energy(keV) Counts\n")))
    with pytest.raises(PatternFileError, match=r"energy \(energy-dispersive\) \('EDXRD'\)"):
        read_pattern(_write(tmp_path, "e2.xy", _xy(10.0 + np.arange(N), "# EDXRD run 4\n")))
    detector = "# Detector: LYNXEYE XE-T, energy-dispersive 1D detector\n"
    assert len(read_pattern(_write(tmp_path, "lynx.xy", _xy(10.0 + np.arange(N), detector)))) == N


def test_above_180_degrees_never_comes_out(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.xy", _xy(500.0 + 642.8 * np.arange(N), "# no header about the axis\n"))
    with pytest.raises(
        PatternFileError, match=r"x\.xy: line \d+: x = .* cannot be 2θ in degrees \(above 180°\)"
    ):
        read_pattern(path)
    with pytest.raises(ValueError, match="within ±180 degrees"):
        MeasuredPattern([10.0, 200.0], [1.0, 2.0])


def test_a_block_of_counts_is_not_columns(tmp_path: Path) -> None:
    """ILL-style blocks (10 counts a line, the angles in a header) used to be refused as "not monotonic"."""
    rows = "\n".join(" ".join(str(100 + (i * 37 + j * 13) % 50) for j in range(10)) for i in range(5))
    path = _write(tmp_path, "d1a.dat", f"D1A run\n 10.0 0.05 60.0\n{rows}\n")
    with pytest.raises(PatternFileError, match=r"rows of 10 numbers whose first column is not an angle axis"):
        read_pattern(path)


def test_header_names_the_sigma_column(tmp_path: Path) -> None:
    text = "# 2theta intensity esd\n" + "".join(f"{10 + i} {c} {0.1 * c}\n" for i, c in enumerate(COUNTS))
    p = read_pattern(_write(tmp_path, "s.xy", text))
    np.testing.assert_allclose(p.sigma, 0.1 * COUNTS)


def test_start_step_layout_is_certain_or_refused(tmp_path: Path) -> None:
    values = "\n".join(f"{c:g}" for c in COUNTS)
    p = read_pattern(_write(tmp_path, "s.dat", f"title\n{N} .5 30 1.5406 1\n{values}\n"))
    assert p.format == "steps" and p.wavelength == 1.5406  # step 30 from 0.5 would pass 180°: certain
    np.testing.assert_allclose(p.two_theta, 30.0 + 0.5 * np.arange(N))
    with pytest.raises(PatternFileError, match=r"start and step cannot be told apart"):
        read_pattern(_write(tmp_path, "a.dat", f"title\n{N} 2 3\n{values}\n"))


def test_start_step_stop_line_over_the_counts_of_its_grid(tmp_path: Path) -> None:
    """FullProf's free format, Rietica: "start step stop [title]", then the grid's counts, 8 or 10 a line."""
    counts = (100 + (np.arange(3501) * 37) % 50).astype(int)
    rows = "\n".join(" ".join(f"{c:7d}" for c in counts[i : i + 8]) for i in range(0, counts.size, 8))
    # The last: DBWS's (3F8.2, A48) line with the title right after the third number, comma-separated counts.
    commas = "\n".join(",".join(f"{c}" for c in counts[i : i + 10]) for i in range(0, counts.size, 10))
    for first_line, body in (
        ("   10.0000    0.0200   80.0000 Quartz, riet7", rows),
        ("10.00 0.02 80.00", rows),
        ("   10.00    0.02   80.00QUARTZ DBWS", commas),
    ):
        p = read_pattern(_write(tmp_path, "fullprof.dat", f"{first_line}\n{body}\n"))
        assert p.format == "steps" and p.two_theta.size == 3501
        np.testing.assert_allclose(p.two_theta, 10.0 + 0.02 * np.arange(3501), atol=1e-9)
        np.testing.assert_array_equal(p.intensity, counts)
        assert p.metadata["steps_line"].startswith("10")
    # One count missing: not this layout (and rows of 8 counts are not x-y columns either).
    with pytest.raises(PatternFileError, match="rows of 8 numbers"):
        read_pattern(_write(tmp_path, "short.dat", f"10.00 0.02 80.00\n{rows.rsplit(' ', 1)[0]}\n"))


def test_counts_under_a_header_that_states_the_grid(tmp_path: Path) -> None:
    """Counts alone, one a line (or in rows that hold exactly the stated points), under "key: value" header
    lines stating the start and step (and the end or the number of points, which must agree)."""
    counts = (100 + (np.arange(151) * 37) % 50).astype(int)
    one_a_line = "".join(f"{c}\n" for c in counts)
    head = "Sample: quartz\nStart angle (deg): 10.00\nStep size: 0.02\nEnd angle: 13.00\nWavelength: 1.5406\n"
    p = read_pattern(_write(tmp_path, "k.txt", head + one_a_line))
    assert p.format == "steps" and p.wavelength == 1.5406 and p.metadata["steps_line"].startswith("start 10")
    assert p.metadata["sample"] == "quartz"
    np.testing.assert_allclose(p.two_theta, 10.0 + 0.02 * np.arange(151), atol=1e-9)
    np.testing.assert_array_equal(p.intensity, counts)
    in_rows = "\n".join(" ".join(str(c) for c in counts[i : i + 10]) for i in range(0, 151, 10))
    p = read_pattern(_write(tmp_path, "r.txt", f"START=10\nSTEP=0.02\nNPOINTS=151\n{in_rows}\n"))
    np.testing.assert_array_equal(p.intensity, counts)
    with pytest.raises(PatternFileError, match=r"which is 151 points; the file holds 150 counts"):
        read_pattern(_write(tmp_path, "short.txt", head + one_a_line.rsplit("\n", 2)[0] + "\n"))
    # Two columns under such a header stay 2θ and intensity.
    columns = "".join(f"{10 + 0.02 * i:.2f} {c}\n" for i, c in enumerate(counts))
    p = read_pattern(_write(tmp_path, "c.txt", head + columns))
    assert p.format == "xy" and p.intensity[0] == counts[0] and p.two_theta[-1] == pytest.approx(13.0)


def test_quoted_fields_with_decimal_commas_or_thousands_separators(tmp_path: Path) -> None:
    """Every field quoted, as spreadsheets save CSV: a comma inside the quotes is a decimal comma
    ("10,02","95,5"), or a thousands separator where the row writes decimal points ("10.02","1,234")."""
    two_theta = 10.0 + 0.02 * np.arange(N)
    german = "".join(
        f'"{t:.2f}","{c:.1f}"\n'.replace(".", ",") for t, c in zip(two_theta, COUNTS, strict=True)
    )
    p = read_pattern(_write(tmp_path, "de.csv", '"2Theta","Intensity"\n' + german))
    np.testing.assert_allclose(p.two_theta, two_theta)
    np.testing.assert_array_equal(p.intensity, COUNTS)
    american = "".join(f'"{t:.2f}","{1000 * c:,.0f}"\n' for t, c in zip(two_theta, COUNTS, strict=True))
    p = read_pattern(_write(tmp_path, "us.csv", '"2Theta","Counts"\n' + american))
    np.testing.assert_allclose(p.two_theta, two_theta)
    np.testing.assert_array_equal(p.intensity, 1000 * COUNTS)


def test_text_that_starts_with_a_bracket_is_not_xml(tmp_path: Path) -> None:
    """Shimadzu's text exports start with "<Sample>" or "<2Theta>   <I(CPS)>": text columns, not XML."""
    rows = "".join(f"{10 + 0.02 * i:10.4f} {c:8g}\n" for i, c in enumerate(COUNTS))
    p = read_pattern(_write(tmp_path, "s.txt", "<Sample> quartz\n<2Theta>   <I(CPS)>\n" + rows))
    assert p.format == "xy" and p.intensity.tolist() == COUNTS.tolist()
    with pytest.raises(PatternFileError, match="an XML file that is not XRDML"):
        read_pattern(_write(tmp_path, "x.xml", "<scan><point>1</point></scan>\n"))


def test_jade_mdi_grid_line_counts_and_end_marker(tmp_path: Path) -> None:
    """Jade's .mdi (the layout DASH's reader documents): a title, "start step rate anode λ stop n", n counts
    eight a line, then -1."""
    counts = (100 + (np.arange(2251) * 7) % 90).astype(int)
    values = [*counts.tolist(), -1]
    rows = "\n".join(" ".join(f"{c:7d}" for c in values[i : i + 8]) for i in range(0, len(values), 8))
    text = f"       09/11/91 DIF Demo08: 10-173\n10.000 0.0400  4.0 CU  1.540598 100.000   2251\n{rows}\n"
    p = read_pattern(_write(tmp_path, "demo.mdi", text))
    assert p.format == "steps" and p.wavelength == 1.540598 and p.metadata["anode"] == "Cu"
    np.testing.assert_allclose(p.two_theta, 10.0 + 0.04 * np.arange(2251), atol=1e-9)
    np.testing.assert_array_equal(p.intensity, counts)  # the -1 that ends the list is not a count
    # Without a wavelength the anode's Kα1; a count missing: not this layout.
    p = read_pattern(_write(tmp_path, "anode.mdi", text.replace("1.540598", "0")))
    assert p.wavelength == pytest.approx(1.540593)
    with pytest.raises(PatternFileError, match="rows of 8 numbers"):
        read_pattern(_write(tmp_path, "short.mdi", text.replace("     -1", "")[:-9] + "\n"))


def test_dash_xye_wavelength_alone_on_the_first_line(tmp_path: Path) -> None:
    rows = "".join(f"{5 + 0.004 * i:10.3f} {c:11.2f} {math.sqrt(c):9.3f}\n" for i, c in enumerate(COUNTS))
    p = read_pattern(_write(tmp_path, "dash.xye", f"1.1294\n{rows}"))
    assert p.wavelength == 1.1294 and p.two_theta.size == N and p.sigma is not None
    # A whole number there is a point count (Fit2D .chi), not a wavelength.
    p = read_pattern(_write(tmp_path, "count.xy", f"{N}\n{rows}"))
    assert p.wavelength is None and p.two_theta.size == N


# ---------------------------------------------------------------------------------------------------------
# MeasuredPattern from Q or d


def test_from_q_and_from_d_invert_bragg() -> None:
    lam = 1.540593
    two_theta = np.linspace(10.0, 120.0, 12)
    theta = np.radians(two_theta / 2)
    q = 4 * np.pi * np.sin(theta) / lam
    d = lam / (2 * np.sin(theta))
    p = MeasuredPattern.from_q(q, np.arange(12.0), lam)
    np.testing.assert_allclose(p.two_theta, two_theta, rtol=1e-12)
    assert p.wavelength == lam and "Q in 1/Å" in p.metadata["x_axis"]
    r = MeasuredPattern.from_d(d / 10, np.arange(12.0), lam, d_unit="nm", sigma=np.ones(12))
    np.testing.assert_allclose(r.two_theta, two_theta, rtol=1e-12)
    np.testing.assert_array_equal(r.intensity, np.arange(12.0))  # d decreasing: no reversal needed
    n = MeasuredPattern.from_q(q * 10, np.arange(12.0), lam, q_unit="1/nm")
    np.testing.assert_allclose(n.two_theta, two_theta, rtol=1e-12)
    with pytest.raises(ValueError, match=r"beyond 4π/λ"):
        MeasuredPattern.from_q([1.0, 9.0], [1, 1], lam)
    with pytest.raises(ValueError, match=r"below λ/2"):
        MeasuredPattern.from_d([2.0, 0.5], [1, 1], lam)
    with pytest.raises(ValueError, match=r"q_unit must be"):
        MeasuredPattern.from_q([1.0, 2.0], [1, 1], lam, q_unit="1/m")
    with pytest.raises(ValueError, match=r"wavelength must be"):
        MeasuredPattern.from_d([2.0, 1.0], [1, 1], None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# write_pattern and `xrdsynth convert`


READABLE = sorted(
    str(p.relative_to(FILES))
    for p in FILES.rglob("*")
    if p.is_file() and p.parent.name != "licenses" and p.parent != FILES
)


@pytest.mark.parametrize("name", READABLE)
def test_write_pattern_reads_back_the_same(tmp_path: Path, name: str) -> None:
    p = read_pattern(FILES / name)
    out = tmp_path / "out.xy"
    write_pattern(p, out, header=["a line of mine"])
    q = read_pattern(out)
    np.testing.assert_array_equal(q.two_theta, p.two_theta)
    np.testing.assert_array_equal(q.intensity, p.intensity)
    assert (q.wavelength, q.wavelength2, q.ratio) == (p.wavelength, p.wavelength2, p.ratio)
    assert "a line of mine" in q.metadata["header"] and "x_axis" not in q.metadata


def test_write_pattern_with_sigma_to_a_stream() -> None:
    p = MeasuredPattern([10.0, 10.5, 11.0], [4.0, 9.0, 16.0], sigma=[2.0, 3.0, 4.0], wavelength=1.5406)
    buffer = io.StringIO()
    write_pattern(p, buffer)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "# wavelength = 1.5406 Å (Kα1 only)" and lines[-1] == "11.0 16.0 4.0"


def test_convert_raw3_and_brml(tmp_path: Path, capsys) -> None:
    for name in ("raw1.01/chameleon_brukerraw_test.RAW", "brml/chameleon_standard.brml"):
        out = tmp_path / (Path(name).stem + ".xy")
        assert main(["convert", str(FILES / name), str(out)]) == 0
        assert f"wrote {out}" in capsys.readouterr().err
        original, converted = read_pattern(FILES / name), read_pattern(out)
        np.testing.assert_array_equal(converted.intensity, original.intensity)
        np.testing.assert_array_equal(converted.two_theta, original.two_theta)
        assert converted.wavelength == original.wavelength
    assert main(["convert", str(FILES / "xrdml/xrdtools_test_scan.xrdml"), "-"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "# wavelength = 1.540598 Å (Kα1 only)"


def test_convert_errors(tmp_path: Path, capsys) -> None:
    unknown = tmp_path / "unknown.raw"
    unknown.write_bytes(b"\x00\x01binary" * 10)
    assert main(["convert", str(unknown), str(tmp_path / "o.xy")]) == 1
    assert "no known format" in capsys.readouterr().err
    assert main(["convert", str(FILES / "xy/maud_CPD-1H.PRN"), str(tmp_path / "o.xy"), "--scan", "3"]) == 1
    assert "scan 3 asked; the file holds 1" in capsys.readouterr().err
    assert (
        main(["convert", str(FILES / "xy/maud_CPD-1H.PRN"), str(tmp_path / "o.xy"), "--format", "png"]) == 1
    )
    assert "unknown pattern format 'png'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# Sietronics .cpi and Philips .udf


def test_cpi(tmp_path: Path) -> None:
    counts = "\n".join(f"{c:g}" for c in COUNTS)
    head = "SIETRONICS XRD SCAN\n10.00\n10.07\n0.010\nCu\n1.54056\n1-1-1900\n0.600\nquartz\nSCANDATA\n"
    text = f"{head}{counts}\n"
    p = read_pattern(_write(tmp_path, "s.cpi", text))
    assert p.format == "cpi" and p.wavelength == 1.54056 and p.metadata["anode"] == "Cu"
    np.testing.assert_allclose(p.two_theta, 10.0 + 0.01 * np.arange(N))
    np.testing.assert_array_equal(p.intensity, COUNTS)
    cut = text[: text.index("\n15\n")]  # 3 counts of 8 lost
    with pytest.raises(PatternFileError, match=r"end at 10\.04, but the header says 10\.07 \(truncated"):
        read_pattern(_write(tmp_path, "cut.cpi", cut))


def test_cpi_header_with_decimal_commas(tmp_path: Path) -> None:
    """As in PyXRD's test file of a Sietronics scan: a wavelength "1,5406" and a "2,0" in the header (the
    counts with decimal points). The wavelength is 1.5406 Å, not the 1 of a list "1, 5406"."""
    counts = "\n".join(f"{c:.7f}" for c in COUNTS)
    head = "SIETRONICS XRD SCAN\n3,01\n3,08\n0,01\nCu\n1,5406\n11/10/2012 14:41:24\n2,0\nclay\nSCANDATA\n"
    text = f"{head}{counts}\n"
    p = read_pattern(_write(tmp_path, "c.cpi", text))
    assert p.wavelength == 1.5406 and p.metadata["sample"] == "clay"
    np.testing.assert_allclose(p.two_theta, 3.01 + 0.01 * np.arange(N))
    np.testing.assert_array_equal(p.intensity, COUNTS)


def test_udf(tmp_path: Path) -> None:
    counts = (
        ",   ".join(f"{c:g}" for c in COUNTS[:4]) + "\n" + ",   ".join(f"{c:g}" for c in COUNTS[4:]) + "/\n"
    )
    text = (
        "SampleIdent,quartz ,/\nTitle1,test ,/\nAnodeMaterial,Cu,/\nLabdaAlpha1, 1.54060,/\n"
        "LabdaAlpha2, 1.54439,/\nRatioAlpha21, 0.50000,/\nDataAngleRange,   5.0000,   5.1400,/\n"
        f"ScanStepSize,    0.020,/\nRawScan\n{counts}"
    )
    p = read_pattern(_write(tmp_path, "s.udf", text))
    assert p.format == "udf" and p.metadata["sample"] == "quartz" and p.metadata["anode"] == "Cu"
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.5406, 1.54439, 0.5)
    np.testing.assert_allclose(p.two_theta, 5.0 + 0.02 * np.arange(N))
    np.testing.assert_array_equal(p.intensity, COUNTS)


def test_rising_counts_in_rows_are_not_an_angle_axis(tmp_path: Path) -> None:
    """Rows of 8 counts whose first column happens to rise, unevenly: a block, not (x, y, ...) columns."""
    rows = np.array(
        [[100, 5, 6, 7, 8, 9, 10, 11], [101, 5, 6, 7, 8, 9, 10, 11], [180, 5, 6, 7, 8, 9, 10, 11]]
    )
    text = "\n".join(" ".join(str(v) for v in r) for r in rows) + "\n"
    with pytest.raises(PatternFileError, match=r"not monotonic and evenly spaced\): a block of counts"):
        read_pattern(_write(tmp_path, "b.dat", text))


def test_fit2d_chi_in_q(tmp_path: Path) -> None:
    """Fit2D .chi: a title, the axis titles on their own lines, the number of points, then x y."""
    q = np.linspace(10.0, 40.0, N)  # 1/nm
    rows = "".join(f"  {a!r}  {b!r}\n" for a, b in zip(q.tolist(), COUNTS.tolist(), strict=True))
    text = f"sample.tif: wavelength 0.7093 Angstrom\nQ (1/nm)\nIntensity\n       {N}\n{rows}"
    p = read_pattern(_write(tmp_path, "s.chi", text))
    np.testing.assert_allclose(
        p.two_theta, 2 * np.degrees(np.arcsin(q / 10 * 0.7093 / (4 * np.pi))), rtol=1e-12
    )
    two_theta = text.replace("Q (1/nm)", "2-Theta Angle (Degrees)")
    np.testing.assert_array_equal(read_pattern(_write(tmp_path, "t.chi", two_theta)).two_theta, q)


def test_bruker_eva_header_wavelengths(tmp_path: Path) -> None:
    header = '\'Id: "quartz" Anode: "Cu" WL1: "1.5406" WL2: "1.54439" WLRatio: "0.5" Start: "10"\n'
    p = read_pattern(_write(tmp_path, "eva.xy", _xy(10.0 + 0.02 * np.arange(N), header)))
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.5406, 1.54439, 0.5)


def test_words_in_a_header_are_not_an_axis_title(tmp_path: Path) -> None:
    header = "# d-spacing standard used: Si\n# Q-factor of the mirror\n# counting 1 s\n"
    p = read_pattern(_write(tmp_path, "w.xy", _xy(10.0 + np.arange(N), header)))
    np.testing.assert_array_equal(p.two_theta, 10.0 + np.arange(N))


@pytest.mark.parametrize("line", ["Time: 12:30:00", "Time 12.5 s", "Energy threshold = 8 keV", "d: 0.5 mm"])
def test_header_lines_that_are_not_column_labels(tmp_path: Path, line: str) -> None:
    p = read_pattern(_write(tmp_path, "h.xy", _xy(10.0 + np.arange(N), f"# {line}\n")))
    np.testing.assert_array_equal(p.two_theta, 10.0 + np.arange(N))


# ---------------------------------------------------------------------------------------------------------
# Compressed files


@pytest.mark.parametrize(
    ("suffix", "compress", "name"),
    [(".gz", gzip.compress, "gzip"), (".bz2", bz2.compress, "bzip2"), (".xz", lzma.compress, "xz")],
)
def test_compressed_files_are_read_as_their_content(tmp_path: Path, suffix: str, compress, name: str) -> None:
    text = "# Cu Ka1\n" + "".join(
        f"{10 + 0.1 * i:.1f} {c:g} {math.sqrt(c):.3f}\n" for i, c in enumerate(COUNTS)
    )
    path = tmp_path / f"scan.xye{suffix}"
    path.write_bytes(compress(text.encode()))
    p = read_pattern(path)
    plain = read_pattern(_write(tmp_path, "scan.xye", text))
    assert p.format == "xye" == plain.format  # the suffix before the compression's decides
    np.testing.assert_array_equal(p.intensity, plain.intensity)
    np.testing.assert_array_equal(p.sigma, plain.sigma)
    assert p.wavelength == plain.wavelength and p.metadata["compression"] == name


def test_text_that_starts_like_a_bzip2_magic_is_text(tmp_path: Path) -> None:
    p = read_pattern(_write(tmp_path, "bzh.xy", "BZh sample\n10 1\n11 2\n12 3\n"))
    assert p.intensity.tolist() == [1, 2, 3] and "compression" not in p.metadata


def test_damaged_truncated_and_oversized_compressed_files_are_refused(tmp_path: Path) -> None:
    packed = gzip.compress(b"10 1\n11 2\n12 3\n" * 100)
    cases = {
        "cut.xy.gz": (packed[: len(packed) // 2], "truncated gzip"),
        "junk.xy.gz": (b"\x1f\x8b" + bytes(range(200)), "damaged gzip"),
        "empty.xy.bz2": (bz2.compress(b"  \n"), "bzip2 file holding an empty file"),
        # 40 MiB of zeros packs into ~40 kB: refused once 32 MiB came out, not after filling the memory.
        "bomb.xy.gz": (gzip.compress(bytes(40 * 2**20)), "content exceeds 32 MiB"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(PatternFileError, match=message):
            read_pattern(path)


def test_an_archive_of_pattern_files_reads_each_member(tmp_path: Path) -> None:
    first = "".join(f"{10 + 0.1 * i:.1f} {c:g}\n" for i, c in enumerate(COUNTS))
    second = "# Cu Ka1\n" + "".join(f"{20 + 0.1 * i:.1f} {2 * c:g}\n" for i, c in enumerate(COUNTS))
    path = tmp_path / "exports.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.md", "two scans of quartz")  # not a pattern file: left out
        archive.writestr("__MACOSX/._a.xy", b"\x00\x05\x16\x07")  # a resource fork: left out
        archive.writestr("scans/b.xy.gz", gzip.compress(second.encode()))
        archive.writestr("scans/a.xy", first)
        archive.writestr("scans/broken.dat", "not a pattern\n")
    patterns = read_all_patterns(path)
    assert [p.metadata["member"] for p in patterns] == ["scans/a.xy", "scans/b.xy.gz"]
    assert all(p.source == str(path) for p in patterns)
    np.testing.assert_array_equal(patterns[1].intensity, 2 * COUNTS)
    assert patterns[1].wavelength is not None and patterns[1].metadata["compression"] == "gzip"
    with pytest.raises(PatternFileError, match=r"exports\.zip: scans/broken\.dat: no numeric data"):
        read_pattern(path, scan=2)
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as archive:
        archive.writestr("notes.md", "nothing to read")
    with pytest.raises(PatternFileError, match=r"not a diffractometer file.*no pattern files.*notes\.md"):
        read_pattern(tmp_path / "notes.zip")


def test_fortran_exponents_and_comments_after_the_numbers(tmp_path: Path) -> None:
    """Old Fortran programs write doubles as 1.000000D+01; hand-annotated scans put a comment after the
    numbers of a line. Both read as the numbers they hold (they were refused as "no numeric data lines")."""
    two_theta = 10.0 + 0.01 * np.arange(N)
    fortran = "".join(f"{t:.6E}  {c:.6E}\n".replace("E", "D") for t, c in zip(two_theta, COUNTS, strict=True))
    p = read_pattern(_write(tmp_path, "f.dat", fortran))
    np.testing.assert_allclose(p.two_theta, two_theta)
    np.testing.assert_allclose(p.intensity, COUNTS)
    pairs = enumerate(zip(two_theta, COUNTS, strict=True))
    noted = "".join(f"{t:.2f} {c:g}  # point {i}\n" for i, (t, c) in pairs)
    p = read_pattern(_write(tmp_path, "c.xy", "# 2theta counts\n" + noted))
    np.testing.assert_allclose(p.two_theta, two_theta)
    np.testing.assert_array_equal(p.intensity, COUNTS)
