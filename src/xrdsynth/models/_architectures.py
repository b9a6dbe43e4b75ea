"""1D network architectures that map a powder pattern to logits over the 230 space groups.

Every architecture takes patterns of shape (B, P) or (B, 1, P) (float, any P the network can reduce) and
returns logits (B, num_classes). They are built by name from :data:`ARCHITECTURES` with keyword arguments,
so that a saved model is described completely by ``(name, kwargs)`` in its card.

Names are versions, frozen once registered. A name without a suffix (``resnet10``) is version 1 of its
family; a change to anything that decides the network's parameters or its output for given weights
(layers, their order, kernel sizes, strides, padding, normalisation, activations, defaults of the keyword
arguments) is registered under the next name, ``<family>-v2``, ``-v3``, ..., next to the old version,
which stays as it is: every saved card names the exact network its weights load into with ``strict=True``.
Only changes that keep both (documentation, speed-ups with identical numbers, better error messages) edit
a registered version in place. tests/test_architectures.py holds a fingerprint of every registered version
(module tree, parameter and buffer names and shapes), so an edit in place fails there.

- ``resnet10``, ``resnet18``, ``resnet50``, ``resnet101``: 1D versions of He et al. (2016) ResNets as used
  for space-group classification by Schopmans, Reiser & Friederich (Digital Discovery 2023): GroupNorm
  instead of BatchNorm (batch statistics of on-the-fly data are not stationary), kernel size 9.
- ``park2017``: the CNN of Park et al., IUCrJ 4, 486 (2017): three wide strided convolutions with
  average pooling, then three dense layers with dropout.
- ``convnext``: a 1D ConvNeXt (Liu et al., CVPR 2022): patchify stem, depthwise convolutions with a wide
  kernel, inverted-bottleneck MLPs, LayerNorm and layer scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .._base import NUM_SPACE_GROUPS

__all__ = ["ARCHITECTURES", "ConvNeXt1d", "Park2017", "ResNet1d", "build_model"]


def _as_channels(x: torch.Tensor) -> torch.Tensor:
    """(B, P) or (B, 1, P) -> (B, 1, P)."""
    if x.ndim == 2:
        return x.unsqueeze(1)
    if x.ndim == 3 and x.shape[1] == 1:
        return x
    raise ValueError(f"patterns must have shape (B, P) or (B, 1, P), got {tuple(x.shape)}")


def _group_norm(channels: int) -> nn.GroupNorm:
    # 32 groups as in Wu & He (2018), fewer for narrow layers so that every group has >= 2 channels.
    groups = math.gcd(32, channels)
    while groups > 1 and channels // groups < 2:
        groups //= 2
    return nn.GroupNorm(groups, channels)


# ------------------------------------------------------------------------------------------------- ResNet
class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(cin, width, kernel_size, stride, pad, bias=False)
        self.norm1 = _group_norm(width)
        self.conv2 = nn.Conv1d(width, width, kernel_size, 1, pad, bias=False)
        self.norm2 = _group_norm(width)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != width:
            self.shortcut = nn.Sequential(nn.Conv1d(cin, width, 1, stride, bias=False), _group_norm(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, kernel_size: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv1d(cin, width, 1, bias=False)
        self.norm1 = _group_norm(width)
        self.conv2 = nn.Conv1d(width, width, kernel_size, stride, kernel_size // 2, bias=False)
        self.norm2 = _group_norm(width)
        self.conv3 = nn.Conv1d(width, cout, 1, bias=False)
        self.norm3 = _group_norm(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv1d(cin, cout, 1, stride, bias=False), _group_norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        y = self.norm3(self.conv3(y))
        return F.relu(y + self.shortcut(x))


class ResNet1d(nn.Module):
    """A 1D ResNet: strided stem, four stages that halve the length and double the width, global pooling.

    Args:
        depths: blocks per stage, e.g. (1, 1, 1, 1) for ResNet-10, (3, 4, 6, 3) for ResNet-50.
        bottleneck: bottleneck blocks (1-k-1 convolutions, 4x expansion) instead of basic blocks (k-k).
        width: channels of the first stage (64 in the original ResNets).
        kernel_size: kernel of the main convolutions (odd).
        stem_stride: total down-sampling of the stem (convolution stride x max-pool stride 2); 4 as in the
            original, larger for long patterns on small hardware.
        num_classes: number of logits.
        dropout: dropout before the final linear layer.
        position_points: 0 (default) for logits from the pooled features alone; else the length P of the
            input, and a second linear layer reads the last stage's features at every position (flattened:
            where along 2θ a feature stands, which global pooling discards) and adds its logits. It starts
            at zero, so a network given this head computes what it did without it.
        position_dropout: dropout on the flattened features of the position head.
    """

    def __init__(
        self,
        depths: Sequence[int] = (1, 1, 1, 1),
        bottleneck: bool = False,
        width: int = 64,
        kernel_size: int = 9,
        stem_stride: int = 4,
        num_classes: int = NUM_SPACE_GROUPS,
        dropout: float = 0.0,
        position_points: int = 0,
        position_dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1 or stem_stride < 2 or stem_stride % 2:
            raise ValueError("kernel_size must be odd and stem_stride an even number >= 2")
        block: type[_BasicBlock] | type[_Bottleneck] = _Bottleneck if bottleneck else _BasicBlock
        stem_kernel = 2 * kernel_size - 1  # a wide first look at the raw profile, like the 7x7 of ResNets
        self.stem = nn.Sequential(
            nn.Conv1d(1, width, stem_kernel, stem_stride // 2, stem_kernel // 2, bias=False),
            _group_norm(width),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(3, 2, 1),
        )
        stages: list[nn.Module] = []
        cin = width
        for i, depth in enumerate(depths):
            planes = width * 2**i
            blocks = []
            for j in range(depth):
                blocks.append(block(cin, planes, 2 if (j == 0 and i > 0) else 1, kernel_size))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, num_classes))
        self.position_points = int(position_points)
        self.position_head: nn.Module | None = None
        if self.position_points:
            with torch.no_grad():
                length = self.stages(self.stem(torch.zeros(1, 1, self.position_points))).shape[-1]
            linear = nn.Linear(cin * length, num_classes)
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)
            self.position_head = nn.Sequential(nn.Flatten(), nn.Dropout(position_dropout), linear)
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        # Zero-initialised last norm of each residual branch: every block starts as the identity (Goyal et
        # al. 2017), which makes deep variants train from the first step.
        for module in self.modules():
            if isinstance(module, _BasicBlock):
                nn.init.zeros_(module.norm2.weight)
            elif isinstance(module, _Bottleneck):
                nn.init.zeros_(module.norm3.weight)

    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P) or (B, 1, P) -> (B, C, L) the last stage's features at every position."""
        return self.stages(self.stem(_as_channels(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P) or (B, 1, P) -> (B, C) pooled features."""
        return self._maps(x).mean(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P) or (B, 1, P) -> (B, num_classes) logits."""
        if self.position_head is not None and x.shape[-1] != self.position_points:
            raise ValueError(f"this network reads {self.position_points} points, got {x.shape[-1]}")
        maps = self._maps(x)
        logits = self.head(maps.mean(dim=-1))
        return logits if self.position_head is None else logits + self.position_head(maps)


# --------------------------------------------------------------------------------------------- Park 2017
class Park2017(nn.Module):
    """The space-group CNN of Park et al. (2017): 3 convolutions (80 filters, kernels 100/50/25, strides
    5/5/2, each followed by average pooling 3/2) and dense layers 2300-1150-num_classes with dropout.

    Args:
        in_points: pattern length P (the dense layer's input size depends on it; 10001 in the paper).
        num_classes: number of logits.
        dropout: dropout rate of the dense layers (0.5 in the paper).
    """

    def __init__(self, in_points: int = 8501, num_classes: int = NUM_SPACE_GROUPS, dropout: float = 0.5):
        super().__init__()
        self.in_points = int(in_points)
        self.convs = nn.Sequential(
            nn.Conv1d(1, 80, 100, 5),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.AvgPool1d(3, 2),
            nn.Conv1d(80, 80, 50, 5),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.AvgPool1d(3, 2),
            nn.Conv1d(80, 80, 25, 2),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.AvgPool1d(3, 2),
        )
        length = self.in_points
        for module in self.convs:
            if isinstance(module, (nn.Conv1d, nn.AvgPool1d)):
                k = module.kernel_size[0] if isinstance(module.kernel_size, tuple) else module.kernel_size
                s = module.stride[0] if isinstance(module.stride, tuple) else module.stride
                length = (length - k) // s + 1
        if length < 1:
            raise ValueError(f"in_points={in_points} is too short for park2017 (needs >= 3500)")
        self.dense = nn.Sequential(
            nn.Flatten(),
            nn.Linear(80 * length, 2300),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(2300, 1150),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(1150, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_points) or (B, 1, in_points) -> (B, num_classes) logits."""
        x = _as_channels(x)
        if x.shape[-1] != self.in_points:
            raise ValueError(f"park2017 was built for {self.in_points} points, got {x.shape[-1]}")
        return self.dense(self.convs(x))


# ------------------------------------------------------------------------------------------------ ConvNeXt
class _ChannelsLastNorm(nn.Module):
    """LayerNorm over channels of a (B, C, L) tensor."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class _ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)  # (B, L, C): the MLP acts per position
        y = self.mlp(self.norm(y)) * self.gamma
        return x + y.transpose(1, 2)


class ConvNeXt1d(nn.Module):
    """A 1D ConvNeXt: patchify stem, stages of depthwise-convolution blocks, down-sampling between stages.

    Args:
        depths: blocks per stage.
        dims: channels per stage.
        kernel_size: depthwise kernel (odd; wider than 2D ConvNeXt's 7 because one point covers little 2θ).
        stem_stride: length of the non-overlapping patches of the stem.
        num_classes: number of logits.
        dropout: dropout before the final linear layer.
        layer_scale: initial value of the per-channel residual scale.
    """

    def __init__(
        self,
        depths: Sequence[int] = (2, 2, 6, 2),
        dims: Sequence[int] = (48, 96, 192, 384),
        kernel_size: int = 15,
        stem_stride: int = 4,
        num_classes: int = NUM_SPACE_GROUPS,
        dropout: float = 0.0,
        layer_scale: float = 1e-6,
    ) -> None:
        super().__init__()
        if len(depths) != len(dims) or kernel_size % 2 != 1:
            raise ValueError("depths and dims must have the same length, kernel_size must be odd")
        self.downsample = nn.ModuleList(
            [nn.Sequential(nn.Conv1d(1, dims[0], stem_stride, stem_stride), _ChannelsLastNorm(dims[0]))]
        )
        for i in range(1, len(dims)):
            self.downsample.append(
                nn.Sequential(_ChannelsLastNorm(dims[i - 1]), nn.Conv1d(dims[i - 1], dims[i], 2, 2))
            )
        self.stages = nn.ModuleList(
            nn.Sequential(*[_ConvNeXtBlock(dim, kernel_size, layer_scale) for _ in range(depth)])
            for depth, dim in zip(depths, dims, strict=True)
        )
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dims[-1], num_classes))
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P) or (B, 1, P) -> (B, C) pooled features."""
        x = _as_channels(x)
        for down, stage in zip(self.downsample, self.stages, strict=True):
            x = stage(down(x))
        return self.norm(x.mean(dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P) or (B, 1, P) -> (B, num_classes) logits."""
        return self.head(self.features(x))


# ------------------------------------------------------------------------------------------------ registry
def _resnet(depths: tuple[int, ...], bottleneck: bool) -> Callable[..., nn.Module]:
    def make(**kwargs: Any) -> nn.Module:
        return ResNet1d(depths=depths, bottleneck=bottleneck, **kwargs)

    return make


ARCHITECTURES: Mapping[str, Callable[..., nn.Module]] = MappingProxyType(
    {
        # Version 1 of each family (frozen: the shipped xrdsynth-resnet-cu depends on resnet10).
        "resnet10": _resnet((1, 1, 1, 1), False),
        "resnet18": _resnet((2, 2, 2, 2), False),
        "resnet50": _resnet((3, 4, 6, 3), True),
        "resnet101": _resnet((3, 4, 23, 3), True),
        "park2017": Park2017,
        "convnext": ConvNeXt1d,
        # Later versions go here, e.g. "resnet10-v2": a new constructor; never re-point an existing name.
    }
)
"""Architecture name -> constructor taking keyword arguments (``num_classes`` among them); read-only.
Each name is a frozen version (see the module docstring)."""


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """A freshly initialised network ``ARCHITECTURES[name](**kwargs)``.

    Raises:
        ValueError: an unknown name, or keyword arguments the architecture does not take.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    try:
        return ARCHITECTURES[name](**kwargs)
    except TypeError as error:
        raise ValueError(f"bad arguments for architecture {name!r}: {error}") from None
