"""Classifier: a network plus everything needed to apply it to a measured powder pattern."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from ..simulate import resolve_wavelength
from ..symmetry import CRYSTAL_SYSTEMS, SpaceGroup, crystal_system
from ._architectures import NUM_SPACE_GROUPS, build_model

__all__ = ["Classifier", "InputSpec", "Prediction"]

_RAD = math.pi / 180.0


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
    """

    two_theta_min: float = 5.0
    two_theta_max: float = 90.0
    num_points: int = 8501
    wavelength: float = 1.540593
    sqrt_scale: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.two_theta_min < self.two_theta_max < 180.0:
            raise ValueError(f"need 0 <= two_theta_min < two_theta_max < 180, got {self}")
        if int(self.num_points) < 16:
            raise ValueError(f"num_points must be >= 16, got {self.num_points}")
        if not self.wavelength > 0:
            raise ValueError(f"wavelength must be positive, got {self.wavelength}")

    @property
    def two_theta(self) -> npt.NDArray[np.float64]:
        """(P,) float64 grid in degrees."""
        return np.linspace(self.two_theta_min, self.two_theta_max, int(self.num_points))

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for the JSON card (``InputSpec(**spec.to_dict())`` rebuilds it)."""
        return {
            "two_theta_min": float(self.two_theta_min),
            "two_theta_max": float(self.two_theta_max),
            "num_points": int(self.num_points),
            "wavelength": float(self.wavelength),
            "sqrt_scale": bool(self.sqrt_scale),
        }


@dataclass(frozen=True)
class Prediction:
    """The most probable space groups of one pattern, best first.

    Attributes:
        space_group: the top-k space-group numbers (1..230).
        symbol: their Hermann–Mauguin symbols (spglib's default settings).
        crystal_system: their crystal systems.
        probability: their probabilities.
        crystal_system_probability: probability of each of the 7 crystal systems (summed over its groups).
    """

    space_group: tuple[int, ...]
    symbol: tuple[str, ...]
    crystal_system: tuple[str, ...]
    probability: tuple[float, ...]
    crystal_system_probability: Mapping[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        rows = [
            f"{i + 1}. {n:>3} {s:<12} {c:<12} {p:7.2%}"
            for i, (n, s, c, p) in enumerate(
                zip(self.space_group, self.symbol, self.crystal_system, self.probability, strict=True)
            )
        ]
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for JSON."""
        return {
            "space_groups": [
                {"number": n, "symbol": s, "crystal_system": c, "probability": p}
                for n, s, c, p in zip(
                    self.space_group, self.symbol, self.crystal_system, self.probability, strict=True
                )
            ],
            "crystal_systems": dict(self.crystal_system_probability),
        }


def _as_float_array(value: Any, name: str) -> npt.NDArray[np.float64]:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {type(value).__name__}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def resample_pattern(
    two_theta: npt.ArrayLike,
    intensity: npt.ArrayLike,
    wavelength: float,
    spec: InputSpec,
) -> npt.NDArray[np.float64]:
    """Measured patterns on the grid and wavelength of ``spec``.

    Each measured 2θ is converted to d = λ / (2 sin θ) and then to 2θ' at ``spec.wavelength``; the intensity
    is averaged over each grid cell of ``spec`` that holds two or more measured points (the integral of the
    linearly interpolated pattern over the cell divided by its width), so that finely sampled patterns are
    not aliased; other cells take the linearly interpolated value at their centre. Grid cells outside the
    measured range are 0.

    Args:
        two_theta: (M,) degrees, strictly increasing, shared by all patterns.
        intensity: (M,) or (N, M).
        wavelength: Å, of the measurement.
        spec: the target grid.

    Returns:
        (N, P) float64, not normalised.
    """
    x = _as_float_array(two_theta, "two_theta")
    y = _as_float_array(intensity, "intensity")
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"two_theta must be 1-D with >= 2 points, got shape {x.shape}")
    if y.ndim == 1:
        y = y[None]
    if y.ndim != 2 or y.shape[1] != x.size:
        raise ValueError(f"intensity must have shape ({x.size},) or (N, {x.size}), got {y.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("two_theta must be strictly increasing")
    if x[0] <= 0 or x[-1] >= 180:
        raise ValueError(f"two_theta must lie in (0, 180) degrees, got {x[0]:g}..{x[-1]:g}")
    if not wavelength > 0 or not math.isfinite(wavelength):
        raise ValueError(f"wavelength must be a positive number of Å, got {wavelength}")
    # 2θ at the model's wavelength; reflections that do not exist there (sin > 1) are dropped.
    sine = spec.wavelength / wavelength * np.sin(x * _RAD / 2.0)
    inside = sine < 1.0
    x2 = 2.0 * np.arcsin(sine[inside]) / _RAD
    y2 = y[:, inside]
    if x2.size < 2:
        raise ValueError("no measured point falls within 2θ < 180° at the model's wavelength")
    grid = spec.two_theta
    step = (grid[-1] - grid[0]) / (grid.size - 1)
    edges = np.concatenate([[grid[0] - step / 2], grid[:-1] + step / 2, [grid[-1] + step / 2]])
    # Cumulative integral of the piecewise-linear pattern at the measured points and at the cell edges.
    cumulative = np.concatenate(
        [np.zeros((y2.shape[0], 1)), np.cumsum(0.5 * (y2[:, 1:] + y2[:, :-1]) * np.diff(x2), axis=1)], axis=1
    )
    e = np.clip(edges, x2[0], x2[-1])
    j, t = _bracket(x2, e)
    y_at = y2[:, j] + t * (y2[:, j + 1] - y2[:, j])
    c_edges = cumulative[:, j] + 0.5 * (y2[:, j] + y_at) * (e - x2[j])
    covered = np.diff(e)
    out = np.zeros((y2.shape[0], grid.size))
    ok = covered > 1e-9 * step
    out[:, ok] = np.diff(c_edges, axis=1)[:, ok] / covered[ok]
    # Cells holding fewer than two measured points take the interpolated value at their centre instead:
    # averaging would only smooth a pattern that is no finer than the grid.
    points_in_cell = np.diff(np.searchsorted(x2, edges))
    sparse = ok & (points_in_cell < 2)
    # Interpolation weights depend only on the grids, so they are found once for all patterns; centres
    # beyond the scan take its end value (as np.interp would).
    k, w = _bracket(x2, np.clip(grid[sparse], x2[0], x2[-1]))
    out[:, sparse] = y2[:, k] + w * (y2[:, k + 1] - y2[:, k])
    return out


def _bracket(x: npt.NDArray[np.float64], points: npt.NDArray[np.float64]) -> tuple[np.ndarray, np.ndarray]:
    """For points within [x[0], x[-1]]: the interval index j (x[j] <= point <= x[j+1]) and the fraction
    of the way from x[j] to x[j+1], for linear interpolation on the increasing grid x."""
    j = np.clip(np.searchsorted(x, points, side="right") - 1, 0, x.size - 2)
    return j, (points - x[j]) / (x[j + 1] - x[j])


def preprocess(patterns: torch.Tensor, sqrt_scale: bool) -> torch.Tensor:
    """(B, P) patterns -> what the network reads: clipped at 0, divided by the maximum, optionally √.

    Idempotent on the simulator's output (already max-normalised, and √ when ``sqrt_scale``), so that
    training data and measured patterns take the same path.
    """
    patterns = patterns.clamp_min(0.0)
    peak = patterns.amax(dim=-1, keepdim=True)
    patterns = patterns / torch.where(peak > 0, peak, torch.ones_like(peak))
    return patterns.sqrt() if sqrt_scale else patterns


class Classifier(nn.Module):
    """A space-group classifier: network, input grid, preprocessing and model card.

    Args:
        model: a network mapping (B, P) patterns to (B, 230) logits.
        spec: the grid, wavelength and scaling the network was trained on.
        architecture: name in :data:`xrdsynth.models.ARCHITECTURES` (recorded in the card, used to rebuild).
        architecture_kwargs: keyword arguments that rebuild the network with :func:`build_model`.
        card: free-form model card (recipe, data, accuracies, ...), stored as JSON next to the weights.

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
    ) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.architecture = architecture
        self.architecture_kwargs = dict(architecture_kwargs or {})
        self.card: dict[str, Any] = dict(card or {})

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
            f"({s.num_points} points) at {s.wavelength:g} Å, sqrt_scale={s.sqrt_scale}"
        )

    @property
    def device(self) -> torch.device:
        """Where the network's parameters are."""
        return next(self.parameters()).device

    @property
    def two_theta(self) -> npt.NDArray[np.float64]:
        """(P,) the grid the network reads, degrees at ``spec.wavelength``."""
        return self.spec.two_theta

    def forward(self, patterns: torch.Tensor) -> torch.Tensor:
        """(B, P) patterns on the model's grid (any positive scale) -> (B, 230) logits."""
        if patterns.ndim == 3 and patterns.shape[1] == 1:
            patterns = patterns[:, 0]
        if patterns.ndim != 2 or patterns.shape[1] != self.spec.num_points:
            raise ValueError(
                f"patterns must have shape (B, {self.spec.num_points}) on the model's grid, "
                f"got {tuple(patterns.shape)}; use predict_proba for patterns on other grids"
            )
        return self.model(preprocess(patterns, self.spec.sqrt_scale))

    @torch.no_grad()
    def probabilities_on_grid(self, patterns: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(B, P) patterns on the model's grid -> (B, 230) probabilities (eval mode, in batches)."""
        was_training = self.training
        self.eval()
        try:
            out = [
                torch.softmax(self(patterns[i : i + batch_size].to(self.device, torch.float32)), dim=-1)
                for i in range(0, len(patterns), batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(out)

    def predict_proba(
        self,
        two_theta: npt.ArrayLike,
        intensity: npt.ArrayLike,
        wavelength: float | str | None = None,
        batch_size: int = 256,
    ) -> npt.NDArray[np.float64]:
        """Space-group probabilities of measured patterns.

        Args:
            two_theta: (M,) measured grid in degrees, strictly increasing (any spacing).
            intensity: (M,) one pattern or (N, M) patterns on that grid (counts or any linear scale).
            wavelength: of the measurement, Å or a named line ("CuKa1", ...; for "CuKa" the Kα1 value is
                used); None means the model's own wavelength.
            batch_size: patterns per forward pass.

        Returns:
            (N, 230) float64; column k is space group k + 1; rows sum to 1.

        Raises:
            ValueError: NaN or infinite values, an unsorted grid, mismatched lengths, a bad wavelength.
        """
        lam = self.spec.wavelength if wavelength is None else resolve_wavelength(wavelength).wavelength
        grid = resample_pattern(two_theta, intensity, lam, self.spec)
        tensor = torch.as_tensor(grid, dtype=torch.float32)
        return self.probabilities_on_grid(tensor, batch_size).double().cpu().numpy()

    def predict(
        self,
        two_theta: npt.ArrayLike,
        intensity: npt.ArrayLike,
        wavelength: float | str | None = None,
        top: int = 5,
    ) -> list[Prediction]:
        """The ``top`` most probable space groups of each pattern (see :meth:`predict_proba`).

        Returns:
            One :class:`Prediction` per pattern (a list of length 1 for a single pattern).
        """
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= NUM_SPACE_GROUPS:
            raise ValueError(f"top must be an int in 1..{NUM_SPACE_GROUPS}, got {top!r}")
        return predictions_from_probabilities(self.predict_proba(two_theta, intensity, wavelength), top)


def predictions_from_probabilities(probability: np.ndarray, top: int = 5) -> list[Prediction]:
    """(N, 230) probabilities -> one :class:`Prediction` per row with the ``top`` groups."""
    symbols, systems = _group_names()
    system_index = np.array([CRYSTAL_SYSTEMS.index(s) for s in systems])
    result = []
    for row in np.asarray(probability, dtype=np.float64):
        order = np.argsort(-row, kind="stable")[:top]
        per_system = np.bincount(system_index, weights=row, minlength=len(CRYSTAL_SYSTEMS))
        result.append(
            Prediction(
                space_group=tuple(int(i) + 1 for i in order),
                symbol=tuple(symbols[i] for i in order),
                crystal_system=tuple(systems[i] for i in order),
                probability=tuple(float(row[i]) for i in order),
                crystal_system_probability={
                    s: float(p) for s, p in zip(CRYSTAL_SYSTEMS, per_system, strict=True)
                },
            )
        )
    return result

