"""Spreadsheets (.xlsx, Office Open XML): each worksheet is read as the table it shows, by the column rules of
text files (:mod:`._pattern_text`): a header row may label the columns, the rows of numbers are the data,
and "line N" in a message is the sheet's row N.

Only what a pattern needs is read from the archive: the workbook's sheet order and names
(``xl/workbook.xml`` and its relationships), the shared strings and each sheet's cells. Formulas are read as
the values the spreadsheet stored with them; styles, dates and charts are not interpreted.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile

from ._pattern_base import PatternFileError, Ranges, annotated
from ._pattern_text import read_text
from ._pattern_xml import open_zip, parse_xml, read_member

WORKBOOK = "xl/workbook.xml"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_DOCUMENT_RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PACKAGE = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL = re.compile(r"([A-Z]+)(\d+)$")
# Beyond this many columns a sheet is not a pattern table (and a stray cell at XFD1 costs nothing); empty
# rows are filled in up to this row number only.
_MAX_COLUMNS = 256
_MAX_ROWS = 2**18


def read_xlsx(source: str, data: bytes, format: str) -> Ranges:
    """Every worksheet, in the workbook's order, read as a text table; a sheet without a pattern is an
    entry saying why (so that ``read_pattern`` goes on to the next)."""
    del format
    ranges: Ranges = []
    with open_zip(source, data) as archive:
        names = set(archive.namelist())
        strings = (
            _shared_strings(source, read_member(source, archive, "xl/sharedStrings.xml"))
            if ("xl/sharedStrings.xml" in names)
            else []
        )
        for sheet, member in _sheets(source, archive, names):
            rows = _cells(source, read_member(source, archive, member), strings, sheet)
            text = "\n".join("\t".join(row) for row in rows)
            try:
                found = read_text(source, text.encode("utf-8"), "xy")
            except PatternFileError as exc:
                found = [
                    PatternFileError(f"{source}: sheet {sheet!r}: {str(exc).removeprefix(source + ': ')}")
                ]
            ranges += annotated(found, {"sheet": sheet}, format="xlsx")
    return ranges


def _sheets(source: str, archive: zipfile.ZipFile, names: set[str]) -> list[tuple[str, str]]:
    """(name, member) of every worksheet in the workbook's order."""
    workbook = parse_xml(source, read_member(source, archive, WORKBOOK), WORKBOOK)
    targets: dict[str, str] = {}
    relations = "xl/_rels/workbook.xml.rels"
    if relations in names:
        for rel in parse_xml(source, read_member(source, archive, relations), relations).iter(
            f"{_PACKAGE}Relationship"
        ):
            target = rel.get("Target", "")
            # Targets are relative to xl/ (or absolute from the package root).
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
            targets[rel.get("Id", "")] = path
    sheets = []
    for index, sheet in enumerate(workbook.iter(f"{_MAIN}sheet"), start=1):
        member = targets.get(sheet.get(_DOCUMENT_RELATIONSHIP, ""), f"xl/worksheets/sheet{index}.xml")
        if member in names:
            sheets.append((sheet.get("name", f"sheet {index}"), member))
    if not sheets:
        raise PatternFileError(f"{source}: a spreadsheet (.xlsx) without worksheets")
    return sheets


def _shared_strings(source: str, data: bytes) -> list[str]:
    root = parse_xml(source, data, "xl/sharedStrings.xml")
    return ["".join(t.text or "" for t in item.iter(f"{_MAIN}t")) for item in root.iter(f"{_MAIN}si")]


def _column(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _cells(source: str, data: bytes, strings: list[str], sheet: str) -> list[list[str]]:
    """The sheet's rows as lists of cell texts (numbers as stored, strings without tabs or line breaks),
    from the first column that holds anything; an empty cell between filled ones is "nan", so that a row
    with a gap keeps its columns in place (and a gap in 2θ or the intensity is refused, not shifted)."""
    root = parse_xml(source, data, f"sheet {sheet}")
    table: list[dict[int, str]] = []
    for row in root.iter(f"{_MAIN}row"):
        # Empty rows are left out of the file: keep the sheet's row numbers as line numbers of the table.
        number = row.get("r", "")
        while number.isdigit() and len(table) < min(int(number) - 1, _MAX_ROWS):
            table.append({})
        cells: dict[int, str] = {}
        for position, cell in enumerate(row.iter(f"{_MAIN}c")):
            match = _CELL.match(cell.get("r", ""))
            column = _column(match.group(1)) if match else position
            text = re.sub(r"\s+", " ", _text(cell, strings, source, sheet)).strip()
            if column < _MAX_COLUMNS and text:
                cells[column] = text
        table.append(cells)
    first = min((min(cells) for cells in table if cells), default=0)
    return [[cells.get(i, "nan") for i in range(first, max(cells) + 1)] if cells else [] for cells in table]


def _text(cell: ET.Element, strings: list[str], source: str, sheet: str) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{_MAIN}t"))
    value = cell.find(f"{_MAIN}v")
    text = "" if value is None or value.text is None else value.text
    if kind == "s":
        try:
            return strings[int(text)]
        except (ValueError, IndexError):
            raise PatternFileError(
                f"{source}: sheet {sheet!r}: cell {cell.get('r', '?')} names shared string {text!r}, which "
                "the workbook does not hold"
            ) from None
    if kind == "b":
        return "TRUE" if text == "1" else "FALSE"
    return text
