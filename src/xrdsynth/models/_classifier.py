"""Classifier: a network plus everything needed to apply it to a measured powder pattern."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from .._base import DEFAULT_TWO_THETA, NUM_SPACE_GROUPS
from .._precision import native_bfloat16
from .._radiation import (
    KALPHA2_OF_KALPHA1,
    KALPHA2_RATIO,
    KBETA_OF_KALPHA1,
    WAVELENGTHS,
    d_from_two_theta,
    two_theta_at_wavelength,
)
from ..io import MeasuredPattern
from ..simulate import resolve_wavelength
from ..symmetry import CRYSTAL_SYSTEM_OF_GROUP, CRYSTAL_SYSTEMS, SpaceGroup, crystal_system, enantiomorph
from ..transforms import (
    kalpha2_ratio,
    remove_background,
    rerender_peaks,
    smooth_gaussian,
    strip_kalpha2,
    strip_kbeta,
)
from ._architectures import build_model
from ._resample import as_float_array, log_d_two_theta, resample_pattern, resample_to_log_d

__all__ = ["Classifier", "InputSpec", "Prediction"]


@lru_cache(maxsize=1)
def _group_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Hermann–Mauguin symbols and crystal systems of groups 1..230 (index = number - 1)."""
    symbols = tuple(SpaceGroup(n).symbol for n in range(1, NUM_SPACE_GROUPS + 1))
    systems = tuple(crystal_system(n) for n in range(1, NUM_SPACE_GROUPS + 1))
    return symbols, systems


@dataclass(frozen=True)
class InputSpec:
    """What a classifier's network reads: a pattern on an equally spaced 2θ grid at one wavelength.

    Attributes:
        two_theta_min: first grid point, degrees.
        two_theta_max: last grid point, degrees.
        num_points: number of grid points P.
        wavelength: the wavelength the grid refers to, Å (patterns at other wavelengths are converted
            through d-spacing).
        sqrt_scale: the network reads the square root of the max-normalised pattern.
        baseline_threshold: what lies below this fraction of the strongest peak is read as zero, the rest
            lowered by it and rescaled to maximum 1 (before the √): a faint residual of the background removal
            or the tail of a peak, invisible in any measurement, can then not tell noise-free simulations
            from measured patterns; 0: every level is read.
        background_window_deg: width in degrees 2θ of the background removal applied before scaling
            (:func:`xrdsynth.transforms.remove_background`); 0 for none.
        kalpha2_strip_ratio: when > 0, the Kα2 line is removed after the background removal
            (:func:`xrdsynth.transforms.strip_kalpha2`, Rachinger's correction with this Kα2/Kα1 intensity
            ratio; the wavelength must be a tube's Kα1); 0: the pattern keeps it.
        smoothing_fwhm_deg: FWHM in degrees 2θ of a Gaussian the pattern is convolved with after the
            background removal (:func:`xrdsynth.transforms.smooth_gaussian`), so that narrow instrument
            peaks and broad crystallite-size peaks look more alike to the network; 0 for none.
        log_d_points: when > 0, the network reads the pattern resampled onto this many points equally spaced
            in ln d over the same range (their 2θ: :attr:`network_two_theta`; after the background removal
            and smoothing, before the normalisation), where a scaled cell and the Kα2 line are translations;
            0: it reads the 2θ grid itself.
        rerender_size_nm: when > 0, the network reads the pattern's peaks drawn again after the background
            removal (:func:`xrdsynth.transforms.rerender_peaks`): the Kα2 line stripped (when the wavelength
            is a tube's Kα1), the peaks found above the noise, and each drawn at its position and height as a
            Gaussian of the Scherrer width of crystallites of this size in nm; 0: it reads the pattern itself.
        kbeta_strip: find a Kβ residue in each pattern and remove it before anything else
            (:func:`xrdsynth.transforms.strip_kbeta` with the ratio it estimates by
            :func:`xrdsynth.transforms.kbeta_ratio`; patterns without one are left as they are). The Kβ
            line is that of the tube whose Kα1 is ``wavelength``: a pattern measured with another tube and
            converted to this grid shows its Kβ elsewhere and is left as it is.
    """

    two_theta_min: float = DEFAULT_TWO_THETA[0]
    two_theta_max: float = DEFAULT_TWO_THETA[1]
    num_points: int = DEFAULT_TWO_THETA[2]
    wavelength: float = WAVELENGTHS["CuKa1"]
    sqrt_scale: bool = False
    baseline_threshold: float = 0.0
    background_window_deg: float = 0.0
    smoothing_fwhm_deg: float = 0.0
    log_d_points: int = 0
    rerender_size_nm: float = 0.0
    kalpha2_strip_ratio: float = 0.0
    kbeta_strip: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.two_theta_min < self.two_theta_max < 180.0:
            raise ValueError(f"need 0 <= two_theta_min < two_theta_max < 180, got {self}")
        if int(self.num_points) < 16:
            raise ValueError(f"num_points must be >= 16, got {self.num_points}")
        if not self.wavelength > 0:
            raise ValueError(f"wavelength must be positive, got {self.wavelength}")
        if not 0.0 <= self.baseline_threshold < 1.0:
            raise ValueError(f"baseline_threshold must be in [0, 1), got {self.baseline_threshold}")
        if not (math.isfinite(self.background_window_deg) and self.background_window_deg >= 0):
            raise ValueError(f"background_window_deg must be >= 0, got {self.background_window_deg}")
        if not (math.isfinite(self.smoothing_fwhm_deg) and self.smoothing_fwhm_deg >= 0):
            raise ValueError(f"smoothing_fwhm_deg must be >= 0, got {self.smoothing_fwhm_deg}")
        if isinstance(self.log_d_points, bool) or int(self.log_d_points) != self.log_d_points or not (
            self.log_d_points == 0 or self.log_d_points >= 16
        ):
            raise ValueError(f"log_d_points must be 0 or an int >= 16, got {self.log_d_points}")
        if not (math.isfinite(self.rerender_size_nm) and self.rerender_size_nm >= 0):
            raise ValueError(f"rerender_size_nm must be >= 0, got {self.rerender_size_nm}")
        if not 0.0 <= self.kalpha2_strip_ratio < 1.0:
            raise ValueError(f"kalpha2_strip_ratio must be in [0, 1), got {self.kalpha2_strip_ratio}")
        if self.kalpha2_strip_ratio and round(self.wavelength, 6) not in KALPHA2_OF_KALPHA1:
            raise ValueError(f"kalpha2_strip_ratio needs a tube's Kα1 wavelength, got {self.wavelength} Å")
        if self.kalpha2_strip_ratio and self.rerender_size_nm:
            raise ValueError("rerender_size_nm strips the Kα2 line itself; leave kalpha2_strip_ratio at 0")
        if self.log_d_points and self.two_theta_min <= 0:
            raise ValueError("log_d_points needs two_theta_min > 0 (d is infinite at 2θ = 0)")
        if not isinstance(self.kbeta_strip, bool):
            raise ValueError(f"kbeta_strip must be True or False, got {self.kbeta_strip!r}")
        if self.kbeta_strip and round(self.wavelength, 6) not in KBETA_OF_KALPHA1:
            raise ValueError(f"kbeta_strip needs a tube's Kα1 wavelength, got {self.wavelength} Å")

    @property
    def two_theta(self) -> npt.NDArray[np.float64]:
        """(P,) float64 grid in degrees."""
        return np.linspace(self.two_theta_min, self.two_theta_max, int(self.num_points))

    @property
    def network_two_theta(self) -> npt.NDArray[np.float64]:
        """(Q,) float64 2θ in degrees of the points the network reads: :attr:`two_theta`, or the ln d grid
        of ``log_d_points``."""
        if self.log_d_points:
            return log_d_two_theta(self.two_theta_min, self.two_theta_max, int(self.log_d_points))
        return self.two_theta

    @property
    def grid(self) -> tuple[float, float, int]:
        """The grid as ``(start, stop, num)`` in degrees, the form :class:`~xrdsynth.PowderSimulator` and the
        datasets take (``PowderSimulator(two_theta=spec.grid, wavelength=spec.wavelength)``)."""
        return (float(self.two_theta_min), float(self.two_theta_max), int(self.num_points))

    def covered_range(self, first: float, last: float, wavelength: float) -> tuple[float, float]:
        """The part of the grid a measurement from 2θ = ``first`` to ``last`` (degrees) at ``wavelength`` (Å)
        covers, converted to the grid's wavelength through d (degrees; low >= high when they do not
        overlap)."""
        ends = two_theta_at_wavelength(np.array([first, last], dtype=np.float64), wavelength, self.wavelength)
        return max(float(ends[0]), self.two_theta_min), min(float(ends[1]), self.two_theta_max)

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for the JSON card (``InputSpec(**spec.to_dict())`` rebuilds it)."""
        return {
            "two_theta_min": float(self.two_theta_min),
            "two_theta_max": float(self.two_theta_max),
            "num_points": int(self.num_points),
            "wavelength": float(self.wavelength),
            "sqrt_scale": bool(self.sqrt_scale),
            "baseline_threshold": float(self.baseline_threshold),
            "background_window_deg": float(self.background_window_deg),
            "smoothing_fwhm_deg": float(self.smoothing_fwhm_deg),
            "log_d_points": int(self.log_d_points),
            "rerender_size_nm": float(self.rerender_size_nm),
            "kalpha2_strip_ratio": float(self.kalpha2_strip_ratio),
            "kbeta_strip": bool(self.kbeta_strip),
        }


@dataclass(frozen=True)
class Prediction:
    """The most probable space groups of one pattern, best first.

    Powder patterns cannot tell the two groups of an enantiomorphic pair apart (P4₁/P4₃, P3₁21/P3₂21, ...):
    such a group is listed with its partner in ``enantiomorph`` and the pair's summed probability in
    ``pair_probability``.

    Attributes:
        space_group: the top-k space-group numbers (1..230).
        symbol: their Hermann–Mauguin symbols (spglib's default settings).
        crystal_system: the crystal system of each of the top-k groups (not the most probable system: see
            ``most_probable_crystal_system``).
        probability: their probabilities (calibrated when the classifier carries a temperature).
        crystal_system_probability: probability of each of the 7 crystal systems (summed over its groups).
        enantiomorph: each group's enantiomorphic partner, or None.
        pair_probability: the probability of each group plus that of its partner (the group's own where it
            has none): what a powder pattern can decide.
        abstained: the top group's pair probability is below the threshold the prediction was made with
            (the answer is "unsure"; the ranking is still given).
    """

    space_group: tuple[int, ...]
    symbol: tuple[str, ...]
    crystal_system: tuple[str, ...]
    probability: tuple[float, ...]
    crystal_system_probability: Mapping[str, float] = field(default_factory=dict)
    enantiomorph: tuple[int | None, ...] = ()
    pair_probability: tuple[float, ...] = ()
    abstained: bool = False

    @property
    def confidence(self) -> float:
        """Probability of the top answer up to the enantiomorph (the first ``pair_probability``)."""
        return self.pair_probability[0] if self.pair_probability else self.probability[0]

    @property
    def most_probable_crystal_system(self) -> str:
        """The crystal system with the largest summed probability."""
        return max(self.crystal_system_probability, key=self.crystal_system_probability.__getitem__)

    def __str__(self) -> str:
        symbols, _ = _group_names()
        rows = []
        if self.abstained:
            rows.append(f"unsure: the best answer has {self.confidence:.1%}, below the threshold")
        partners = self.enantiomorph or (None,) * len(self.space_group)
        pairs = self.pair_probability or self.probability
        for i, (n, s, c, p) in enumerate(
            zip(self.space_group, self.symbol, self.crystal_system, self.probability, strict=True)
        ):
            row = f"{i + 1}. {n:>3} {s:<12} {c:<12} {p:7.2%}"
            if partners[i] is not None:
                partner = partners[i]
                row += f"  (or its enantiomorph {partner} {symbols[partner - 1]}: pair {pairs[i]:.2%})"
            rows.append(row)
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for JSON."""
        partners = self.enantiomorph or (None,) * len(self.space_group)
        pairs = self.pair_probability or self.probability
        return {
            "space_groups": [
                {
                    "number": n,
                    "symbol": s,
                    "crystal_system": c,
                    "probability": p,
                    "enantiomorph": e,
                    "pair_probability": q,
                }
                for n, s, c, p, e, q in zip(
                    self.space_group, self.symbol, self.crystal_system, self.probability, partners, pairs,
                    strict=True,
                )
            ],
            "crystal_systems": dict(self.crystal_system_probability),
            "most_probable_crystal_system": self.most_probable_crystal_system,
            "confidence": self.confidence,
            "abstained": self.abstained,
        }


def preprocess(patterns: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """(B, P) linear-scale patterns on the grid of ``spec`` -> what the network reads: clipped at 0, a Kβ
    residue removed (when ``spec.kbeta_strip``), the background removed (when ``spec.background_window_deg``
    > 0), Kα2 stripped (when ``spec.kalpha2_strip_ratio`` > 0), smoothed (when ``spec.smoothing_fwhm_deg``
    > 0), its peaks re-drawn (when ``spec.rerender_size_nm`` > 0), resampled to ln d (when
    ``spec.log_d_points`` > 0: (B, Q) out), divided by the maximum, lowered by ``spec.baseline_threshold`` and
    clipped at 0 (when > 0), optionally √.

    Training data and measured patterns take this same path (it is the first step of
    :meth:`Classifier.forward`).
    """
    patterns = patterns.clamp_min(0.0)
    grid = torch.as_tensor(spec.two_theta, dtype=patterns.dtype, device=patterns.device)
    if spec.kbeta_strip:
        kalpha1 = float(spec.wavelength)
        patterns = strip_kbeta(patterns, grid, kalpha1, KBETA_OF_KALPHA1[round(kalpha1, 6)])
    if spec.background_window_deg > 0:
        patterns = remove_background(patterns, grid, spec.background_window_deg)
    if spec.kalpha2_strip_ratio > 0:
        kalpha2 = KALPHA2_OF_KALPHA1[round(spec.wavelength, 6)]
        patterns = strip_kalpha2(patterns, grid, spec.wavelength, kalpha2, spec.kalpha2_strip_ratio)
    if spec.smoothing_fwhm_deg > 0:
        patterns = smooth_gaussian(patterns, grid, spec.smoothing_fwhm_deg)
    if spec.rerender_size_nm > 0:
        patterns = rerender_peaks(
            patterns,
            grid,
            spec.wavelength,
            spec.rerender_size_nm,
            kalpha2_wavelength=KALPHA2_OF_KALPHA1.get(round(spec.wavelength, 6)),
        )
    if spec.log_d_points:
        patterns = resample_to_log_d(patterns, grid, int(spec.log_d_points))
    peak = patterns.amax(dim=-1, keepdim=True)
    patterns = patterns / torch.where(peak > 0, peak, torch.ones_like(peak))
    if spec.baseline_threshold > 0:
        cut = spec.baseline_threshold
        patterns = (patterns - cut).clamp_min(0.0) / (1.0 - cut)
    return patterns.sqrt() if spec.sqrt_scale else patterns


class Classifier(nn.Module):
    """A space-group classifier: network, input grid, preprocessing and model card.

    Args:
        model: a network mapping (B, P) patterns to (B, 230) logits.
        spec: the grid, wavelength and scaling the network was trained on.
        architecture: name in :data:`xrdsynth.models.ARCHITECTURES` (recorded in the card, used to rebuild).
        architecture_kwargs: keyword arguments that rebuild the network with :func:`build_model`.
        card: free-form model card (recipe, data, accuracies, ...), stored as JSON next to the weights.
        temperature: the logits are divided by it before the softmax of :meth:`predict_proba` (a
            calibration fitted on measured patterns; 1 leaves the network's probabilities as they are).
        threshold: default of :meth:`predict`'s ``threshold``: below this confidence a prediction is
            marked "unsure" (None: never).
        log_prior_ratio: 230 numbers added to the (temperature-scaled) logits: log of how much more often
            each group occurs in the data the classifier is meant for than in its training data (a label-shift
            correction, e.g. ``0.5 log(counts)`` for a network trained with "tempered" weights counts^0.5 and
            applied to mineral-like data); None for none.
        precision: arithmetic of the network in :meth:`probabilities_on_grid`, :meth:`predict_proba` and
            :meth:`predict` (a string): "float32"; "bfloat16" (convolutions and
            matrix products under ``torch.autocast``, preprocessing and softmax in float32; 2-2.5x faster on
            CPUs with bfloat16 instructions, top-1 unchanged on 99 % of rruff-dev and amcsd-dev); "auto"
            (the default): bfloat16 where the device computes it natively (AVX512-BF16 or AMX CPUs, GPUs
            with bfloat16), float32 elsewhere. :meth:`forward` (what training calls) is never changed.

    The forward pass takes patterns already on the grid (B, P) and returns logits; :meth:`predict_proba`
    and :meth:`predict` take measured patterns on any grid and wavelength.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: InputSpec,
        architecture: str,
        architecture_kwargs: Mapping[str, Any] | None = None,
        card: Mapping[str, Any] | None = None,
        temperature: float = 1.0,
        threshold: float | None = None,
        log_prior_ratio: npt.ArrayLike | None = None,
        precision: str = "auto",
    ) -> None:
        super().__init__()
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a probability in [0, 1] or None, got {threshold}")
        self.model = model
        self.spec = spec
        self.architecture = architecture
        self.architecture_kwargs = dict(architecture_kwargs or {})
        self.card: dict[str, Any] = dict(card or {})
        self.temperature = float(temperature)
        self.threshold = threshold
        self.log_prior_ratio: tuple[float, ...] | None = None
        if log_prior_ratio is not None:
            ratio = np.asarray(log_prior_ratio, dtype=np.float64)
            if ratio.shape != (NUM_SPACE_GROUPS,) or not np.all(np.isfinite(ratio)):
                raise ValueError(
                    f"log_prior_ratio must be {NUM_SPACE_GROUPS} finite numbers, got shape {ratio.shape}"
                )
            self.log_prior_ratio = tuple(float(v) for v in ratio)
        self.precision = precision

    @property
    def precision(self) -> str:
        """Arithmetic of the network at inference: "auto", "float32" or "bfloat16" (settable)."""
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        if value not in _INFERENCE_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(_INFERENCE_PRECISIONS)}, got {value!r}")
        self._precision = value

    @property
    def inference_dtype(self) -> torch.dtype:
        """What ``precision`` means on the network's current device: torch.bfloat16 or torch.float32."""
        if self._precision == "auto":
            return torch.bfloat16 if native_bfloat16(self.device) else torch.float32
        return torch.bfloat16 if self._precision == "bfloat16" else torch.float32

    @classmethod
    def from_architecture(
        cls, architecture: str, spec: InputSpec, card: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Classifier:
        """A freshly initialised classifier: ``build_model(architecture, **kwargs)`` with ``spec``."""
        return cls(build_model(architecture, **kwargs), spec, architecture, kwargs, card)

    def extra_repr(self) -> str:
        """The architecture and input spec, shown in ``repr``."""
        s = self.spec
        return (
            f"architecture={self.architecture!r}, grid={s.two_theta_min:g}..{s.two_theta_max:g}° "
            f"({s.num_points} points) at {s.wavelength:g} Å, sqrt_scale={s.sqrt_scale}, "
            + (f"baseline_threshold={s.baseline_threshold:g}, " if s.baseline_threshold > 0 else "")
            + f"background_window_deg={s.background_window_deg:g}, "
            + (f"smoothing_fwhm_deg={s.smoothing_fwhm_deg:g}, " if s.smoothing_fwhm_deg > 0 else "")
            + (f"log_d_points={s.log_d_points}, " if s.log_d_points else "")
            + (f"rerender_size_nm={s.rerender_size_nm:g}, " if s.rerender_size_nm > 0 else "")
            + (f"kalpha2_strip_ratio={s.kalpha2_strip_ratio:g}, " if s.kalpha2_strip_ratio > 0 else "")
            + ("kbeta_strip=True, " if s.kbeta_strip else "")
            + f"temperature={self.temperature:g}"
        )

    def __repr__(self) -> str:
        # One line, not the whole network (print(model.model) shows the layers).
        parameters = sum(p.numel() for p in self.parameters())
        return f"Classifier({self.extra_repr()}, {parameters:,} parameters)"

    @property
    def device(self) -> torch.device:
        """Where the network's parameters are."""
        return next(self.parameters()).device

    @property
    def two_theta(self) -> npt.NDArray[np.float64]:
        """(P,) the grid the network reads, degrees at ``spec.wavelength``."""
        return self.spec.two_theta

    def _on_grid(self, patterns: torch.Tensor) -> torch.Tensor:
        """(B, P) or (B, 1, P) -> (B, P), refusing patterns that are not on the model's grid."""
        if patterns.ndim == 3 and patterns.shape[1] == 1:
            patterns = patterns[:, 0]
        if patterns.ndim != 2 or patterns.shape[1] != self.spec.num_points:
            raise ValueError(
                f"patterns must have shape (B, {self.spec.num_points}) on the model's grid, "
                f"got {tuple(patterns.shape)}; use predict_proba for patterns on other grids"
            )
        return patterns

    def forward(self, patterns: torch.Tensor) -> torch.Tensor:
        """(B, P) patterns on the model's grid (any positive scale) -> (B, 230) logits (float32 arithmetic
        unless the caller sets up ``torch.autocast``; ``precision`` is for the inference methods)."""
        return self.model(preprocess(self._on_grid(patterns), self.spec))

    @torch.no_grad()
    def probabilities_on_grid(
        self, patterns: torch.Tensor, batch_size: int = 256, calibrated: bool = True
    ) -> torch.Tensor:
        """(B, P) patterns on the model's grid -> (B, 230) probabilities (eval mode, in batches).

        ``calibrated``: divide the logits by the classifier's temperature and add its prior correction
        (False: the raw network's softmax).
        """
        shift = None
        if calibrated and self.log_prior_ratio is not None:
            shift = torch.tensor(self.log_prior_ratio, dtype=torch.float32, device=self.device)
        t = self.temperature if calibrated else 1.0
        was_training = self.training
        self.eval()
        try:
            out = []
            dtype = self.inference_dtype
            for i in range(0, len(patterns), batch_size):
                batch = patterns[i : i + batch_size].to(self.device, torch.float32)
                # The preprocessing (background removal, maxima) stays in float32; in bfloat16 only the
                # network's convolutions and matrix products change, as in bfloat16 training.
                x = preprocess(self._on_grid(batch), self.spec)
                with torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32):
                    logits = self.model(x)
                logits = logits.float() / t
                out.append(torch.softmax(logits if shift is None else logits + shift, dim=-1))
        finally:
            self.train(was_training)
        return torch.cat(out)

    def predict_proba(
        self,
        two_theta: npt.ArrayLike | MeasuredPattern,
        intensity: npt.ArrayLike | None = None,
        wavelength: float | str | None = None,
        batch_size: int = 256,
    ) -> npt.NDArray[np.float64]:
        """Space-group probabilities of measured patterns.

        Args:
            two_theta: (M,) measured grid in degrees, strictly increasing (any spacing; a grid strictly
                decreasing throughout, a scan from high to low angle, is read reversed); or a
                :class:`~xrdsynth.io.MeasuredPattern`, which brings its intensity and wavelength.
            intensity: (M,) one pattern or (N, M) patterns on that grid (counts or any linear scale).
            wavelength: of the measurement, Å or a named line ("CuKa1", ...; for "CuKa" the Kα1 value is
                used). Required with arrays: a pattern read at the wrong wavelength is classified wrong
                without any sign of it.
            batch_size: patterns per forward pass.

        A tube whose Kα2 line lies much further from Kα1 than the model's own tube's (Mo and Ag for a Cu
        model; the Kα2 a MeasuredPattern or a named doublet such as "MoKa" states, else the tube's whose Kα1
        the wavelength is) has its Kα2 line looked for in each pattern
        (:func:`~xrdsynth.transforms.kalpha2_ratio`) and stripped where found
        (:func:`~xrdsynth.transforms.strip_kalpha2`) before the network reads it: the network learned Cu
        doublets, and reads a Mo or Ag doublet as split peaks. Closer doublets (Cr, Fe, Co) are read as
        they are. Where the model strips its own tube's Kβ residue (``spec.kbeta_strip``), a measurement of
        another tube has that tube's Kβ residue looked for and stripped first. A MeasuredPattern measured
        with an automatic divergence slit (``metadata["divergence_slit"]``, from XRDML files) is converted to
        fixed-slit intensities (divided by sin θ) first.

        Returns:
            (N, 230) float64; column k is space group k + 1; rows sum to 1.

        Raises:
            ValueError: what cannot be a diffraction pattern (NaN or infinite values, fewer than
                :data:`MIN_POINTS` points, a flat or all-zero pattern, negative throughout), an unsorted
                grid, mismatched lengths, no or a bad wavelength, or no overlap with the d-spacings the
                model reads.

        Warns:
            UserWarning: when the measured range covers less than half of the model's d-range (the
                covered fraction is given), when it starts above 20° on the model's 2θ scale (the largest
                spacings missing; the start and the largest d are given), and when a
                :class:`~xrdsynth.io.MeasuredPattern` says it was measured with neutrons or electrons
                (``metadata["probe"]``, e.g. from a powder CIF).
        """
        two_theta, intensity, lam, lines = self._measurement(two_theta, intensity, wavelength)
        grid = resample_pattern(two_theta, intensity, lam, self.spec)
        tensor = strip_tube_lines(torch.as_tensor(grid, dtype=torch.float32), self.spec, lam, lines)
        probability = self.probabilities_on_grid(tensor, batch_size).double().cpu()
        # The float32 softmax sums to 1 within ~1e-7 (230 roundings); the float64 rows promised here are
        # normalised again so that they sum to 1 to float64 precision.
        return (probability / probability.sum(dim=1, keepdim=True)).numpy()

    def _measurement(
        self, two_theta: Any, intensity: Any, wavelength: float | str | None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float, TubeLines]:
        """The arrays and wavelength (Å) of a measurement, checked to be something the model can read, and
        the lines of its tube to look for in it (:func:`tube_lines`)."""
        stated: tuple[float | None, float | None] = (None, None)  # Kα2 and ratio the measurement states
        automatic_slit = False
        if isinstance(two_theta, MeasuredPattern):
            pattern = two_theta
            if intensity is not None:
                raise ValueError("give a MeasuredPattern alone, or two_theta and intensity arrays")
            two_theta, intensity = pattern.two_theta, pattern.intensity
            automatic_slit = pattern.metadata.get("divergence_slit", "").startswith("automatic")
            probe = pattern.metadata.get("probe", "").lower()
            if probe and "x" not in probe:
                # Neutrons scatter by nuclear lengths, not form factors: the peak positions match an X-ray
                # pattern, the intensities (which the network reads) do not.
                warnings.warn(
                    f"{pattern.source or 'the pattern'} was measured with {probe} radiation; the classifier "
                    "learned X-ray patterns, whose intensities differ: predictions are less reliable",
                    UserWarning,
                    stacklevel=3,
                )
            if wavelength is None:
                wavelength = pattern.wavelength
                stated = (pattern.wavelength2, pattern.ratio)
            if wavelength is None:
                raise ValueError(
                    f"{pattern.source or 'the pattern'} states no wavelength: pass wavelength= (Å or a line "
                    "such as 'CuKa1')"
                )
        elif intensity is None:
            raise ValueError("intensity is missing: predict(two_theta, intensity, wavelength=...)")
        if wavelength is None:
            raise ValueError(
                "wavelength is required (Å or a line such as 'CuKa1'); the model reads "
                f"{self.spec.wavelength:g} Å patterns and converts others through d-spacing"
            )
        radiation = resolve_wavelength(wavelength)
        lam = radiation.wavelength
        if len(radiation.wavelengths) > 1:  # a doublet named ("MoKa")
            stated = (radiation.wavelengths[1], radiation.weights[1] / radiation.weights[0])
        x = as_float_array(two_theta, "two_theta")
        y = as_float_array(intensity, "intensity")
        if x.ndim == 1 and (y.ndim not in (1, 2) or y.shape[-1] != x.size):
            raise ValueError(f"intensity must have shape ({x.size},) or (N, {x.size}), got {y.shape}")
        if x.ndim == 1 and x.size > 1 and np.all(np.diff(x) < 0):
            # A scan recorded from high to low angle: the same measurement, read in increasing 2θ.
            x, y = x[::-1].copy(), y[..., ::-1].copy()
        check_measurement(x, y if y.ndim == 2 else y[None], lam, self.spec)
        if automatic_slit:
            # An automatic divergence slit keeps the irradiated length, opening as sin θ: its counts grow as
            # sin θ against the fixed slit's the network learned (scripts/check_scan_settings.py: 43.6 % of
            # amcsd-dev minerals read as measured, 46.6 % converted, 49.8 % with a fixed slit).
            y = y / np.sin(np.radians(x) / 2.0)
        return x, y, lam, tube_lines(self.spec, lam, *stated)

    def predict(
        self,
        two_theta: npt.ArrayLike | MeasuredPattern,
        intensity: npt.ArrayLike | None = None,
        wavelength: float | str | None = None,
        top: int = 5,
        threshold: float | None = None,
    ) -> list[Prediction]:
        """The ``top`` most probable space groups of each pattern (see :meth:`predict_proba`).

        Args:
            threshold: a prediction whose confidence (the top pair probability) is below it is marked
                ``abstained`` ("unsure"); default: the classifier's own ``threshold`` (from its card).

        Returns:
            One :class:`Prediction` per pattern (a list of length 1 for a single pattern).
        """
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= NUM_SPACE_GROUPS:
            raise ValueError(f"top must be an int in 1..{NUM_SPACE_GROUPS}, got {top!r}")
        if threshold is None:
            threshold = self.threshold
        elif not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
        probability = self.predict_proba(two_theta, intensity, wavelength)
        return predictions_from_probabilities(probability, top, threshold)


#: Fewest measured points a pattern must have to be classified.
MIN_POINTS = 20

_INFERENCE_PRECISIONS = ("auto", "float32", "bfloat16")  # the values of Classifier.precision

# Below this share of the model's d-range covered by the measurement, predict warns.
_WARN_COVERAGE = 0.5
# A scan that starts above this 2θ (degrees, on the model's scale) misses the reflections of the largest
# spacings (above 4.4 Å at Cu Kα1), which tell most cells apart; the shipped recipe's scans start at 5-20°,
# and the shipped network reads 20-80° scans of amcsd-dev minerals at 41 % where it reads 5-90° at 54 %
# (30-90°: 20 %; docs/training.md, "Nanocrystalline powders and late scans"). predict warns.
_WARN_START_DEG = 20.0


# A measurement's Kα2 line is looked for, and stripped where found, when its relative separation from Kα1 is
# more than this many times that of the doublet the model learned (Cu's): Mo and Ag doublets (2.44 and 3.17
# times Cu's) cost the shipped network 37 and 42 points of top-1 on noisy simulations of amcsd-dev minerals
# (13.1 and 8.6 % against 50.3 and 50.7 % for Kα1 alone), read after this 47.8 and 46.0 %; Cr, Fe and Co
# doublets (0.69-0.87 times) read as well as their Kα1 alone, and stripping a Co or Cu doublet costs 3-4
# points (scripts/check_other_tubes.py; docs/transforms.md).
_FAR_DOUBLET = 1.5


class TubeLines(NamedTuple):
    """The lines of a measurement's tube besides Kα1 that are looked for in it before the network reads it.

    Attributes:
        kalpha2: (Kα2 wavelength in Å, Kα2/Kα1 ratio) of a doublet far apart from the model's own kind, or
            None.
        kbeta: the Kβ wavelength in Å of a tube other than the model's (whose Kβ line the model's own
            ``kbeta_strip`` looks for), or None.
    """

    kalpha2: tuple[float, float] | None
    kbeta: float | None


def tube_lines(
    spec: InputSpec, kalpha1: float, kalpha2: float | None = None, ratio: float | None = None
) -> TubeLines:
    """The lines to look for in a measurement at ``kalpha1`` Å.

    Kα2: the stated ``kalpha2`` and ``ratio`` (ratio 0.5 where only the line is stated), else the Kα2 line of
    the tube whose Kα1 ``kalpha1`` is; None where that line lies no more than ``_FAR_DOUBLET`` times as far
    from Kα1 as the model's own tube's does (such a doublet is read as it is), or where the model's wavelength
    is no tube's Kα1 or no Kα2 is known. Kβ: where the model strips its own tube's Kβ residue
    (``spec.kbeta_strip``), the Kβ line of the measurement's tube when that is another tube.
    """
    kbeta = None
    if spec.kbeta_strip and round(kalpha1, 6) != round(spec.wavelength, 6):
        kbeta = KBETA_OF_KALPHA1.get(round(kalpha1, 6))
    model_kalpha2 = KALPHA2_OF_KALPHA1.get(round(spec.wavelength, 6))
    if kalpha2 is None:
        kalpha2, ratio = KALPHA2_OF_KALPHA1.get(round(kalpha1, 6)), None
    ratio = KALPHA2_RATIO if ratio is None else ratio
    if (
        model_kalpha2 is None
        or kalpha2 is None
        or not kalpha2 > kalpha1
        or not 0.0 < ratio < 1.0
        or kalpha2 / kalpha1 - 1.0 <= _FAR_DOUBLET * (model_kalpha2 / spec.wavelength - 1.0)
    ):
        return TubeLines(None, kbeta)
    return TubeLines((kalpha2, ratio), kbeta)


def strip_tube_lines(
    patterns: torch.Tensor, spec: InputSpec, kalpha1: float, lines: TubeLines
) -> torch.Tensor:
    """(N, P) patterns on the model's 2θ grid (converted from a measurement at ``kalpha1`` Å) with the
    ``lines`` of their tube removed where found: a Kβ residue (:func:`~xrdsynth.transforms.strip_kbeta`, its
    ratio estimated per pattern), then a far Kα2 line (:func:`~xrdsynth.transforms.strip_kalpha2` at the
    stated ratio, in the patterns where :func:`~xrdsynth.transforms.kalpha2_ratio` finds it). On the
    converted grid a line sits where it sits on the measured one relative to Kα1 (sin θ' = λ'/λ₁ sin θ), so
    the measurement's own wavelengths apply. Patterns without them come back as they are."""
    if lines.kalpha2 is None and lines.kbeta is None:
        return patterns
    grid = torch.as_tensor(spec.two_theta, dtype=torch.float64)
    linear = patterns.to(torch.float64)
    if lines.kbeta is not None:
        linear = strip_kbeta(linear, grid, kalpha1, lines.kbeta)
    if lines.kalpha2 is not None:
        kalpha2, ratio = lines.kalpha2
        found = torch.nonzero(kalpha2_ratio(linear, grid, kalpha1, kalpha2) > 0).squeeze(1)
        if found.numel():
            linear[found] = strip_kalpha2(linear[found], grid, kalpha1, kalpha2, ratio)
    return linear.to(patterns.dtype)


def check_measurement(
    two_theta: npt.NDArray[np.float64], intensity: npt.NDArray[np.float64], wavelength: float, spec: InputSpec
) -> float:
    """Raise ValueError unless (M,) two_theta and (N, M) intensity can be a diffraction pattern the model
    reads; warn when little of its d-range is covered. Returns the covered fraction of the model's grid."""
    if two_theta.ndim != 1:
        raise ValueError(f"two_theta must be 1-D, got shape {two_theta.shape}")
    if two_theta.size < MIN_POINTS:
        raise ValueError(f"a diffraction pattern needs at least {MIN_POINTS} points, got {two_theta.size}")
    if intensity.ndim != 2 or intensity.shape[1] != two_theta.size:
        raise ValueError(
            f"intensity must have shape ({two_theta.size},) or (N, {two_theta.size}), got {intensity.shape}"
        )
    if np.any(np.diff(two_theta) <= 0):
        raise ValueError("two_theta must be strictly increasing")
    if two_theta[0] <= 0 or two_theta[-1] >= 180:
        raise ValueError(
            f"two_theta must be degrees inside (0, 180), got {two_theta[0]:g}..{two_theta[-1]:g}"
        )
    highest, lowest = intensity.max(axis=1), intensity.min(axis=1)
    largest = np.maximum(np.abs(highest), np.abs(lowest))  # the largest |intensity| of each pattern
    for k in np.flatnonzero(highest - lowest <= 1e-12 * np.maximum(largest, 1e-300)):
        raise ValueError(f"pattern {k} is flat (every intensity {intensity[k, 0]:g}): nothing to classify")
    for k in np.flatnonzero(highest <= 0):
        raise ValueError(f"pattern {k} has no positive intensity: nothing to classify")
    # The measured range as d-spacings, on the model's 2θ scale.
    low, high = spec.covered_range(float(two_theta[0]), float(two_theta[-1]), wavelength)
    covered = max(0.0, high - low)
    fraction = covered / (spec.two_theta_max - spec.two_theta_min)
    if fraction <= 0:
        raise ValueError(
            f"the measured 2θ {two_theta[0]:g}..{two_theta[-1]:g}° at {wavelength:g} Å covers none of the "
            f"d-spacings the model reads ({spec.two_theta_min:g}..{spec.two_theta_max:g}° at "
            f"{spec.wavelength:g} Å)"
            + ("; is the first column 2θ in degrees (not radians, Q or d)?" if two_theta[-1] < 12 else "")
        )
    if fraction < _WARN_COVERAGE:
        warnings.warn(
            f"the measurement covers {fraction:.0%} of the model's range "
            f"({spec.two_theta_min:g}..{spec.two_theta_max:g}° at {spec.wavelength:g} Å): "
            "predictions are less reliable",
            UserWarning,
            stacklevel=4,
        )
    # 0.5°: a scan from 20° read at a slightly different wavelength is not late.
    if low > max(_WARN_START_DEG, spec.two_theta_min) + 0.5:
        d_max = float(d_from_two_theta(np.float64(low), spec.wavelength))
        warnings.warn(
            f"the measurement starts at {low:.1f}° on the model's scale ({spec.wavelength:g} Å; d = "
            f"{d_max:.2f} Å): the reflections of larger spacings, which tell most cells apart, are missing, "
            f"and the model reads scans that start above {_WARN_START_DEG:g}° much less well",
            UserWarning,
            stacklevel=4,
        )
    return fraction


def predictions_from_probabilities(
    probability: np.ndarray, top: int = 5, threshold: float | None = None
) -> list[Prediction]:
    """(N, 230) probabilities -> one :class:`Prediction` per row with the ``top`` groups; a row whose best
    pair probability is below ``threshold`` is marked ``abstained``."""
    symbols, systems = _group_names()
    system_index = np.array(CRYSTAL_SYSTEM_OF_GROUP)
    partner = np.array([(enantiomorph(n) or n) - 1 for n in range(1, NUM_SPACE_GROUPS + 1)])
    result = []
    for row in np.asarray(probability, dtype=np.float64):
        order = np.argsort(-row, kind="stable")[:top]
        per_system = np.bincount(system_index, weights=row, minlength=len(CRYSTAL_SYSTEMS))
        pairs = np.where(partner == np.arange(NUM_SPACE_GROUPS), row, row + row[partner])
        result.append(
            Prediction(
                space_group=tuple(int(i) + 1 for i in order),
                symbol=tuple(symbols[i] for i in order),
                crystal_system=tuple(systems[i] for i in order),
                probability=tuple(float(row[i]) for i in order),
                crystal_system_probability={
                    s: float(p) for s, p in zip(CRYSTAL_SYSTEMS, per_system, strict=True)
                },
                enantiomorph=tuple(enantiomorph(int(i) + 1) for i in order),
                pair_probability=tuple(float(pairs[i]) for i in order),
                abstained=threshold is not None and float(pairs[order[0]]) < threshold,
            )
        )
    return result
