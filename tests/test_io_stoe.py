"""STOE WinXPOW RAW files: a real one (tests/data/patterns/stoe_xrdpattern.raw, from the xrdpattern project)
read against what its own header states, and variants of it that disagree with themselves refused."""

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


def _variant(tmp_path: Path, changes: dict[int, bytes], cut: int | None = None) -> Path:
    data = bytearray(STOE.read_bytes())
    for offset, value in changes.items():
        data[offset : offset + len(value)] = value
    path = tmp_path / "variant.raw"
    path.write_bytes(bytes(data[:cut]))
    return path


def test_the_real_file_reads_as_its_header_states() -> None:
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


def test_read_by_content_whatever_the_name(tmp_path: Path) -> None:
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
def test_a_file_that_disagrees_with_itself_is_refused(
    tmp_path: Path, changes: dict[int, bytes], cut: int | None, message: str
) -> None:
    with pytest.raises(PatternFileError, match=rf"variant\.raw: .*{message}"):
        read_pattern(_variant(tmp_path, changes, cut))


def test_classify_and_convert_on_the_command_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "stoe.xy"
    assert main(["convert", str(STOE), str(out)]) == 0
    back = read_pattern(out)
    assert len(back) == 5404 and back.wavelength == 1.20793
    np.testing.assert_array_equal(back.intensity, read_pattern(STOE).intensity)
    assert main(["classify", str(STOE)]) == 0
    assert "at 1.20793 Å (file)" in capsys.readouterr().out
