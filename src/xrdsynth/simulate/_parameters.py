"""Per-pattern parameters of the effects a simulator applies before rendering.

Transforms (:mod:`xrdsynth.transforms`) draw these for a batch; :meth:`PowderSimulator.forward` takes them
through its ``parameters`` argument. Every field is optional: a field left ``None`` keeps the simulator's own
setting (fixed, drawn from its range, or off), a given field replaces it for this call.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from .._deprecation import renamed_attributes

__all__ = ["PatternParameters"]


@renamed_attributes(fwhm="instrument_fwhm")
@dataclass(frozen=True)
class PatternParameters:
    """What acts on the reflections of each pattern of a batch of size B: widths, shifts, texture, lines.

    Attributes:
        crystallite_size_nm: (B,) Scherrer crystallite size in nm.
        microstrain: (B,) dimensionless microstrain ε (FWHM = 4ε tanθ).
        instrument_fwhm: (B,) an instrument FWHM in degrees 2θ, combined with the Caglioti width in
            quadrature (``fwhm`` is its deprecated former name).
        caglioti: (B, 3) instrument function U, V, W in degrees² (FWHM² = U tan²θ + V tanθ + W).
        zero_shift: (B,) offset of every peak in degrees 2θ.
        specimen_displacement_mm: (B,) height error of the sample surface in mm.
        march_dollase: (B,) March–Dollase r (1: random powder, < 1 platelets, > 1 needles).
        orientation_hkl: (B, 3) preferred-orientation direction of each pattern as a reciprocal-lattice
            vector (needs ``march_dollase``, given here or by the simulator).
        axial_divergence: (B,) (S + H)/L of a Bragg–Brentano instrument (sample and detector heights over the
            radius): the asymmetric low-angle tail of axial divergence (0 for none).
        grain_scatter: (B,) σ of the natural logarithm of a factor drawn for every reflection (mean 1) by
            which its intensity is multiplied: the intensity errors of a powder with too few crystallites in
            diffracting position (particle statistics, a coarse or little-ground sample); 0 for none.
        extra_lines: further wavelength lines added to the simulator's own, each ``(wavelength in Å,
            (B,) intensity relative to the principal line)``, e.g. the Kα2 line of a Kα1 simulator.
    """

    crystallite_size_nm: torch.Tensor | None = None
    microstrain: torch.Tensor | None = None
    instrument_fwhm: torch.Tensor | None = None
    caglioti: torch.Tensor | None = None
    zero_shift: torch.Tensor | None = None
    specimen_displacement_mm: torch.Tensor | None = None
    march_dollase: torch.Tensor | None = None
    orientation_hkl: torch.Tensor | None = None
    axial_divergence: torch.Tensor | None = None
    grain_scatter: torch.Tensor | None = None
    extra_lines: tuple[tuple[float, torch.Tensor], ...] = ()

    def updated(self, other: PatternParameters) -> PatternParameters:
        """These parameters with every field that ``other`` sets replaced (extra lines are appended)."""
        changes = {
            f.name: getattr(other, f.name)
            for f in fields(self)
            if f.name != "extra_lines" and getattr(other, f.name) is not None
        }
        return replace(self, **changes, extra_lines=self.extra_lines + other.extra_lines)

    def check(self, batch_size: int) -> None:
        """Raise ValueError unless every given field has batch size ``batch_size`` and finite values."""
        shapes = {"caglioti": (batch_size, 3), "orientation_hkl": (batch_size, 3)}
        for f in fields(self):
            if f.name == "extra_lines":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            expected = shapes.get(f.name, (batch_size,))
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != expected:
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"parameters.{f.name} must be a tensor of shape {expected}, got {got}")
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"parameters.{f.name} has non-finite values")
        for wavelength, weight in self.extra_lines:
            if not float(wavelength) > 0:
                raise ValueError(f"extra line wavelength must be positive, got {wavelength}")
            if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != (batch_size,):
                raise ValueError(f"extra line weights must be a tensor of shape ({batch_size},)")
            if not bool(torch.isfinite(weight).all()) or bool((weight < 0).any()):
                raise ValueError("extra line weights must be finite and >= 0")
        for name in ("axial_divergence", "grain_scatter"):
            value = getattr(self, name)
            if value is not None and bool((value < 0).any()):
                raise ValueError(f"parameters.{name} must be >= 0")
        for name in ("crystallite_size_nm", "march_dollase"):
            value = getattr(self, name)
            if value is not None and bool((value <= 0).any()):
                raise ValueError(f"parameters.{name} must be > 0")
