"""The measured-pattern type, its error, and what every pattern reader shares.

:class:`MeasuredPattern` holds one scan with 2θ in degrees; :class:`PatternFileError` is what every reader
raises. ``_build`` turns a reader's raw arrays into a pattern (reversing a scan written from high to low
angle, refusing anything that is not a 2θ axis in degrees), so that every format obeys the same rules.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _radiation as bragg
from .._base import float_vector

# Stated wavelengths outside this range (Å) are not taken as X-ray wavelengths.
WAVELENGTH_RANGE = (0.01, 10.0)
UNIT_TO_ANGSTROM = {"nm": 10.0, "pm": 0.01, "a": 1.0, "å": 1.0, "angstrom": 1.0, "m": 1e10}
#: Suffixes of the compressed files read_pattern reads as their content (``scan.xye.gz``): the suffix before
#: them names the file.
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
# 2θ beyond this (degrees) cannot be a scattering angle: the x axis is something else.
MAX_TWO_THETA = 180.0


class PatternFileError(ValueError):
    """A measured pattern file that cannot be read.

    Subclasses :class:`ValueError`. The message starts with the file and, where it helps, the line, range or
    byte offset, e.g. ``"scan.xy: line 12: 3 columns, but the data started with 2"``, and says what is
    wrong. A missing file raises a subclass that is also a :class:`FileNotFoundError`, so ``except OSError``
    catches it as well.
    """


class MissingPatternFile(PatternFileError, FileNotFoundError):
    """The path does not exist (both a PatternFileError and a FileNotFoundError)."""


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class MeasuredPattern:
    """A measured powder pattern (see :func:`xrdsynth.io.read_pattern`).

    Built directly, the arrays are copied to float64 and validated; they are stored read-only. Use
    ``dataclasses.replace(pattern, intensity=...)`` for a modified copy, and :meth:`from_q` or
    :meth:`from_d` for data whose x axis is Q or d.

    Attributes:
        two_theta: (N,) float64 scattering angles 2θ in degrees, strictly increasing, within ±180°, N >= 2.
        intensity: (N,) float64 intensities as the file stores them (counts, counts per second or arbitrary
            units; nothing is normalised).
        sigma: (N,) float64 non-negative standard uncertainties of the intensities (the third column of an
            .xye file, the σ of a GSAS file), or None.
        wavelength: the wavelength in Å the file states (Kα1 for a Kα1/Kα2 doublet), or None.
        wavelength2: Kα2 in Å when the file states a doublet, else None (a file that states a Kα2/Kα1
            ratio of 0, or equal Kα1 and Kα2, measured Kα1 only).
        ratio: intensity ratio Kα2/Kα1 of the doublet when the file states it, else None.
        source: the path the pattern was read from ("" when built in memory).
        format: the reader used (see :func:`xrdsynth.io.read_pattern`; any string when built directly).
        metadata: what else the file says, as strings. Keys shared by the readers where the file has the
            information: ``"sample"``, ``"anode"``, ``"date"``, ``"scan_type"`` (the file's name of the
            scan, e.g. "Locked Coupled", "TwoThetaOmega"), ``"counting_time_s"`` (seconds per step),
            ``"tube_kv"``, ``"tube_ma"``, ``"ranges"`` and ``"range"`` (how many scans the file holds and
            which one this is, 1-based, when it holds more than one), ``"x_axis"`` (what the file's x was
            when it was converted to 2θ). Format-specific keys are described in
            :func:`xrdsynth.io.read_pattern`.

    Equality is identity; compare the arrays.
    """

    two_theta: npt.NDArray[np.float64]
    intensity: npt.NDArray[np.float64]
    sigma: npt.NDArray[np.float64] | None = None
    wavelength: float | None = None
    wavelength2: float | None = None
    ratio: float | None = None
    source: str = ""
    format: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        two_theta = float_vector(self.two_theta, "two_theta")
        n = two_theta.shape[0]
        if n < 2:
            raise ValueError(f"a pattern needs at least 2 points, got {n}")
        steps = np.diff(two_theta)
        if not np.all(steps > 0):
            i = int(np.flatnonzero(steps <= 0)[0])
            raise ValueError(
                f"two_theta must be strictly increasing; point {i + 1} ({two_theta[i + 1]:g}) "
                f"follows {two_theta[i]:g}"
            )
        if two_theta[-1] > MAX_TWO_THETA or two_theta[0] < -MAX_TWO_THETA:
            worst = two_theta[-1] if two_theta[-1] > MAX_TWO_THETA else two_theta[0]
            raise ValueError(f"two_theta must lie within ±180 degrees, got {worst:g}")
        intensity = float_vector(self.intensity, "intensity", n)
        sigma = None
        if self.sigma is not None:
            sigma = float_vector(self.sigma, "sigma", n)
            if np.any(sigma < 0):
                raise ValueError(f"sigma must be non-negative, got {sigma[sigma < 0][0]:g}")
        for name in ("wavelength", "wavelength2", "ratio"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ValueError(f"{name} must be a number or None, got {value!r}")
            value = float(value)
            positive = name != "ratio"
            if not math.isfinite(value) or value < 0 or (positive and value == 0):
                raise ValueError(
                    f"{name} must be finite and {'> 0 (Å)' if positive else '>= 0'}, got {value!r}"
                )
            object.__setattr__(self, name, value)
        object.__setattr__(self, "two_theta", _frozen(two_theta))
        object.__setattr__(self, "intensity", _frozen(intensity))
        object.__setattr__(self, "sigma", None if sigma is None else _frozen(sigma))
        object.__setattr__(self, "source", str(self.source))
        object.__setattr__(self, "format", str(self.format))
        object.__setattr__(self, "metadata", {str(k): str(v) for k, v in dict(self.metadata).items()})

    @classmethod
    def from_q(
        cls,
        q: Any,
        intensity: Any,
        wavelength: float,
        *,
        q_unit: str = "1/Å",
        sigma: Any = None,
        wavelength2: float | None = None,
        ratio: float | None = None,
        source: str = "",
        format: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> MeasuredPattern:
        """A pattern from data on a Q axis: 2θ = 2·asin(Qλ/4π).

        Args:
            q: (N,) scattering vector magnitudes Q = 4π·sinθ/λ, non-negative, monotonic (either direction).
            intensity: (N,) intensities; ``sigma`` (N,) their uncertainties or None.
            wavelength: λ in Å with which Q was computed; it becomes the pattern's wavelength.
            q_unit: "1/Å" (default) or "1/nm".

        Raises:
            ValueError: a bad unit or wavelength, a negative Q, or a Q beyond 4π/λ (no angle reaches it).
        """
        scale = {"1/å": 1.0, "1/a": 1.0, "1/nm": 0.1}.get(q_unit.lower())
        if scale is None:
            raise ValueError(f"q_unit must be '1/Å' or '1/nm', got {q_unit!r}")
        lam = _conversion_wavelength(wavelength)
        two_theta = two_theta_from_q(float_vector(q, "q") * scale, lam)
        note = f"Q in {q_unit}, converted with λ = {lam:g} Å"
        return cls._from_converted(
            two_theta, intensity, sigma, lam, wavelength2, ratio, source, format, metadata, note
        )

    @classmethod
    def from_d(
        cls,
        d: Any,
        intensity: Any,
        wavelength: float,
        *,
        d_unit: str = "Å",
        sigma: Any = None,
        wavelength2: float | None = None,
        ratio: float | None = None,
        source: str = "",
        format: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> MeasuredPattern:
        """A pattern from data on a d-spacing axis: 2θ = 2·asin(λ/2d) (Bragg).

        Args:
            d: (N,) lattice spacings, positive, monotonic (either direction; a large d is a small 2θ).
            intensity: (N,) intensities; ``sigma`` (N,) their uncertainties or None.
            wavelength: λ in Å of the measurement; it becomes the pattern's wavelength.
            d_unit: "Å" (default) or "nm".

        Raises:
            ValueError: a bad unit or wavelength, a d that is not positive, or a d below λ/2 (no angle
                reaches it).
        """
        scale = {"å": 1.0, "a": 1.0, "angstrom": 1.0, "nm": 10.0}.get(d_unit.lower())
        if scale is None:
            raise ValueError(f"d_unit must be 'Å' or 'nm', got {d_unit!r}")
        lam = _conversion_wavelength(wavelength)
        two_theta = two_theta_from_d(float_vector(d, "d") * scale, lam)
        note = f"d in {d_unit}, converted with λ = {lam:g} Å"
        return cls._from_converted(
            two_theta, intensity, sigma, lam, wavelength2, ratio, source, format, metadata, note
        )

    @classmethod
    def _from_converted(
        cls,
        two_theta: npt.NDArray[np.float64],
        intensity: Any,
        sigma: Any,
        wavelength: float,
        wavelength2: float | None,
        ratio: float | None,
        source: str,
        format: str,
        metadata: Mapping[str, str] | None,
        note: str,
    ) -> MeasuredPattern:
        n = two_theta.shape[0]
        y = float_vector(intensity, "intensity", n)
        s = None if sigma is None else float_vector(sigma, "sigma", n)
        if n >= 2 and np.all(np.diff(two_theta) < 0):
            two_theta, y = two_theta[::-1], y[::-1]
            s = None if s is None else s[::-1]
        return cls(
            two_theta,
            y,
            s,
            wavelength,
            wavelength2,
            ratio,
            source,
            format,
            {**dict(metadata or {}), "x_axis": note},
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild through __init__ so that unpickled arrays are validated and read-only again.
        return (
            type(self),
            (
                self.two_theta,
                self.intensity,
                self.sigma,
                self.wavelength,
                self.wavelength2,
                self.ratio,
                self.source,
                self.format,
                self.metadata,
            ),
        )

    def __len__(self) -> int:
        return int(self.two_theta.shape[0])

    def __repr__(self) -> str:
        if self.wavelength is None:
            radiation = "wavelength unknown"
        elif self.wavelength2 is None:
            radiation = f"λ={self.wavelength:g} Å"
        else:
            ratio = "" if self.ratio is None else f", ratio {self.ratio:g}"
            radiation = f"λ={self.wavelength:g}/{self.wavelength2:g} Å{ratio}"
        sample = f", sample={self.metadata['sample']!r}" if self.metadata.get("sample") else ""
        sigma = ", with sigma" if self.sigma is not None else ""
        return (
            f"MeasuredPattern({len(self)} points, 2θ {self.two_theta[0]:g}-{self.two_theta[-1]:g}°, "
            f"{radiation}{sigma}, format={self.format!r}{sample}, source={self.source!r})"
        )


def _conversion_wavelength(wavelength: Any) -> float:
    if isinstance(wavelength, bool) or not isinstance(wavelength, (int, float, np.floating, np.integer)):
        raise ValueError(f"wavelength must be a number of Å, got {wavelength!r}")
    lam = float(wavelength)
    if not (math.isfinite(lam) and lam > 0):
        raise ValueError(f"wavelength must be finite and > 0 (Å), got {wavelength!r}")
    return lam


def two_theta_from_q(q: npt.NDArray[np.float64], wavelength: float) -> npt.NDArray[np.float64]:
    """2θ in degrees of Q in 1/Å at ``wavelength`` Å; ValueError for a negative Q or one beyond 4π/λ."""
    if np.any(q < 0):
        raise ValueError(f"Q must be non-negative, got {q[q < 0][0]:g} 1/Å")
    sine = q * wavelength / (4 * math.pi)
    if np.any(sine > 1):
        raise ValueError(
            f"Q up to {q.max():g} 1/Å is beyond 4π/λ = {4 * math.pi / wavelength:g} 1/Å "
            f"at λ = {wavelength:g} Å"
        )
    return bragg.two_theta_from_q(q, wavelength)


def two_theta_from_d(d: npt.NDArray[np.float64], wavelength: float) -> npt.NDArray[np.float64]:
    """2θ in degrees of lattice spacings d in Å at ``wavelength`` Å (Bragg: λ = 2d·sinθ)."""
    if np.any(d <= 0):
        raise ValueError(f"d must be positive, got {d[d <= 0][0]:g} Å")
    if np.any(d < wavelength / 2):
        raise ValueError(f"d down to {d.min():g} Å is below λ/2 = {wavelength / 2:g} Å: no angle reaches it")
    return bragg.two_theta_from_d(d, wavelength)


# ---------------------------------------------------------------------------------------------------------
# Shared by the readers

#: What a reader returns: one entry per range (scan) of the file, in file order; a range that is not a
#: readable 2θ scan is the error that says why.
Ranges = list["MeasuredPattern | PatternFileError"]


def annotated(ranges: Ranges, metadata: Mapping[str, str], **fields: Any) -> Ranges:
    """``ranges`` with ``metadata`` added to each pattern's metadata and ``fields`` set (errors as they
    are): what a reader wrapped around another adds (the compression, the archive member, the sheet)."""
    return [
        dataclasses.replace(r, metadata={**r.metadata, **metadata}, **fields)
        if isinstance(r, MeasuredPattern)
        else r
        for r in ranges
    ]


# A header value written with a decimal comma, as software in European locales writes them ("1,5406",
# "-0,02"): digits, one comma, digits, and nothing else in that word. Read as a list ("1, 5406") it would
# give a wavelength of 1 Å.
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")


def header_number(text: str | None) -> float | None:
    """The first number of a header value (``text``; quotes stripped; a decimal comma read as a decimal
    point when the first word is one number written so), or None when there is none or it is not finite."""
    words = (text or "").strip().strip("'\"").split()
    if words and _DECIMAL_COMMA.fullmatch(words[0]):
        words[0] = words[0].replace(",", ".")
    else:
        words = (text or "").strip().strip("'\"").replace(",", " ").split()
    try:
        number = float(words[0]) if words else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def positive_float(text: str | None) -> float | None:
    """The first number of ``text`` (see :func:`header_number`) when it is finite and > 0, else None."""
    number = header_number(text)
    return number if number is not None and number > 0 else None


def radiation(ka1: float | None, ka2: float | None = None, ratio: float | None = None) -> dict[str, float]:
    """The ``wavelength``/``wavelength2``/``ratio`` fields from what a file states (Å; ratio Kα2/Kα1).

    No usable Kα1: nothing. A Kα2 that is missing, unusable or equal to Kα1, or a ratio of exactly 0, means
    the file measured Kα1 only (a monochromator): the wavelength alone.
    """
    if ka1 is None or not math.isfinite(ka1) or not WAVELENGTH_RANGE[0] <= ka1 <= WAVELENGTH_RANGE[1]:
        return {}
    single = {"wavelength": float(ka1)}
    if ka2 is None or not math.isfinite(ka2) or not WAVELENGTH_RANGE[0] <= ka2 <= WAVELENGTH_RANGE[1]:
        return single
    if math.isclose(ka1, ka2, rel_tol=1e-6) or ratio == 0:
        return single
    fields = {"wavelength": float(ka1), "wavelength2": float(ka2)}
    if ratio is not None and math.isfinite(ratio) and ratio > 0:
        fields["ratio"] = float(ratio)
    return fields


def is_two_theta_axis(name: str) -> bool:
    """Whether a scan-axis or drive name is a 2θ scan ("2Theta", "TwoThetaOmega", "Theta/2-Theta", ...)."""
    squeezed = name.lower().replace(" ", "").replace("-", "").replace("_", "")
    return any(key in squeezed for key in ("2theta", "twotheta", "2θ", "2th/"))


def build(source: str, where: Callable[[int], str], **fields: Any) -> MeasuredPattern:
    """MeasuredPattern from a reader's raw arrays: reversed when 2θ decreases; errors name file and place.

    ``where(i)`` names point ``i`` for messages ("line 12", "step 5 (offset 412)").
    """
    two_theta = np.asarray(fields["two_theta"], dtype=np.float64)
    arrays = {k: fields[k] for k in ("two_theta", "intensity", "sigma") if fields.get(k) is not None}
    if two_theta.shape[0] < 2:
        raise PatternFileError(f"{source}: {two_theta.shape[0]} data point(s); a pattern needs at least 2")
    for name, array in arrays.items():
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise PatternFileError(f"{source}: {where(int(bad[0]))}: non-finite {name} ({array[bad[0]]})")
    high = int(np.argmax(np.abs(two_theta)))
    if abs(two_theta[high]) > MAX_TWO_THETA:
        raise PatternFileError(
            f"{source}: {where(high)}: x = {two_theta[high]:g} cannot be 2θ in degrees (above 180°); the x "
            "axis is something else (centidegrees, time of flight, channels?) and the file does not say which"
        )
    steps = np.diff(two_theta)
    if np.all(steps < 0):  # written from high to low angle
        arrays = {k: np.asarray(v)[::-1] for k, v in arrays.items()}
    elif not np.all(steps > 0):
        bad = steps <= 0 if steps[0] > 0 else steps >= 0
        i = int(np.flatnonzero(bad)[0]) + 1
        if np.all(steps >= 0) or np.all(steps <= 0):  # monotonic but for repeated values
            repeated = int(np.sum(steps == 0))
            raise PatternFileError(
                f"{source}: {where(i)}: 2θ = {two_theta[i]:g} again ({repeated} repeated "
                f"value{'' if repeated == 1 else 's'}): 2θ written with fewer decimals than its step needs, "
                "or points repeated; not read"
            )
        raise PatternFileError(
            f"{source}: {where(i)}: 2θ is not monotonic ({two_theta[i]:g} after {two_theta[i - 1]:g})"
        )
    metadata = {k: v for k, v in dict(fields.get("metadata") or {}).items() if v not in ("", None)}
    try:
        return MeasuredPattern(**{**fields, **arrays, "metadata": metadata, "source": source})
    except ValueError as exc:
        raise PatternFileError(f"{source}: {exc}") from None


def parse_floats(source: str, number: int, words: list[str]) -> list[float]:
    """The numbers of ``words`` (line ``number`` of ``source``); PatternFileError names the line."""
    try:
        return [float(w) for w in words]
    except ValueError:
        raise PatternFileError(f"{source}: line {number}: not a number in {' '.join(words)[:60]!r}") from None
