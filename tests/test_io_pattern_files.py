"""read_pattern on 18 real instrument files (tests/data/pattern-files, with their sources and licences):
every fact SOURCES.csv states, the two pairs that are one measurement in two formats, and, for files with
no stated facts, comparisons with the file's own content decoded independently (zip + numpy)."""

from __future__ import annotations

import csv
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xrdsynth.io import PatternFileError, read_all_patterns, read_pattern

FILES = Path(__file__).parent / "data" / "pattern-files"
SOURCES = list(csv.DictReader((FILES / "SOURCES.csv").open(encoding="utf-8")))
FACTS = ("points", "tt_first", "tt_last", "wavelength", "y_first", "y_last")
STATED = [(row["file"], fact, float(row[fact])) for row in SOURCES for fact in FACTS if row[fact].strip()]


def test_every_file_is_in_the_folder() -> None:
    assert len(SOURCES) == 18
    for row in SOURCES:
        assert (FILES / row["file"]).is_file(), row["file"]


@pytest.mark.parametrize(("name", "fact", "expected"), STATED, ids=[f"{n}-{f}" for n, f, _ in STATED])
def test_stated_facts(name: str, fact: str, expected: float) -> None:
    p = read_pattern(FILES / name)
    got = {
        "points": len(p),
        "tt_first": p.two_theta[0],
        "tt_last": p.two_theta[-1],
        "wavelength": p.wavelength,
        "y_first": p.intensity[0],
        "y_last": p.intensity[-1],
    }[fact]
    if fact == "points":
        assert got == int(expected)
    elif fact.startswith("tt_"):
        assert got == pytest.approx(expected, abs=1e-6)
    else:
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("binary", "export"),
    [
        ("brml/chameleon_standard.brml", "txt/chameleon_standard_test.txt"),
        ("raw1.01/chameleon_brukerraw_test.RAW", "txt/chameleon_bruker_output.txt"),
    ],
)
def test_one_measurement_in_two_formats(binary: str, export: str) -> None:
    a, b = read_pattern(FILES / binary), read_pattern(FILES / export)
    assert len(a) == len(b)
    np.testing.assert_allclose(a.two_theta, b.two_theta, atol=5e-4)  # the export rounds 2θ
    np.testing.assert_array_equal(a.intensity, b.intensity)
    assert a.wavelength == pytest.approx(b.wavelength, rel=1e-5)


def test_xrdml_schema_1_kalpha1_only() -> None:
    """A Ge220 monochromator file states <ratioKAlpha2KAlpha1>0.0000: Kα1 only (it used to be refused)."""
    p = read_pattern(FILES / "xrdml/xrdtools_test_scan.xrdml")
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.540598, None, None)
    assert p.metadata["counting_time_s"] == "10.00" and p.metadata["scan_type"] == "2Theta-Omega"


def test_raw4_with_eight_byte_steps() -> None:
    """RAW4.00 with a float32 count and a uint32 per step (it used to be refused)."""
    path = FILES / "raw4/nomad_TwoTheta_scan_scrambled.raw"
    data = path.read_bytes()
    p = read_pattern(path)
    assert p.metadata["datum_bytes"] == "8" and p.metadata["scan_type"] == "Locked Coupled"
    assert p.wavelength2 is None  # the source segment states Kα2 = Kα1: monochromatic
    # Independently: the counts are every other float32 of the file's last 8 × 7134 bytes.
    words = np.frombuffer(data[len(data) - 8 * 7134 :], dtype="<f4").reshape(-1, 2)
    np.testing.assert_array_equal(p.intensity, words[:, 0])
    assert set(np.frombuffer(data[len(data) - 8 * 7134 :], dtype="<u4")[1::2]) == {1}


def test_raw_version_1_and_2() -> None:
    one = read_pattern(FILES / "raw1/pyxrd_brk_raw1.raw")
    data = (FILES / "raw1/pyxrd_brk_raw1.raw").read_bytes()
    assert one.metadata["raw_version"] == "1" and one.metadata["sample"] == "VINAIGRE"
    assert len(data) == 4 + 152 + 4 * len(one)  # magic, one range header, the counts: nothing left over
    assert one.two_theta[0] == pytest.approx(4.98, abs=1e-6) and one.two_theta[-1] == pytest.approx(
        39.98, abs=1e-4
    )
    assert one.wavelength == pytest.approx(1.5406, abs=1e-6) and one.wavelength2 == pytest.approx(
        1.5444, abs=1e-4
    )
    np.testing.assert_array_equal(one.intensity, np.frombuffer(data[156:], dtype="<f4"))

    two = read_pattern(FILES / "raw2/pyxrd_brk_raw2.raw")
    data = (FILES / "raw2/pyxrd_brk_raw2.raw").read_bytes()
    assert two.metadata["raw_version"] == "2" and "ZINCITE" in two.metadata["title"]
    assert two.metadata["anode"] == "Cu" and two.metadata["counting_time_s"] == "3"
    assert len(data) == 256 + 60 + 4 * len(two) and len(two) == 7251
    assert two.two_theta[0] == 5.0 and two.two_theta[-1] == pytest.approx(150.0, abs=1e-3)
    np.testing.assert_array_equal(two.intensity, np.frombuffer(data[316:], dtype="<f4"))


def _brml_datum(path: Path, two_theta_column: int, counts_column: int) -> tuple[np.ndarray, np.ndarray]:
    with zipfile.ZipFile(path) as z:
        text = z.read("Experiment0/RawData0.xml").decode("utf-8")
    rows = np.array([r.split(",") for r in re.findall(r"<Datum>([^<]*)</Datum>", text)], dtype=np.float64)
    return rows[:, two_theta_column], rows[:, counts_column]


def test_brml_columns_come_from_the_data_views() -> None:
    """The 2θ-ω file has 8 values per <Datum> (time, absorber, 2θ, ω, 3 reciprocal-space, counts): the
    counts are the last column, which the data views name; the other file has 5 (counts at index 4)."""
    path = FILES / "brml/nomad_23-012-AG_2thomegascan_long.brml"
    p = read_pattern(path)
    x, y = _brml_datum(path, 2, 7)
    np.testing.assert_array_equal(p.two_theta, x)
    np.testing.assert_array_equal(p.intensity, y)
    assert len(p) == 2001 and p.metadata["scan_type"] == "2Theta-Omega" and p.metadata["anode"] == "Cu"
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.5406, 1.54439, 0.5)
    q = read_pattern(FILES / "brml/chameleon_standard.brml")
    x, y = _brml_datum(FILES / "brml/chameleon_standard.brml", 2, 4)
    np.testing.assert_array_equal(q.intensity, y)
    assert q.metadata["counting_time_s"] == "0.5" and q.metadata["anode"] == "Ag"


@pytest.mark.parametrize(
    ("name", "axis", "count"),
    [
        ("rasx/nomad_TwoTheta_scan_powder.rasx", "TwoTheta", 2726),
        ("rasx/nomad_Omega-2Theta_scan_high_temperature.rasx", "TwoThetaOmega", 1042),
    ],
)
def test_rasx_against_its_profile(name: str, axis: str, count: int) -> None:
    path = FILES / name
    p = read_pattern(path)
    with zipfile.ZipFile(path) as z:
        table = np.loadtxt(z.read("Data0/Profile0.txt").decode("utf-8-sig").splitlines())
        conditions = z.read("Data0/MesurementConditions0.xml").decode("utf-8-sig")
    np.testing.assert_array_equal(p.two_theta, table[:, 0])
    np.testing.assert_array_equal(p.intensity, table[:, 1] * table[:, 2])
    assert len(p) == count == int(re.search(r"<DataCount>(\d+)</DataCount>", conditions).group(1))
    # <WaveType>Ka1</WaveType> (a Ge(220)x2 monochromator): Kα1 only, as the file states it.
    assert (p.wavelength, p.wavelength2) == (1.540593, None)
    assert p.metadata["scan_type"] == axis and p.metadata["anode"] == "Cu"


def test_start_step_list() -> None:
    p = read_pattern(FILES / "dat-steps/maud_alzrc.dat")
    assert p.format == "steps" and p.metadata["sample"] == "Al2O3 + CeO2-stabilized ZrO2"
    np.testing.assert_allclose(np.diff(p.two_theta), 0.05)


def test_rigaku_text_raw_reads_as_maud_read_it(tmp_path: Path) -> None:
    """The older Rigaku .RAW (carriage-return separated fields, NUL padding in the date) against MAUD's own
    reading of the same file, stored in its example analysis (Steel16CrNi4.par)."""
    path = FILES / "maud-raw/maud_Steel16CrNi4.RAW"
    p = read_pattern(path)
    reference = np.loadtxt(FILES / "maud-raw/maud_Steel16CrNi4_as_read_by_maud.xy")
    assert p.format == "rigaku_raw" and len(p) == 1701
    np.testing.assert_allclose(p.two_theta, reference[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(p.intensity, reference[:, 1])
    # Kα1 and Kα2 as stated; the ratio from the stated weighted mean (2 Kα1 + Kα2) / 3.
    assert (p.wavelength, p.wavelength2, p.ratio) == (1.540598, 1.544418, 0.5)
    m = p.metadata
    assert (m["anode"], m["tube_kv"], m["tube_ma"], m["counting_time_s"]) == ("Cu", "40", "200", "8")
    assert m["sample"] == "CR16NI4, example" and m["date"] == "18-MAR-99 15:34:16"
    # A header that disagrees with the counts is refused, never read at other positions.
    data = path.read_bytes()
    cases = {
        b"\r 105.000\r": (b"\r 106.000\r", "but the header's stop is 106"),
        b"\r   2009.\r": (b"\r   2010.\r", "not the maximum the header states"),
        b"\r  1701 1\r": (b"\r  1702 1\r", "end at 105.05, but the header's stop is 105"),
    }
    for old, (new, message) in cases.items():
        bad = tmp_path / "bad.RAW"
        bad.write_bytes(data.replace(old, new, 1))  # the header's field (the largest count is a count too)
        with pytest.raises(PatternFileError, match=message):
            read_pattern(bad)


def test_single_range_files_give_one_pattern() -> None:
    for row in SOURCES:
        patterns = read_all_patterns(FILES / row["file"])
        assert len(patterns) == 1 and "ranges" not in patterns[0].metadata, row["file"]


def test_raw3_header_fields() -> None:
    p = read_pattern(FILES / "raw1.01/chameleon_brukerraw_test.RAW")
    data = (FILES / "raw1.01/chameleon_brukerraw_test.RAW").read_bytes()
    m = p.metadata
    assert m["raw_version"] == "3" and m["sample"] == "MK169-Ba2CaWO6-SPS-5-60_4hr.RAW" and m["anode"] == "Cu"
    assert (p.wavelength, p.wavelength2, p.ratio) == struct.unpack_from("<ddxxxxxxxxd", data, 624)
