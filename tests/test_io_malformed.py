"""Bad input never escapes read_pattern as anything but a PatternFileError naming the file: truncated and
corrupted copies of the real fixtures, random bytes, zip archives that are not instrument files or inflate
beyond the cap, an XML entity bomb, and a file too large to read. (scripts/malformed_input_sweep.py runs a
larger sweep and counts the outcomes.)"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import pattern_outcome
from xrdsynth.io import PatternFileError, read_pattern

FILES = Path(__file__).parent / "data" / "pattern-files"
FIXTURES = sorted(
    p for p in FILES.rglob("*") if p.is_file() and p.parent.name != "licenses" and p.parent != FILES
)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_truncated_and_corrupted_copies(tmp_path: Path, fixture: Path) -> None:
    data = fixture.read_bytes()
    rng = np.random.default_rng(len(data))
    path = tmp_path / fixture.name
    for n in sorted({1, 16, 64, len(data) // 3, len(data) // 2, len(data) - 1}):
        path.write_bytes(data[:n])
        pattern_outcome(path)
    for _ in range(6):
        corrupt = bytearray(data)
        for i in rng.integers(0, len(data), size=8):
            corrupt[int(i)] = int(rng.integers(0, 256))
        path.write_bytes(bytes(corrupt))
        pattern_outcome(path)


@pytest.mark.parametrize("size", [1, 3, 200, 5000, 300_000])
def test_random_bytes(tmp_path: Path, size: int) -> None:
    for seed in range(3):
        path = tmp_path / f"r{seed}.raw"
        path.write_bytes(np.random.default_rng([size, seed]).integers(0, 256, size, dtype=np.uint8).tobytes())
        assert pattern_outcome(path) == "refused"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "not a diffractometer file"),
        ({"notes.md": b"hi"}, "not a diffractometer file.*notes.md"),
        ({"notes.txt": b"hi"}, r"notes\.txt: no numeric data lines"),  # read as the text file it is
        ({"Experiment0/RawData0.xml": b"<RawData"}, "not well-formed XML"),
        ({"Experiment0/RawData0.xml": b"<RawData/>"}, "no <DataRoute>"),
        ({"Data0/Profile0.txt": b"a b\n"}, "not numbers"),
        ({"Experiment0/RawData0.xml": bytes(70 * 2**20)}, "more than the 67108864 read"),
    ],
)
def test_zip_archives_that_are_not_instrument_files(tmp_path: Path, members: dict, message: str) -> None:
    path = tmp_path / "a.brml"
    path.write_bytes(_zip(members))
    with pytest.raises(PatternFileError, match=rf"a\.brml: .*{message}"):
        read_pattern(path)


def test_a_zip_whose_directory_claims_an_unknown_version(tmp_path: Path) -> None:
    """A damaged central directory claiming "zip version 24.5" made zipfile raise NotImplementedError, which
    escaped read_pattern (found by scripts/malformed_input_sweep.py on an archive of pattern files)."""
    data = bytearray(_zip({"a.xy": b"10 1\n11 2\n12 3\n"}))
    central = data.rfind(b"PK\x01\x02")
    data[central + 6] = 245  # "version needed to extract": 24.5
    path = tmp_path / "v.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(PatternFileError, match=r"v\.zip: a damaged zip archive \(zip file version 24\.5\)"):
        read_pattern(path)


def test_a_zip_member_that_lies_about_its_size(tmp_path: Path) -> None:
    """The central directory says 10 bytes; the member inflates to 70 MiB: refused at the cap."""
    data = bytearray(_zip({"Data0/Profile0.txt": b"10 1\n" * (14 * 2**20)}))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)
    path = tmp_path / "lie.rasx"
    path.write_bytes(bytes(data))
    with pytest.raises(PatternFileError, match=r"lie\.rasx: .*Profile0\.txt"):
        read_pattern(path)


def test_entity_bomb(tmp_path: Path) -> None:
    entities = "".join(f'<!ENTITY e{i} "{("&e" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    text = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e0 "lol">{entities}]>'
        '<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5">&e9;</xrdMeasurements>'
    )
    path = tmp_path / "bomb.xrdml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PatternFileError, match=r"bomb\.xrdml: not well-formed XML"):
        read_pattern(path)


def test_a_huge_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.xy"
    with path.open("wb") as handle:
        handle.truncate(2**30)  # sparse
    with pytest.raises(PatternFileError, match=r"huge\.xy: 1024 MiB, larger than any pattern file"):
        read_pattern(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"RAW4.00" + bytes(54) + struct.pack("<I", 0) + bytes(84) + struct.pack("<I", 2**32 - 1),
            "truncated",
        ),
        (b"RAW2" + struct.pack("<H", 65535) + bytes(300), "Bruker RAW v2 file states 65535 ranges"),
        (
            b"RAW2" + struct.pack("<H", 3) + bytes(250) + struct.pack("<HH", 60, 9999),
            "truncated Bruker RAW v2",
        ),
        (b"RAW " + struct.pack("<I", 2**32 - 1) + bytes(200), "truncated Bruker RAW v1"),
        (b"RAW_1.06Powdat" + bytes(2000), "STOE RAW header states a file of 0 blocks"),
        (
            b"RAW_1.06Powdat" + bytes(0x1DA - 14) + struct.pack("<HH", 40000, 65535) + bytes(100),
            "STOE RAW header states a file of 65535 blocks",
        ),
        (b"RAW_1.05Powdat" + bytes(2000), "a STOE RAW file of an unknown version"),
        (b"V3RD" + bytes(100), "truncated Philips V3RD file: needs 8 bytes at offset 214"),
        (
            b"V5RD" + bytes(210) + struct.pack("<3d", 0.02, 3.0, 15.0),
            "counts start at offset 810, the file has 238",
        ),
        (b"RAW9" + bytes(100), "of no known version"),
    ],
)
def test_binary_headers_that_claim_too_much(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "h.raw"
    path.write_bytes(content)
    with pytest.raises(PatternFileError, match=rf"h\.raw: .*{message}"):
        read_pattern(path)


@pytest.mark.parametrize(
    ("head", "name", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "scan.xls", r"an OLE2 file \(an old Excel \.xls\?\), .*\.xlsx"),
        (b"\x89HDF\r\n\x1a\n", "scan.nxs", r"an HDF5 file \(NeXus\?\), not a pattern file \(export"),
        (b"\x89PNG\r\n\x1a\n", "plot.png", r"a PNG image, not a pattern file \(give the data"),
        (b"II*\x00", "frame.tif", r"a TIFF image \(a 2-D detector frame\?\), .*integrate it"),
        (b"%PDF-1.4\n", "report.pdf", r"a PDF document, not a pattern file"),
    ],
)
def test_other_binary_files_are_named(tmp_path: Path, head: bytes, name: str, message: str) -> None:
    """What people hand over instead of a pattern file is named, with what to do instead."""
    path = tmp_path / name
    path.write_bytes(head + bytes(64))
    with pytest.raises(PatternFileError, match=message):
        read_pattern(path)


def test_xml_declaring_an_unknown_encoding(tmp_path: Path) -> None:
    # One flipped byte in the declaration ("TTF-8"): the parser raised LookupError, not PatternFileError.
    xrdml = (Path(__file__).parent / "data" / "patterns" / "quartz.xrdml").read_bytes()
    path = tmp_path / "flipped.xrdml"
    path.write_bytes(xrdml.replace(b"UTF-8", b"TTF-8", 1))
    with pytest.raises(PatternFileError, match=r"flipped\.xrdml: XML in an unknown encoding: TTF-8"):
        read_pattern(path)
