"""Torch7's padding modules: zero/reflection/replication padding where a negative amount crops, and
nn.Padding's insertion of a block of a constant along one dimension."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.pytorch.families import builds_module


class PadTHNN(nn.Module):
    """Crops the sides with a negative amount, then pads the others (``F.pad`` order: left, right, top,
    bottom, front, back); THNN's kernels give the same (their ``iStart = max(0, -pad)``)."""

    def __init__(self, mode: str, pads: list[int], ranks: list[int]) -> None:
        super().__init__()
        self.mode, self.pads, self.ranks = mode, pads, ranks

    def forward(self, x):
        if x.dim() not in self.ranks:
            raise T7ConvertError(f"padding expects a {' or '.join(f'{r}D' for r in self.ranks)} input, got {tuple(x.shape)}")
        for k in range(len(self.pads) // 2):
            dim = x.dim() - 1 - k
            before, after = self.pads[2 * k], self.pads[2 * k + 1]
            start, stop = max(0, -before), x.shape[dim] - max(0, -after)
            if stop - start + max(0, before) + max(0, after) < 1:
                raise T7ConvertError(f"padding {self.pads} leaves nothing of an input {tuple(x.shape)}")
            x = x.narrow(dim, start, max(0, stop - start))
        grow = [max(0, p) for p in self.pads]
        if self.mode == "reflect" and any(g >= x.shape[x.dim() - 1 - k // 2] for k, g in enumerate(grow)):
            raise T7ConvertError(f"reflection padding {self.pads} is not smaller than the input {tuple(x.shape)}")
        if self.mode == "constant":
            return F.pad(x, grow)
        return F.pad(x, grow, mode=self.mode)

    def extra_repr(self) -> str:
        return f"{self.mode}, pads={self.pads}"


class PaddingTHNN(nn.Module):
    """``nn.Padding``: ``|pad|`` entries of ``value`` inserted along ``dim`` (see the converter)."""

    def __init__(self, dim: int, pad: int, n_input_dim: int | None, value: float, index: int) -> None:
        super().__init__()
        self.dim, self.pad, self.n_input_dim, self.value, self.index = dim, pad, n_input_dim, value, index

    def forward(self, x):
        dim = self.dim + (1 if self.n_input_dim is not None and x.dim() != self.n_input_dim else 0)
        if dim > x.dim():
            raise T7ConvertError(f"nn.Padding: dimension {dim} is out of range for a {x.dim()}D input")
        d, size = dim - 1, x.shape[dim - 1]
        at = size - self.index + 2 if self.pad > 0 else self.index
        if not 1 <= at <= size + 1:
            raise T7ConvertError(f"nn.Padding: index {self.index} is out of range for size {size}")
        shape = list(x.shape)
        shape[d] = abs(self.pad)
        block = torch.full(shape, self.value, dtype=x.dtype, device=x.device)
        return torch.cat([x.narrow(d, 0, at - 1), block, x.narrow(d, at - 1, size - at + 1)], d)


builds_module("PadTHNN", PadTHNN)
builds_module("PaddingTHNN", PaddingTHNN)
