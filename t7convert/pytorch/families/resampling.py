"""Nearest and align-corners linear up-sampling, PixelShuffle, as Torch7 computes them."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.pytorch.families import builds_module


def _spatial_dims(x, ranks: list[int], what: str) -> int:
    """How many trailing dimensions are resampled: 2 for the lower accepted rank pair, 3 for 5-D."""
    if x.dim() not in ranks:
        raise T7ConvertError(f"{what} expects a {' or '.join(f'{r}D' for r in ranks)} input, got {tuple(x.shape)}")
    return 3 if x.dim() == 5 else 2


class UpsampleNearest(nn.Module):
    """Each value repeated ``scale`` times along the last 2 (or, for 5-D, 3) dimensions."""

    def __init__(self, scale: int, ranks: list[int]) -> None:
        super().__init__()
        self.scale, self.ranks = scale, ranks

    def forward(self, x):
        for dim in range(-_spatial_dims(x, self.ranks, "nearest up-sampling"), 0):
            x = x.repeat_interleave(self.scale, dim)
        return x


class UpsampleLinear(nn.Module):
    """THNN's bilinear/trilinear up-sampling, ``align_corners=True``, to ``in * scale`` or a fixed size."""

    def __init__(self, ranks: list[int], scale: int | None = None, size: list[int] | None = None,
                 depth: int | None = None) -> None:
        super().__init__()
        self.ranks, self.scale, self.size, self.depth = ranks, scale, size, depth

    def forward(self, x):
        nd = _spatial_dims(x, self.ranks, "linear up-sampling")
        if self.scale is not None:
            size = [n * self.scale for n in x.shape[-nd:]]
        elif nd == 3:
            if self.depth is None:
                raise T7ConvertError("nn.UpSampling: no output depth was given for volumetric up-sampling")
            size = [self.depth, *self.size]
        else:
            size = list(self.size)
        if min(size) < 1:
            raise T7ConvertError(f"linear up-sampling to {size}: the output size must be positive")
        for k, n_out in enumerate(size):
            x = _linear_axis(x, x.dim() - nd + k, n_out)
        return x


def _linear_axis(x: torch.Tensor, dim: int, n_out: int) -> torch.Tensor:
    """THNN's align-corners interpolation along one dimension: the source position ``r * o`` and
    ``r = (in - 1) / (out - 1)`` in float32 whatever the tensor type (as the C computes them), which
    PyTorch's kernels do in the tensor's type."""
    n_in = x.shape[dim]
    r = torch.tensor(n_in - 1, dtype=torch.float32) / (n_out - 1) if n_out > 1 else torch.tensor(0.0)
    src = r * torch.arange(n_out, dtype=torch.float32)
    i0 = src.long()
    i1 = i0 + (i0 < n_in - 1).long()
    w1 = (src - i0.float()).to(x.dtype).to(x.device)
    shape = [1] * x.dim()
    shape[dim] = n_out
    w1 = w1.view(shape)
    return x.index_select(dim, i0.to(x.device)) * (1 - w1) + x.index_select(dim, i1.to(x.device)) * w1


class PixelShuffle(nn.Module):
    """``nn.PixelShuffle(r)``: channel ``c*r*r + i*r + j`` goes to ``(c, r*h + i, r*w + j)``; 3-D or 4-D."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        if x.dim() not in (3, 4) or x.shape[-3] % (self.factor ** 2):
            raise T7ConvertError(f"nn.PixelShuffle({self.factor}) expects 3D or 4D input with channels divisible by "
                                 f"{self.factor ** 2}, got {tuple(x.shape)}")
        return F.pixel_shuffle(x, self.factor)


builds_module("UpsampleNearest", UpsampleNearest)
builds_module("UpsampleLinear", UpsampleLinear)
builds_module("PixelShuffle", PixelShuffle)
