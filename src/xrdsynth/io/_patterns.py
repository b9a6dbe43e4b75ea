"""Reading measured powder patterns: :func:`read_pattern` and :func:`read_all_patterns` pick the reader from
the content (magic bytes, XML root, zip members, text markers), run it, and number the ranges.

The readers live in private modules by family: ``_pattern_text`` (columns, RRUFF, start/step lists),
``_pattern_vendor_text`` (GSAS, UXD, Rigaku .ras/.asc), ``_pattern_bruker_raw`` (Bruker RAW v1-v4),
``_pattern_stoe`` (STOE RAW), ``_pattern_philips`` (Philips PC-APD .rd/.sd),
``_pattern_xml`` (.xrdml, .brml, .rasx) and ``_pattern_cif`` (powder CIF). Each returns one entry per range
of the file: a :class:`MeasuredPattern`, or the :class:`PatternFileError` that says why that range is not a
2θ pattern.
"""

from __future__ import annotations

import bz2
import dataclasses
import lzma
import math
import numbers
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from ._pattern_base import (
    WAVELENGTH_RANGE,
    MeasuredPattern,
    MissingPatternFile,
    PatternFileError,
    Ranges,
    annotated,
)
from ._pattern_bruker_raw import read_raw, version
from ._pattern_cif import is_pdcif, is_structure_cif, read_pdcif
from ._pattern_gsas import is_gsas, read_gsas
from ._pattern_philips import is_philips_rd, read_philips_rd
from ._pattern_spec import is_spec, read_spec
from ._pattern_stoe import is_stoe_raw, read_stoe_raw
from ._pattern_text import GIVEN_WAVELENGTH, decode, read_text, text_format
from ._pattern_vendor_text import (
    is_asc,
    is_cpi,
    is_ill_numors,
    is_ras,
    is_rigaku_raw,
    is_udf,
    is_uxd,
    read_asc,
    read_cpi,
    read_ill_numors,
    read_ras,
    read_rigaku_raw,
    read_udf,
    read_uxd,
)
from ._pattern_xlsx import read_xlsx
from ._pattern_xml import (
    XRDML_NAMESPACE,
    ZIP_MAGICS,
    is_pattern_member,
    open_zip,
    read_brml,
    read_member,
    read_rasx,
    read_xrdml,
    zip_format,
)

__all__ = ["MeasuredPattern", "PatternFileError", "read_all_patterns", "read_pattern"]

FORMATS = (
    "xy", "xye", "csv", "rruff", "steps",  # text
    "xrdml", "raw", "brml", "rasx",  # PANalytical, Bruker, Rigaku
    "ras", "asc", "gsas", "uxd", "cpi", "udf",  # instrument text
    "cif",  # powder CIF
    "rigaku_raw",  # Rigaku's older text-like .RAW
    "stoe_raw",  # STOE WinXPOW .raw
    "philips_rd",  # Philips PC-APD .rd/.sd
    "ill_d1b",  # ILL D1B numors (neutrons)
    "spec",  # SPEC data files (scans of a diffractometer SPEC drives)
    "xlsx",  # spreadsheets
    "zip",  # an archive of pattern files
)  # fmt: skip
"""The values of :attr:`MeasuredPattern.format` (and of ``read_pattern(format=...)``)."""

#: Files larger than this (bytes) are refused before they are read: no diffractometer writes one, and
#: parsing one would take memory in proportion.
MAX_FILE_BYTES = 32 * 2**20
_SNIFF_BYTES = 4096
_INTERNAL = "internal reader error"


def _vendor_text(
    reader: Callable[[str, str], Ranges], legacy: tuple[str, ...] = ()
) -> Callable[[str, bytes, str], Ranges]:
    def read(source: str, data: bytes, format: str) -> Ranges:
        return reader(source, decode(source, data, legacy))

    return read


# Rigaku's software writes its text files in Shift-JIS where they are not ASCII (Japanese sample names).
_RIGAKU = ("cp932",)


_READERS: dict[str, Callable[[str, bytes, str], Ranges]] = {
    "xrdml": read_xrdml,
    "raw": read_raw,
    "brml": read_brml,
    "rasx": read_rasx,
    "ras": _vendor_text(read_ras, _RIGAKU),
    "asc": _vendor_text(read_asc, _RIGAKU),
    "gsas": _vendor_text(read_gsas),
    "uxd": _vendor_text(read_uxd),
    "cpi": _vendor_text(read_cpi),
    "udf": _vendor_text(read_udf),
    "ill_d1b": _vendor_text(read_ill_numors),
    "cif": _vendor_text(read_pdcif),
    "rigaku_raw": read_rigaku_raw,
    "stoe_raw": read_stoe_raw,
    "philips_rd": read_philips_rd,
    "xlsx": read_xlsx,
    "spec": read_spec,
}  # and "zip": _read_zip, below (it reads each member through this table)


def read_pattern(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    scan: int | None = None,
    wavelength: float | None = None,
) -> MeasuredPattern:
    """Read a measured powder pattern (one scan) from the file a diffractometer or its software wrote.

    The reader is picked from the content (see ``format``); the rules of each format are in the "Pattern
    files" page of the documentation. Every result has 2θ in degrees, strictly increasing (a scan written
    from high to low angle is reversed): a file whose x is not 2θ in degrees is converted when the file says
    what it is and the conversion is certain (centidegrees, radians, Q or d with a stated wavelength), and
    refused with the reason otherwise (time of flight, energy-dispersive, channels, Q or d without a
    wavelength, an x above 180°).

    Args:
        path: the file.
        format: None (default) picks the reader from the content (of a gzip, bzip2 or xz file: of what it
            holds, ``metadata["compression"]`` naming the compression): a zip holding ``RawData*.xml`` is
            ``"brml"`` (Bruker DIFFRAC.SUITE), one holding ``Data*/Profile*.txt`` is ``"rasx"`` (Rigaku
            SmartLab); the magics ``RAW ``, ``RAW2``, ``RAW1.01`` and ``RAW4.00`` are ``"raw"`` (Bruker RAW
            v1-v4), ``RAW_1.06Powdat`` is ``"stoe_raw"`` (STOE WinXPOW), ``V3RD`` and ``V5RD`` are
            ``"philips_rd"`` (Philips PC-APD .rd/.sd), a first field ``.RAW`` is ``"rigaku_raw"`` (Rigaku's
            older text-like .RAW); XML in the
            XRDML namespace is ``"xrdml"`` (PANalytical); text starting with
            ``*RAS_DATA_START`` is ``"ras"``, with ``*TYPE = ...`` keys ``"asc"`` (Rigaku), with ``_KEY=``
            lines ``"uxd"`` (Bruker/Siemens), a title then ``BANK`` lines ``"gsas"``, ``##KEY=value``
            headers ``"rruff"``, ``SIETRONICS XRD SCAN`` ``"cpi"``, ``SampleIdent`` ``"udf"`` (Philips), a
            count then a dated title line and a ``k numor`` line ``"ill_d1b"`` (ILL D1B neutron numors),
            ``#S n`` scan lines with ``#L`` column labels ``"spec"`` (SPEC data files, one range per scan), a
            CIF with the powder dictionary's ``_pd_`` tags ``"cif"`` (pdCIF; a CIF of a structure alone is
            refused, pointing to :meth:`xrdsynth.Crystal.from_cif`), a
            ``n step start [λ]`` line over n counts, a ``start step stop`` line (or Jade's .mdi line)
            over the counts of that grid, or counts under ``Start: ...``, ``Step: ...`` header lines,
            ``"steps"``; a zip holding ``xl/workbook.xml`` is ``"xlsx"`` (a
            spreadsheet: each worksheet read as text columns), any other zip of files named like pattern
            files ``"zip"`` (each member read as the file it is); other text is columns: ``"xye"`` when it has
            a σ column, ``"csv"`` for a .csv file, ``"xy"`` otherwise (x and intensity are the first two
            columns, unless a header line labels every column and names them; several intensity columns
            of one kind are one range each). Give one of these names to force a reader (``"xye"`` takes
            the third column as σ).
        scan: which range (scan, bank, block) of the file, 0 for the first; None (default) reads the first
            range that is a 2θ scan (a rocking curve before it is skipped). Ranges are never stitched; see
            :func:`read_all_patterns` and ``metadata["ranges"]``.
        wavelength: the wavelength (Å) of a measurement whose file states none: it converts an x axis of Q
            or d to 2θ, and becomes the pattern's ``wavelength`` (``metadata["wavelength_from"]`` says it was
            given). A wavelength the file states (or its d column implies) wins. None (default): none.

    Returns:
        The pattern; ``format`` says which reader was used and ``metadata`` holds what else the file says
        (keys listed in :class:`MeasuredPattern`, plus format-specific ones: RAW ``"raw_version"``,
        ``"time_per_step"`` (as stored, unit not documented), ``"used_wavelength"``; STOE
        ``"stoe_version"``, ``"operator"``, ``"scan_start"``, ``"scan_end"`` (times); Philips
        ``"philips_version"``, ``"diffractometer"``, ``"focus"``, ``"file_name"``, ``"step"``; ILL
        ``"numor"``, ``"omega"``, ``"chi"``, ``"phi"``, ``"title"``, ``"probe"``; SPEC ``"scan_number"``,
        ``"scan_command"``; XRDML ``"measurement_type"`` (each 2θ line of an area measurement, a map, says so
        in ``"note"``); text
        ``"header"``, ``"ignored_columns"``, ``"columns"`` (the labels read), ``"wavelength_from"`` (a d or Q
        column);
        RRUFF every ``##`` key as written; ...).

    Raises:
        PatternFileError: no such file (also a FileNotFoundError), an empty, damaged, truncated or
            unknown file, a file over 32 MiB, no range that is a 2θ scan, an x axis that is not 2θ and
            cannot be converted, non-finite values, fewer than 2 points. The message names the file and the
            line, range or byte offset where it can, and says what is wrong.
        ValueError: an unknown ``format``, or a ``wavelength`` that is no X-ray or neutron wavelength.
    """
    source, ranges = _read_ranges(path, format, wavelength)
    if scan is not None:
        if isinstance(scan, bool) or not isinstance(scan, int) or not 0 <= scan < len(ranges):
            raise PatternFileError(
                f"{source}: scan {scan!r} asked; the file holds {len(ranges)} (0-{len(ranges) - 1})"
            )
        chosen = ranges[scan]
        if isinstance(chosen, PatternFileError):
            raise chosen
        return chosen
    first = next((r for r in ranges if isinstance(r, MeasuredPattern)), None)
    if first is None:
        raise _no_pattern(source, ranges)
    return first


def read_all_patterns(
    path: str | os.PathLike[str], format: str | None = None, *, wavelength: float | None = None
) -> list[MeasuredPattern]:
    """Every range of the file that is a 2θ pattern, in file order (see :func:`read_pattern`, also for
    ``wavelength``).

    Each carries ``metadata["range"]`` (1-based position in the file) and ``metadata["ranges"]`` when the
    file holds more than one; ranges that are not 2θ scans are left out. Raises :class:`PatternFileError`
    when none is, with every range's reason.
    """
    source, ranges = _read_ranges(path, format, wavelength)
    patterns = [r for r in ranges if isinstance(r, MeasuredPattern)]
    if not patterns:
        raise _no_pattern(source, ranges)
    return patterns


def _no_pattern(source: str, ranges: Ranges) -> PatternFileError:
    errors = [r for r in ranges if isinstance(r, PatternFileError)]
    if len(errors) == 1:
        return errors[0]
    prefix = f"{source}: "
    reasons = "; ".join(f"range {i}: {str(e).removeprefix(prefix)}" for i, e in enumerate(ranges, start=1))
    return PatternFileError(f"{source}: none of the {len(ranges)} ranges is a readable 2θ scan ({reasons})")


def _read_ranges(
    path: str | os.PathLike[str], format: str | None, wavelength: float | None = None
) -> tuple[str, Ranges]:
    source = os.fspath(path)
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown pattern format {format!r}; expected one of {', '.join(FORMATS)} or None")
    if wavelength is not None and not (
        isinstance(wavelength, numbers.Real)
        and not isinstance(wavelength, bool)
        and math.isfinite(wavelength)
        and WAVELENGTH_RANGE[0] <= wavelength <= WAVELENGTH_RANGE[1]
    ):
        raise ValueError(
            f"wavelength must be in Å, {WAVELENGTH_RANGE[0]}-{WAVELENGTH_RANGE[1]}, got {wavelength!r}"
        )
    file = Path(source)
    if not file.exists():
        raise MissingPatternFile(f"{source}: no such file")
    try:
        if file.is_dir():
            raise PatternFileError(f"{source}: is a directory, not a pattern file")
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PatternFileError(
                f"{source}: {size / 2**20:.0f} MiB, larger than any pattern file "
                f"({MAX_FILE_BYTES // 2**20} MiB limit); not read"
            )
        data = file.read_bytes()
    except OSError as exc:
        raise PatternFileError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise PatternFileError(f"{source}: empty file")
    ranges = _ranges_of(source, data, format, wavelength=wavelength)
    if wavelength is not None:  # what the file left without a wavelength gets the given one
        ranges = [
            dataclasses.replace(
                r, wavelength=float(wavelength), metadata={**r.metadata, "wavelength_from": GIVEN_WAVELENGTH}
            )
            if isinstance(r, MeasuredPattern) and r.wavelength is None
            else r
            for r in ranges
        ]
    if len(ranges) > 1:
        ranges = [
            dataclasses.replace(r, metadata={**r.metadata, "ranges": str(len(ranges)), "range": str(i)})
            if isinstance(r, MeasuredPattern)
            else r
            for i, r in enumerate(ranges, start=1)
        ]
    return source, ranges


# Compressed files (scan.xrdml.gz, data.xye.bz2, as some programs and archives keep them) by their magic.
_COMPRESSIONS = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


def _decompressed(source: str, data: bytes) -> tuple[bytes, str]:
    """The content of a gzip, bzip2 or xz file (and the compression's name), else the data as they are
    (and ""). The content is bounded like a file (``MAX_FILE_BYTES``), so a compression bomb is refused
    after that much output, not after filling the memory."""
    compression = next((name for magic, name in _COMPRESSIONS.items() if data.startswith(magic)), "")
    if compression == "bzip2" and not data[3:4].isdigit():
        compression = ""  # "BZh" then a block-size digit: text that merely starts with "BZh" is text
    if not compression:
        return data, ""
    limit = MAX_FILE_BYTES + 1
    try:
        if compression == "gzip":
            inflater = zlib.decompressobj(wbits=47)  # 32 + 15: a gzip header, the largest window
            content = inflater.decompress(data, limit)
            complete = inflater.eof
        elif compression == "bzip2":
            decompressor = bz2.BZ2Decompressor()
            content = decompressor.decompress(data, max_length=limit)
            complete = decompressor.eof
        else:
            lzma_decompressor = lzma.LZMADecompressor()
            content = lzma_decompressor.decompress(data, max_length=limit)
            complete = lzma_decompressor.eof
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise PatternFileError(f"{source}: a damaged {compression} file ({exc})") from None
    if len(content) > MAX_FILE_BYTES:
        raise PatternFileError(
            f"{source}: a {compression} file whose content exceeds {MAX_FILE_BYTES // 2**20} MiB, larger "
            "than any pattern file; not read"
        )
    if not complete:
        raise PatternFileError(f"{source}: a truncated {compression} file")
    if not content.strip():
        raise PatternFileError(f"{source}: a {compression} file holding an empty file")
    return content, compression


def _ranges_of(
    source: str, data: bytes, format: str | None, in_archive: bool = False, wavelength: float | None = None
) -> Ranges:
    """The ranges of a file's bytes: decompressed, its format sniffed (unless given), read; any exception a
    reader did not foresee becomes a PatternFileError that names the file."""
    data, compression = _decompressed(source, data)
    try:
        if format is None:
            format = _sniff(source, data)
        if format == "zip" and in_archive:
            raise PatternFileError(f"{source}: an archive inside an archive is not read")
        reader = _READERS.get(format, read_text)
        # Only text columns (also as members of an archive, or as the scans of a SPEC file) may have an x
        # axis of Q or d, which the given wavelength converts; the other readers take none.
        if reader in _TAKES_WAVELENGTH:
            ranges = reader(source, data, format, wavelength)
        else:
            ranges = reader(source, data, format)
    except PatternFileError:
        raise
    except (
        ValueError,
        IndexError,
        KeyError,
        struct.error,
        OverflowError,
        ZeroDivisionError,
        UnicodeError,
        zlib.error,
        zipfile.BadZipFile,
        EOFError,
        NotImplementedError,
    ) as exc:
        # A reader should have named the problem; still, bad input never escapes as another exception.
        raise PatternFileError(
            f"{source}: {_INTERNAL} on a damaged {format} file ({type(exc).__name__}: {exc})"
        ) from exc
    if not ranges:
        raise PatternFileError(f"{source}: no data")
    return annotated(ranges, {"compression": compression}) if compression else ranges


# An archive of more pattern files than this is not read (each member is a file to read).
_MAX_MEMBERS = 1000


def _read_zip(source: str, data: bytes, format: str, wavelength: float | None = None) -> Ranges:
    """An archive of pattern files: every member with a pattern file's suffix, in name order, read as that
    file (with ``wavelength`` as :func:`read_pattern` takes it); its ranges carry ``metadata["member"]`` and
    the archive as their source."""
    del format
    ranges: Ranges = []
    with open_zip(source, data) as archive:
        members = sorted(n for n in archive.namelist() if is_pattern_member(n))
        if len(members) > _MAX_MEMBERS:
            raise PatternFileError(
                f"{source}: an archive of {len(members)} pattern files (at most {_MAX_MEMBERS})"
            )
        for member in members:
            where = f"{source}: {member}"  # messages name the archive, then the member
            try:
                found = _ranges_of(
                    where, read_member(source, archive, member), None, in_archive=True, wavelength=wavelength
                )
            except PatternFileError as exc:
                ranges.append(exc)
                continue
            ranges += annotated(found, {"member": member}, source=source)
    return ranges


_READERS["zip"] = _read_zip
_TAKES_WAVELENGTH = (read_text, read_spec, _read_zip)


def _sniff(source: str, data: bytes) -> str:
    if data.startswith(ZIP_MAGICS):
        return zip_format(source, data)
    if version(data) is not None:
        return "raw"
    if is_stoe_raw(data):
        return "stoe_raw"
    if is_philips_rd(data):
        return "philips_rd"
    if is_rigaku_raw(data):
        return "rigaku_raw"
    if data[:4] == b"RAW1" or data[:3] == b"RAW":
        raise PatternFileError(f"{source}: starts like a Bruker RAW file ({data[:7]!r}) of no known version")
    head = data[:_SNIFF_BYTES]
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<"):
        if XRDML_NAMESPACE.encode() in head or b"www.xrdml.com" in head:
            return "xrdml"
        # Text whose first line is "<Sample> ..." or "<2Theta> <I>" (Shimadzu's exports) is not XML: XML
        # declares itself or closes its elements.
        if start.startswith(b"<?xml") or b"</" in head or b"/>" in head:
            raise PatternFileError(
                f"{source}: an XML file that is not XRDML (no {XRDML_NAMESPACE}... namespace)"
            )
    text = decode(source, data)
    lines = text.splitlines()[:200]
    tests = (
        (is_ras, "ras"),
        (is_asc, "asc"),
        (is_uxd, "uxd"),
        (is_gsas, "gsas"),
        (is_cpi, "cpi"),
        (is_udf, "udf"),
        (is_ill_numors, "ill_d1b"),
    )
    for test, name in tests:
        if test(lines):
            return name
    if is_spec(text):
        return "spec"
    if is_pdcif(lines):
        return "cif"
    if is_structure_cif(lines):
        if "\n_pd_" in text:  # the powder data after a long structure part
            return "cif"
        raise PatternFileError(
            f"{source}: a CIF of a crystal structure without powder data (no _pd_ tags): read it with "
            "xrdsynth.Crystal.from_cif, and simulate its pattern with xrdsynth.PowderSimulator"
        )
    return text_format(source, text)
