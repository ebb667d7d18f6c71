"""LookupTable, SparseLinear, IndexLinear and Kmeans. Index inputs may be float or integer tensors:
Torch7 copies them into LongTensors (truncating toward zero), and these modules do the same.
"""
from __future__ import annotations

import torch
from torch import nn

from t7convert.pytorch.families import builds_module


def _indices(x: torch.Tensor, low: int, high: int, name: str) -> torch.Tensor:
    """1-based indices in [low, high] as a LongTensor (truncated as C's cast truncates)."""
    idx = x.long() if x.is_floating_point() else x.to(torch.long)
    if idx.is_meta:  # the memory plan's dry run: shapes only, the values are checked when it runs
        return idx
    if idx.numel():  # torch._check: a runtime assertion in torch.export programs, not a data-dependent branch
        message = lambda: f"{name}: index out of range (not between {low} and {high})"  # noqa: E731
        torch._check_with(IndexError, idx.min().item() >= low, message)
        torch._check_with(IndexError, idx.max().item() <= high, message)
    return idx


class LookupTable(nn.Module):
    """``weight[index]``; ``offset`` 1 (rnn's LookupTableMaskZero) looks up ``index + 1``."""

    def __init__(self, num: int, dim: int, offset: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, dim))
        self.offset = offset

    def forward(self, x):
        if x.dim() not in (1, 2):
            raise ValueError(f"LookupTable takes a vector or matrix of indices, got {tuple(x.shape)}")
        if self.offset:  # ``__input:add(input, 1)`` in the input's own type, then LookupTable's long copy
            x = x + self.offset
        return self.weight[_indices(x, 1, self.weight.shape[0], "LookupTable") - 1]


class SparseLinear(nn.Module):
    """``bias + sum value * weight[:, index]`` over a sample's (index, value) rows; zero values are skipped
    (their index unchecked), as THNN's SparseLinear does."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features))

    def _sample(self, pairs: torch.Tensor) -> torch.Tensor:
        if pairs.dim() != 2 or pairs.shape[1] != 2:
            raise ValueError(f"SparseLinear takes (nnz, 2) samples of (index, value), got {tuple(pairs.shape)}")
        values = pairs[:, 1].to(self.weight.dtype)
        # a zero value's index is not checked (THNN skips it): it reads column 1, times 0 (no boolean mask,
        # whose data-dependent size torch.export cannot trace)
        keys = torch.where(values != 0, pairs[:, 0], torch.ones_like(pairs[:, 0]))
        idx = _indices(keys, 1, self.weight.shape[1], "SparseLinear")
        # index_select, not weight[:, idx]: the ONNX exporter mistranslates that indexing (measured: 0.76 off)
        return self.bias + self.weight.index_select(1, idx - 1) @ torch.where(values != 0, values, torch.zeros_like(values))

    def forward(self, x):
        if isinstance(x, (list, tuple)):
            return torch.stack([self._sample(s) for s in x]) if x else self.bias.clone()
        if x.dim() == 3:
            return torch.stack([self._sample(s) for s in x])
        return self._sample(x)


class IndexLinear(nn.Module):
    """``bias + sum values[i] * weight[keys[i] + offset]`` per sample; input [keys, values] (one sample),
    [[keys...], [values...]] (a batch) or [keys, values, sizes] (a flat batch)."""

    def __init__(self, in_features: int, out_features: int, offset: int) -> None:
        super().__init__()
        self.offset = offset
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))

    def _sample(self, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        if keys.dim() != 1 or values.dim() != 1 or keys.numel() != values.numel():
            raise ValueError("IndexLinear: keys and values should be 1-D and of the same size")
        rows = _indices(keys, -self.offset, self.weight.shape[0] - 1 - self.offset, "IndexLinear") + self.offset
        return self.bias + values.to(self.weight.dtype) @ self.weight[rows]

    def forward(self, xs):
        if not isinstance(xs, (list, tuple)) or len(xs) not in (2, 3):
            raise ValueError("IndexLinear takes a table {keys, values} or {keys, values, sizes}")
        if len(xs) == 3:
            sizes = [int(s) for s in xs[2].reshape(-1)]
            if sum(sizes) != xs[0].numel():
                raise ValueError("IndexLinear: sizes do not add up to the number of keys")
            keys, values = xs[0].split(sizes), xs[1].split(sizes)
            return torch.stack([self._sample(k, v) for k, v in zip(keys, values)])
        keys, values = xs
        if isinstance(keys, (list, tuple)):
            return torch.stack([self._sample(k, v) for k, v in zip(keys, values)])
        return self._sample(keys, values)


class Kmeans(nn.Module):
    """The 1-based index, as a float, of each row's nearest centroid (squared distance, first of equals)."""

    def __init__(self, k: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, dim))

    def forward(self, x):
        if x.dim() != 2 or x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"Kmeans takes (batch, {self.weight.shape[1]}) input, got {tuple(x.shape)}")
        distances = (x.unsqueeze(0) - self.weight.unsqueeze(1)).pow(2).sum(dim=2)  # (k, batch)
        return (distances.argmin(dim=0) + 1).to(x.dtype)


builds_module("LookupTable", LookupTable)
builds_module("SparseLinear", SparseLinear)
builds_module("IndexLinear", IndexLinear)
builds_module("Kmeans", Kmeans)
