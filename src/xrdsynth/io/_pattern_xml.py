"""XML instrument formats: PANalytical .xrdml, and the zip archives Bruker .brml and Rigaku .rasx.

Zip members are read with a size cap (a file that inflates beyond it is refused, so a crafted archive cannot
exhaust memory); XML is parsed by the standard library's expat, which does not fetch external entities and
limits entity expansion. The rules are written in :func:`xrdsynth.io.read_pattern`.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from ._pattern_base import (
    COMPRESSED_SUFFIXES,
    UNIT_TO_ANGSTROM,
    MeasuredPattern,
    PatternFileError,
    Ranges,
    build,
    is_two_theta_axis,
    positive_float,
    radiation,
)

XRDML_NAMESPACE = "http://www.xrdml.com/XRDMeasurement/"
# A local file header; an empty archive starts with its end record.
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# Largest member read from a zip archive (bytes once inflated); real RawData/Profile members are < 20 MB.
MAX_MEMBER_BYTES = 64 * 2**20
_BRML_RAW = re.compile(r"(?:^|/)RawData(\d*)\.xml$", re.IGNORECASE)
_RASX_PROFILE = re.compile(r"(?:^|/)Data(\d+)/Profile(\d+)\.txt$", re.IGNORECASE)
_RASX_CONDITIONS = re.compile(r"(?:^|/)Data(\d+)/Mea?surementConditions(\d+)\.xml$", re.IGNORECASE)
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def parse_xml(source: str, data: bytes, what: str = "") -> ET.Element:
    where = f" ({what})" if what else ""
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise PatternFileError(f"{source}: not well-formed XML{where}: {exc}") from None
    except LookupError as exc:  # the declaration names an encoding Python does not know
        raise PatternFileError(f"{source}: XML{where} in an {exc}") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((child for child in element if _local(child.tag) == name), None)


def _descendants(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (e for e in element.iter() if _local(e.tag) == name)


def _first(element: ET.Element, name: str) -> ET.Element | None:
    return next(_descendants(element, name), None)


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


# ---------------------------------------------------------------------------------------------------------
# PANalytical XRDML


def _floats(source: str, element: ET.Element, what: str) -> npt.NDArray[np.float64]:
    try:
        return np.array([float(t) for t in (element.text or "").split()], dtype=np.float64)
    except ValueError as exc:
        raise PatternFileError(f"{source}: <{what}> holds a non-number ({exc})") from None


def read_xrdml(source: str, data: bytes, format: str) -> Ranges:
    """Every ``<scan>`` of every ``<xrdMeasurement>``, in file order."""
    root = parse_xml(source, data)
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    if not namespace.startswith(XRDML_NAMESPACE):
        raise PatternFileError(
            f"{source}: not an XRDML file (root <{root.tag}>, expected namespace {XRDML_NAMESPACE}<version>)"
        )

    def q(path: str) -> str:
        return "/".join(f"{{{namespace}}}{part}" for part in path.split("/"))

    measurements = root.findall(q("xrdMeasurement"))
    if not measurements:
        raise PatternFileError(f"{source}: no <xrdMeasurement>")
    sample = root.find(q("sample"))
    entries = [e.text.strip() for e in root.findall(q("comment/entry")) if e.text and e.text.strip()]
    ranges: Ranges = []
    for measurement in measurements:
        scans = measurement.findall(q("scan"))
        fields = _xrdml_radiation(source, measurement.find(q("usedWavelength")))
        kind = measurement.get("measurementType", "")
        used = measurement.find(q("usedWavelength"))
        tube = measurement.find(q("incidentBeamPath/xRayTube"))
        slit = measurement.find(q("incidentBeamPath/divergenceSlit"))
        common = {
            "sample": _text(sample.find(q("name")) if sample is not None else None)
            or _text(sample.find(q("id")) if sample is not None else None),
            "sample_id": _text(sample.find(q("id")) if sample is not None else None),
            "anode": _text(tube.find(q("anodeMaterial")) if tube is not None else None),
            "tube_kv": _text(tube.find(q("tension")) if tube is not None else None),
            "tube_ma": _text(tube.find(q("current")) if tube is not None else None),
            "intended_wavelength": "" if used is None else used.get("intended", ""),
            "comment": "\n".join(entries),
            "measurement_type": kind,
            "divergence_slit": _xrdml_divergence_slit(slit, q),
        }
        if kind.lower().startswith("area") and len(scans) > 1:
            # A map (a reciprocal-space map, or 2θ lines at stepped tilts): each scan is a 2θ line of it,
            # read as a range, but the file is no powder pattern of one sample state.
            step_axis = measurement.get("measurementStepAxis", "")
            common["note"] = (
                f"one of {len(scans)} 2θ lines of an area measurement"
                + (f" in steps of {step_axis}" if step_axis else "")
                + " (a map, not one powder scan)"
            )
        for scan in scans:
            try:
                ranges.append(_xrdml_scan(source, scan, q, fields, common))
            except PatternFileError as error:
                ranges.append(error)
    if not ranges:
        raise PatternFileError(f"{source}: no <scan> in the <xrdMeasurement>")
    return ranges


_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _xrdml_divergence_slit(slit: ET.Element | None, q: Callable[[str], str]) -> str:
    """The incident beam's divergence slit as ``metadata["divergence_slit"]``: ``"automatic (irradiated length
    L mm)"`` for an automatic slit (``xsi:type`` automaticDivergenceSlitType, or a slit of another type than a
    fixed one that states an irradiated length: it opens with the angle to keep that length, so the counts
    grow as sin θ against a fixed slit's, as Profex reads these files), ``"fixed"`` for a fixed one, else
    empty."""
    if slit is None:
        return ""
    kind = slit.get(_XSI_TYPE, "").lower()
    length = _text(slit.find(q("irradiatedLength")))
    if "automatic" in kind or ("fixed" not in kind and length):
        return f"automatic (irradiated length {length} mm)" if length else "automatic"
    return "fixed" if "fixed" in kind else ""


def _xrdml_radiation(source: str, used: ET.Element | None) -> dict[str, float]:
    if used is None:
        return {}
    values: dict[str, float | None] = {}
    for key, tag in (("ka1", "kAlpha1"), ("ka2", "kAlpha2"), ("ratio", "ratioKAlpha2KAlpha1")):
        element = _child(used, tag)
        if element is None:
            values[key] = None
            continue
        try:
            value = float(_text(element))
        except ValueError:
            raise PatternFileError(f"{source}: <{tag}> is not a number: {element.text!r}") from None
        if not (value >= 0 and np.isfinite(value)) or (key != "ratio" and value == 0):
            raise PatternFileError(
                f"{source}: <{tag}> must be {'>= 0' if key == 'ratio' else '> 0'}: {value}"
            )
        unit = (element.get("unit") or "").lower()
        if key != "ratio" and unit in UNIT_TO_ANGSTROM:
            value *= UNIT_TO_ANGSTROM[unit]
        values[key] = value
    return radiation(values["ka1"], values["ka2"], values["ratio"])


def _xrdml_scan(
    source: str, scan: ET.Element, q: Callable[[str], str], fields: dict[str, float], common: dict[str, str]
) -> MeasuredPattern:
    points = scan.find(q("dataPoints"))
    if points is None:
        raise PatternFileError(f"{source}: a <scan> has no <dataPoints>")
    values_element = points.find(q("intensities"))
    raw_counts = values_element is None
    if raw_counts:
        values_element = points.find(q("counts"))
    if values_element is None:
        raise PatternFileError(f"{source}: a <scan> has neither <intensities> nor <counts>")
    intensity = _floats(source, values_element, "intensities" if not raw_counts else "counts")
    n = intensity.shape[0]
    if n < 2:
        raise PatternFileError(f"{source}: {n} data point(s); a pattern needs at least 2")

    positions = next((p for p in points.findall(q("positions")) if p.get("axis") == "2Theta"), None)
    if positions is None:
        raise PatternFileError(f'{source}: no <positions axis="2Theta"> in the scan')
    start, end = positions.find(q("startPosition")), positions.find(q("endPosition"))
    listed = positions.find(q("listPositions"))
    if listed is not None:
        two_theta = _floats(source, listed, "listPositions")
        if two_theta.shape[0] != n:
            raise PatternFileError(f"{source}: {two_theta.shape[0]} <listPositions> for {n} intensities")
    elif start is not None and end is not None:
        first, last = _floats(source, start, "startPosition"), _floats(source, end, "endPosition")
        if first.shape != (1,) or last.shape != (1,):
            raise PatternFileError(f"{source}: <startPosition>/<endPosition> must hold one number each")
        two_theta = np.linspace(first[0], last[0], n)
    elif positions.find(q("commonPosition")) is not None:
        axis = scan.get("scanAxis", "")
        raise PatternFileError(
            f"{source}: 2θ is fixed (<commonPosition>) in a {axis or 'non-2θ'} scan: not a 2θ scan"
        )
    else:
        raise PatternFileError(f"{source}: the 2Theta <positions> give no start/end or list")

    if raw_counts:
        factors = points.find(q("beamAttenuationFactors"))
        common_factor = points.find(q("commonBeamAttenuationFactor"))
        if factors is not None:
            factor = _floats(source, factors, "beamAttenuationFactors")
            if factor.shape[0] not in (1, n):
                raise PatternFileError(f"{source}: {factor.shape[0]} beamAttenuationFactors for {n} counts")
            intensity = intensity * factor
        elif common_factor is not None:
            factor = _floats(source, common_factor, "commonBeamAttenuationFactor")
            if factor.shape[0] != 1:
                raise PatternFileError(f"{source}: <commonBeamAttenuationFactor> must hold one number")
            intensity = intensity * factor[0]

    counting = points.find(q("commonCountingTime"))
    metadata = {
        **common,
        "date": _text(scan.find(q("header/startTimeStamp"))),
        "scan_axis": scan.get("scanAxis", ""),
        "scan_type": scan.get("scanAxis", ""),
        "scan_mode": scan.get("mode", ""),
        "counting_time_s": _text(counting),
        "intensity_unit": values_element.get("unit", ""),
    }

    def where(i: int) -> str:
        return f"point {i + 1}"

    return build(
        source, where, two_theta=two_theta, intensity=intensity, format="xrdml", metadata=metadata, **fields
    )


# ---------------------------------------------------------------------------------------------------------
# Zip archives


def open_zip(source: str, data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        ValueError,
        EOFError,
        OSError,
    ) as exc:
        # NotImplementedError: a damaged header that claims a zip version or method Python does not read.
        raise PatternFileError(f"{source}: a damaged zip archive ({exc})") from None


def read_member(source: str, archive: zipfile.ZipFile, name: str) -> bytes:
    """One member, inflated, refused beyond MAX_MEMBER_BYTES whatever its header claims."""
    try:
        info = archive.getinfo(name)
        if info.file_size > MAX_MEMBER_BYTES:
            raise PatternFileError(
                f"{source}: zip member {name} is {info.file_size} bytes, more than the {MAX_MEMBER_BYTES} "
                "read from an archive"
            )
        with archive.open(info) as member:
            content = member.read(MAX_MEMBER_BYTES + 1)
    except PatternFileError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        RuntimeError,
        NotImplementedError,
        EOFError,
        OSError,
        ValueError,
    ) as exc:
        raise PatternFileError(f"{source}: cannot read zip member {name}: {exc}") from None
    if len(content) > MAX_MEMBER_BYTES:
        raise PatternFileError(f"{source}: zip member {name} inflates beyond {MAX_MEMBER_BYTES} bytes")
    return content


# Members of a plain zip read as pattern files: their suffixes (after a compression's), the macOS resource
# forks left out.
PATTERN_SUFFIXES = (
    ".xy", ".xye", ".csv", ".txt", ".dat", ".prn", ".chi", ".xrdml", ".raw", ".brml", ".rasx", ".ras",
    ".asc", ".uxd", ".gsa", ".gss", ".gsas", ".gda", ".fxye", ".xra", ".cif", ".mdi", ".udf", ".cpi", ".xlsx",
)  # fmt: skip


def is_pattern_member(name: str) -> bool:
    base = name.rsplit("/", 1)[-1].lower()
    for compressed in COMPRESSED_SUFFIXES:
        base = base.removesuffix(compressed)
    return (
        not name.endswith("/")
        and not name.startswith("__MACOSX/")
        and not base.startswith("._")
        and base.endswith(PATTERN_SUFFIXES)
    )


def zip_format(source: str, data: bytes) -> str:
    """ "brml", "rasx" or "xlsx" from the member names, "zip" for an archive of pattern files (by their
    suffixes); any other archive is refused, naming what it holds."""
    with open_zip(source, data) as archive:
        names = archive.namelist()
    if any(_BRML_RAW.search(n) for n in names):
        return "brml"
    if any(_RASX_PROFILE.search(n) for n in names):
        return "rasx"
    if "xl/workbook.xml" in names:
        return "xlsx"  # a spreadsheet (Office Open XML), as labs export patterns too
    if any(is_pattern_member(n) for n in names):
        return "zip"  # pattern files zipped together: each is read as it is
    shown = ", ".join(names[:6]) + (f", ... ({len(names)} members)" if len(names) > 6 else "")
    raise PatternFileError(
        f"{source}: a zip archive that is not a diffractometer file (no Experiment*/RawData*.xml as in a "
        f"Bruker .brml, no Data*/Profile*.txt as in a Rigaku .rasx, no xl/workbook.xml as in a spreadsheet, "
        f"no pattern files); it holds: {shown or 'nothing'}"
    )


# ---------------------------------------------------------------------------------------------------------
# Bruker .brml (DIFFRAC.SUITE)


def read_brml(source: str, data: bytes, format: str) -> Ranges:
    """Every measured data route of every ``Experiment*/RawData*.xml``, in the order of their numbers."""
    with open_zip(source, data) as archive:
        names = archive.namelist()
        raw_names = sorted(
            (n for n in names if _BRML_RAW.search(n)),
            key=lambda n: (n.rpartition("/")[0], int(_BRML_RAW.search(n).group(1) or 0)),  # type: ignore[union-attr]
        )
        if not raw_names:
            raise PatternFileError(f"{source}: a .brml archive without Experiment*/RawData*.xml")
        sample = ""
        container = next((n for n in names if n.lower().endswith("datacontainer.xml")), None)
        if container is not None:
            info = _first(
                parse_xml(source, read_member(source, archive, container), container), "MeasurementInfo"
            )
            sample = "" if info is None else info.get("SampleName", "")
        ranges: Ranges = []
        for name in raw_names:
            root = parse_xml(source, read_member(source, archive, name), name)
            routes = list(_descendants(root, "DataRoute"))
            measured = [r for r in routes if r.get("RouteFlag", "").lower() == "measured"] or routes[:1]
            if not measured:
                ranges.append(PatternFileError(f"{source}: {name}: no <DataRoute>"))
            for route in measured:
                try:
                    ranges.append(_brml_route(source, name, root, route, sample))
                except PatternFileError as error:
                    ranges.append(error)
    return ranges


def _value(element: ET.Element | None) -> str:
    return "" if element is None else element.get("Value", "")


def _brml_radiation(root: ET.Element) -> dict[str, float]:
    def length(name: str) -> float | None:
        element = _first(root, name)
        value = positive_float(_value(element))
        unit = ("" if element is None else element.get("Unit", "")).lower()
        return None if value is None else value * UNIT_TO_ANGSTROM.get(unit, 1.0)

    ratio = _first(root, "WaveLengthRatio")
    try:
        ratio_value = float(_value(ratio)) if ratio is not None else None
    except ValueError:
        ratio_value = None
    return radiation(length("WaveLengthAlpha1"), length("WaveLengthAlpha2"), ratio_value)


def _brml_columns(route: ET.Element, axes: list[str]) -> tuple[int, int | None]:
    """(2θ column, count column) of a Datum row, from the DataViews, else from the order of the scan axes."""
    two_theta: int | None = None
    counts: int | None = None
    views = _child(route, "DataViews")
    for view in [] if views is None else _children(views, "RawDataView"):
        try:
            start = int(view.get("Start", ""))
        except ValueError:
            continue
        kind = view.get(_XSI_TYPE, "")
        if kind.endswith("RecordedRawDataView") and counts is None:
            counts = start
        fields = [f for f in view.iter() if _local(f.tag) == "FieldDefinitions"]
        for offset, definition in enumerate(fields):
            if (definition.get("AxisId") or definition.get("FieldName") or "").lower() == "twotheta":
                two_theta = start + offset
    if two_theta is None:
        # Without views: time, absorption factor, then the scan axes in order, then the counts (last).
        two_theta = 2 + [a.lower() for a in axes].index("twotheta")
    return two_theta, counts


def _brml_route(source: str, name: str, root: ET.Element, route: ET.Element, sample: str) -> MeasuredPattern:
    here = f"{name}"
    info = _child(route, "ScanInformation")
    if info is None:
        raise PatternFileError(f"{source}: {here}: no <ScanInformation>")
    scan_name = info.get("VisibleName", "").strip() or info.get("ScanName", "")
    axes_element = _child(info, "ScanAxes")
    axis_infos = [] if axes_element is None else _children(axes_element, "ScanAxisInfo")
    axes = [a.get("AxisId", "") for a in axis_infos]
    if "twotheta" not in (a.lower() for a in axes):
        raise PatternFileError(
            f"{source}: {here}: 2θ is not a scan axis of {scan_name!r} (axes: {', '.join(axes) or 'none'}): "
            "not a 2θ scan"
        )
    rows = [_text(d) for d in _children(route, "Datum")]
    if len(rows) < 2:
        raise PatternFileError(f"{source}: {here}: {len(rows)} <Datum> row(s); a pattern needs at least 2")
    try:
        table = np.array([r.split(",") for r in rows], dtype=np.float64)
    except ValueError:
        widths = {len(r.split(",")) for r in rows}
        problem = "rows of different lengths" if len(widths) > 1 else "a non-number"
        raise PatternFileError(f"{source}: {here}: <Datum> rows hold {problem}") from None
    two_theta_column, counts_column = _brml_columns(route, axes)
    counts_column = table.shape[1] - 1 if counts_column is None else counts_column
    if max(two_theta_column, counts_column) >= table.shape[1]:
        raise PatternFileError(
            f"{source}: {here}: <Datum> rows have {table.shape[1]} values, the data views name column "
            f"{max(two_theta_column, counts_column) + 1}"
        )
    two_theta, intensity = table[:, two_theta_column], table[:, counts_column]
    axis_info = axis_infos[[a.lower() for a in axes].index("twotheta")]
    unit = axis_info.get("Unit", "°")
    if unit not in ("°", "deg", "Degree", ""):
        raise PatternFileError(f"{source}: {here}: 2θ unit {unit!r}, not degrees")
    if np.any(np.diff(two_theta) <= 0):
        # Positions are written with 4 decimals; a fine step can repeat one. Use the stated grid then.
        start, step = (
            positive_float(_text(_child(axis_info, "Start"))),
            positive_float(_text(_child(axis_info, "Increment"))),
        )
        if start is not None and step is not None:
            two_theta = start + step * np.arange(two_theta.shape[0], dtype=np.float64)
    tube = _first(root, "TubeMaterial")
    metadata = {
        "sample": sample,
        "anode": _text(tube),
        "tube_kv": _value(_first(root, "Voltage")),
        "tube_ma": _value(_first(root, "Current")),
        "date": _text(_first(root, "TimeStampStarted")),
        "scan_type": scan_name,
        "scan_mode": _text(_child(info, "ScanMode")),
        "counting_time_s": _text(_child(info, "TimePerStep")),
        "counting_time_effective_s": _text(_child(info, "TimePerStepEffective")),
        "member": name,
    }

    def where(i: int) -> str:
        return f"{here}, <Datum> {i + 1}"

    return build(
        source,
        where,
        two_theta=two_theta,
        intensity=intensity,
        format="brml",
        metadata=metadata,
        **_brml_radiation(root),
    )


# ---------------------------------------------------------------------------------------------------------
# Rigaku .rasx (SmartLab Studio)


def read_rasx(source: str, data: bytes, format: str) -> Ranges:
    """Every ``Data<i>/Profile<j>.txt`` with its ``Data<i>/MesurementConditions<j>.xml``, in order."""
    with open_zip(source, data) as archive:
        names = archive.namelist()
        profiles = sorted(
            ((int(m.group(1)), int(m.group(2)), n) for n in names if (m := _RASX_PROFILE.search(n))),
        )
        conditions = {
            (int(m.group(1)), int(m.group(2))): n for n in names if (m := _RASX_CONDITIONS.search(n))
        }
        ranges: Ranges = []
        for data_index, profile_index, name in profiles:
            text = read_member(source, archive, name)
            conditions_name = conditions.get((data_index, profile_index))
            root = (
                None
                if conditions_name is None
                else parse_xml(source, read_member(source, archive, conditions_name), conditions_name)
            )
            try:
                ranges.append(_rasx_profile(source, name, text, root))
            except PatternFileError as error:
                ranges.append(error)
    if not ranges:
        raise PatternFileError(f"{source}: a .rasx archive without Data*/Profile*.txt")
    return ranges


def _rasx_header(root: ET.Element) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for pair in _descendants(root, "Pair"):
        strings = [_text(s) for s in pair if _local(s.tag) == "string"]
        if len(strings) == 2 and strings[0].startswith("*"):
            pairs[strings[0][1:].upper()] = strings[1]
    return pairs


def _rasx_profile(source: str, name: str, content: bytes, root: ET.Element | None) -> MeasuredPattern:
    text = content.decode("utf-8-sig", errors="replace")
    rows: list[list[float]] = []
    numbers: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append([float(w) for w in line.split()])
        except ValueError:
            raise PatternFileError(f"{source}: {name}: line {number}: not numbers: {line[:40]!r}") from None
        numbers.append(number)
    if not rows:
        raise PatternFileError(f"{source}: {name}: no data")
    width = len(rows[0])
    if width < 2 or any(len(r) != width for r in rows):
        raise PatternFileError(f"{source}: {name}: rows must all hold angle, count and optionally a factor")
    table = np.array(rows, dtype=np.float64)
    # The third column is the attenuator factor: the intensity is count × factor.
    intensity = table[:, 1] * table[:, 2] if width >= 3 else table[:, 1]

    fields: dict[str, float] = {}
    metadata: dict[str, str] = {"member": name}
    if root is not None:
        scan = _first(root, "ScanInformation")
        generator = _first(root, "XrayGenerator")
        general = _first(root, "GeneralInformation")
        header = _rasx_header(root)
        axis = _text(_child(scan, "AxisName")) or header.get("MEAS_SCAN_AXIS_X", "")
        if axis and not is_two_theta_axis(axis):
            raise PatternFileError(f"{source}: {name}: scan axis {axis!r} is not 2θ")
        unit = _text(_child(scan, "PositionUnit")).lower()
        if unit and not unit.startswith("deg"):
            raise PatternFileError(f"{source}: {name}: positions in {unit!r}, not degrees")
        wave_type = (_text(_child(generator, "WaveType")) or header.get("MEAS_COND_XG_WAVE_TYPE", "")).lower()
        ka1 = positive_float(
            _text(_child(generator, "WavelengthKalpha1")) or header.get("HW_XG_WAVE_LENGTH_ALPHA1")
        )
        ka2 = positive_float(
            _text(_child(generator, "WavelengthKalpha2")) or header.get("HW_XG_WAVE_LENGTH_ALPHA2")
        )
        kb = positive_float(
            _text(_child(generator, "WavelengthKbeta")) or header.get("HW_XG_WAVE_LENGTH_BETA")
        )
        fields = radiation(kb) if wave_type == "kb" else radiation(ka1, None if wave_type == "ka1" else ka2)
        speed, step = (
            positive_float(_text(_child(scan, "Speed"))),
            positive_float(_text(_child(scan, "Step"))),
        )
        speed_unit = _text(_child(scan, "SpeedUnit")).lower()
        counting = ""
        if speed is not None and speed_unit.startswith("sec"):
            counting = f"{speed:g}"
        elif speed is not None and step is not None and speed_unit.endswith("/min"):
            counting = f"{step * 60.0 / speed:g}"
        metadata.update(
            sample=_text(_child(general, "SampleName")),
            comment=_text(_child(general, "Comment")),
            anode=_text(_child(generator, "TargetName")),
            tube_kv=_text(_child(generator, "Voltage")),
            tube_ma=_text(_child(generator, "Current")),
            date=_text(_child(scan, "StartTime")),
            scan_type=axis,
            scan_mode=_text(_child(scan, "Mode")),
            counting_time_s=counting,
            intensity_unit=_text(_child(scan, "IntensityUnit")),
            wave_type=wave_type,
        )

    def where(i: int) -> str:
        return f"{name}, line {numbers[i]}"

    return build(
        source, where, two_theta=table[:, 0], intensity=intensity, format="rasx", metadata=metadata, **fields
    )
