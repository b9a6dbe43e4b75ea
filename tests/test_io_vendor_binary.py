"""Binary scans of vendors without a published layout, each read from a real file against what its own header
states (and what its counts must look like), and variants that disagree with themselves refused: STOE WinXPOW
RAW (tests/data/patterns/stoe_xrdpattern.raw, from the xrdpattern project) and Philips PC-APD .rd/.sd
(tests/data/patterns/philips_pyxrd.rd, PyXRD's test scan)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from xrdsynth.cli import main
from xrdsynth.io import PatternFileError, read_all_patterns, read_pattern

STOE = Path(__file__).parent / "data" / "patterns" / "stoe_xrdpattern.raw"
# Where this file keeps its range: the counts from byte 2560 (5 header blocks), its range header before it.
FIRST_COUNT = 2560
RD = Path(__file__).parent / "data" / "patterns" / "philips_pyxrd.rd"
RD_FIRST_COUNT = 250  # V3: the counts from byte 250


def _variant(tmp_path: Path, changes: dict[int, bytes], cut: int | None = None) -> Path:
    data = bytearray(STOE.read_bytes())
    for offset, value in changes.items():
        data[offset : offset + len(value)] = value
    path = tmp_path / "variant.raw"
    path.write_bytes(bytes(data[:cut]))
    return path


def test_stoe_the_real_file_reads_as_its_header_states() -> None:
    data = STOE.read_bytes()
    p = read_pattern(STOE)
    assert p.format == "stoe_raw" and len(read_all_patterns(STOE)) == 1
    # The two point counts of the file (file header: n + 1; range header: n) and its stated 2θ end and step.
    assert len(p) == struct.unpack_from("<H", data, 0x1D2)[0] - 1 == 5404
    assert p.two_theta[0] == 10.0 and p.two_theta[-1] == pytest.approx(91.045, abs=1e-9)
    np.testing.assert_allclose(np.diff(p.two_theta), 0.015, atol=1e-9)
    # The smallest and largest count the range header states (hand-checked: 1129 and 5824), and the counts
    # as xrdpattern's STOE parser reads them (int32 from byte 2560).
    assert (p.intensity.min(), p.intensity.max()) == (1129.0, 5824.0)
    np.testing.assert_array_equal(p.intensity, np.frombuffer(data, "<i4", 5404, FIRST_COUNT))
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.20793, 1.20839, None)
    assert p.metadata["date"] == "22-Sep-20 17:18" and p.metadata["scan_end"] == "22-Sep-20 18:21"
    assert p.metadata["theta_start"] == "5"


def test_stoe_read_by_content_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "scan.dat"
    path.write_bytes(STOE.read_bytes())
    assert read_pattern(path).format == "stoe_raw"
    assert read_pattern(path, format="stoe_raw").two_theta[-1] == pytest.approx(91.045)
    other = tmp_path / "scan.xy"
    other.write_text("10 1\n11 2\n12 3\n")
    with pytest.raises(PatternFileError, match=r"scan\.xy: not a STOE RAW file"):
        read_pattern(other, format="stoe_raw")


@pytest.mark.parametrize(
    ("changes", "cut", "message"),
    [
        # The range header states one point fewer than the file header.
        ({FIRST_COUNT - 0x1DE: struct.pack("<H", 5403)}, None, "states 5403 points, the file header 5404"),
        # A stated end that the start, step and count do not reach.
        ({FIRST_COUNT - 0x1D4 + 8: struct.pack("<f", 95.0)}, None, "ends at 91.045, not at the stated 95"),
        # A stated largest count that is not the largest count.
        ({FIRST_COUNT - 0x188 + 4: struct.pack("<I", 9999)}, None, "the range header states 1129 to 9999"),
        # Counters that put the counts elsewhere (a layout not known).
        ({0x1DA: struct.pack("<H", 40)}, None, "a layout this reader does not know"),
        # A file cut short of the blocks its header states.
        ({}, 20000, "header states a file of 48 blocks"),
    ],
)
def test_stoe_a_file_that_disagrees_with_itself_is_refused(
    tmp_path: Path, changes: dict[int, bytes], cut: int | None, message: str
) -> None:
    with pytest.raises(PatternFileError, match=rf"variant\.raw: .*{message}"):
        read_pattern(_variant(tmp_path, changes, cut))


# ---------------------------------------------------------------------------------------------------------
# Philips PC-APD .rd/.sd


def _rd_file(tmp_path: Path, data: bytes, name: str = "variant.rd") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rd_bytes(changes: dict[int, bytes], extra: bytes = b"", cut: int | None = None) -> bytes:
    data = bytearray(RD.read_bytes())
    for offset, value in changes.items():
        data[offset : offset + len(value)] = value
    return bytes(data[:cut]) + extra


def test_philips_the_real_file_reads_as_its_header_states() -> None:
    data = RD.read_bytes()
    p = read_pattern(RD)
    assert p.format == "philips_rd" and len(read_all_patterns(RD)) == 1
    # Header: step 0.02°, 3-15° (float64 at 214, 222, 230): 601 points, of which the file holds the first
    # 600 (read from the start, as Profex reads it).
    assert struct.unpack_from("<3d", data, 214) == (0.02, 3.0, 15.0)
    assert len(p) == 600 == (len(data) - RD_FIRST_COUNT) // 2
    assert p.two_theta[0] == 3.0 and p.two_theta[-1] == pytest.approx(14.98)
    np.testing.assert_allclose(np.diff(p.two_theta), 0.02, atol=1e-12)
    assert "holds 600 counts for the 601 points from 3 to 15°" in p.metadata["note"]
    # Counts stored as 10 √counts: the first stored number is 96 (hand-read), the count 92.16.
    stored = np.frombuffer(data, "<u2", 600, RD_FIRST_COUNT).astype(float)
    assert stored[0] == 96 and p.intensity[0] == pytest.approx(92.16)
    np.testing.assert_allclose(p.intensity, stored**2 / 100)
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.5406, 1.54439, 0.5)
    assert p.metadata["anode"] == "Cu" and p.metadata["diffractometer"] == "PW3710 based system"
    assert p.metadata["sample"] == "12-644 clay form" and p.metadata["file_name"] == "622M0019"


def test_philips_the_counts_read_have_counting_noise() -> None:
    """Why the stored numbers are squared: read that way, the scan's point-to-point scatter has the variance
    of Poisson counts (about the level itself) at high and low level alike; the stored numbers themselves
    scatter by a constant variance of about 25 (10 x the 1/2 of a square root of counts)."""
    p = read_pattern(RD)
    for part in (p.intensity[:200], p.intensity[-200:]):  # levels about 80 and 36 counts
        wiggle = part[1:-1] - (part[:-2] + part[2:]) / 2  # second difference: the smooth trend cancels
        assert np.var(wiggle) / 1.5 / part.mean() == pytest.approx(1.0, abs=0.35)


def test_philips_a_file_with_its_last_point(tmp_path: Path) -> None:
    # The count at the end angle too (the layout's (end - start) / step + 1 points): start to end, no note.
    p = read_pattern(_rd_file(tmp_path, _rd_bytes({}, extra=struct.pack("<H", 50))))
    assert len(p) == 601 and p.two_theta[0] == 3.0 and p.two_theta[-1] == pytest.approx(15.0)
    assert p.intensity[-1] == 25.0 and "note" not in p.metadata


def test_philips_a_v5_file_keeps_its_counts_at_810(tmp_path: Path) -> None:
    data = RD.read_bytes()
    v5 = b"V5" + data[2:RD_FIRST_COUNT] + bytes(810 - RD_FIRST_COUNT) + data[RD_FIRST_COUNT:]
    p = read_pattern(_rd_file(tmp_path, v5, "scan.sd"))
    assert p.metadata["philips_version"] == "V5RD"
    np.testing.assert_array_equal(p.intensity, read_pattern(RD).intensity)


def test_philips_read_by_content_whatever_the_name(tmp_path: Path) -> None:
    assert read_pattern(_rd_file(tmp_path, RD.read_bytes(), "scan.dat")).format == "philips_rd"
    other = tmp_path / "scan.xy"
    other.write_text("10 1\n11 2\n12 3\n")
    with pytest.raises(PatternFileError, match=r"scan\.xy: not a Philips PC-APD scan"):
        read_pattern(other, format="philips_rd")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # A count missing at the end: neither one number per step nor one per point.
        (_rd_bytes({}, cut=-2), "needs 1200 or 1202 bytes of counts from offset 250, the file has 1198"),
        # An end that the steps do not reach in whole steps.
        (_rd_bytes({230: struct.pack("<d", 15.011)}), "is not a whole number of steps"),
        # A step of zero, an end before the start.
        (_rd_bytes({214: struct.pack("<d", 0.0)}), "step 0, start 3, end 15: not a scan"),
        (_rd_bytes({230: struct.pack("<d", 2.0)}), "start 3, end 2: not a scan"),
        # Cut inside the header.
        (_rd_bytes({}, cut=100), "truncated Philips V3RD file"),
    ],
)
def test_philips_a_file_that_disagrees_with_itself_is_refused(
    tmp_path: Path, data: bytes, message: str
) -> None:
    with pytest.raises(PatternFileError, match=rf"variant\.rd: .*{message}"):
        read_pattern(_rd_file(tmp_path, data))


@pytest.mark.parametrize(
    ("path", "points", "wavelength"), [(STOE, 5404, 1.20793), (RD, 600, 1.5406)], ids=["stoe", "philips"]
)
def test_classify_and_convert_on_the_command_line(
    tmp_path: Path, capsys, path: Path, points: int, wavelength: float
) -> None:
    out = tmp_path / "scan.xy"
    assert main(["convert", str(path), str(out)]) == 0
    back = read_pattern(out)
    assert len(back) == points and back.wavelength == wavelength
    np.testing.assert_allclose(back.intensity, read_pattern(path).intensity)
    assert main(["classify", str(path)]) == 0
    assert f"at {wavelength:g} Å (file)" in capsys.readouterr().out
