"""Tensor reshaping ops with Torch7's 1-based dimensions and ``nInputDims`` batch shifts: Select, Narrow,
Squeeze, Unsqueeze, Transpose, Replicate, Sum/Mean, Max/Min, Collapse, AddConstant, Copy/Convert casts.
"""
from __future__ import annotations

import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.pytorch.families import builds_module


def _lua_dim(dim: int, nd: int) -> int:
    """A Lua dimension, negative ones counted from the end (``input:dim() + d + 1``), 0-based."""
    return (nd + dim if dim < 0 else dim - 1)


def _batch_shifted(dim: int, n_input_dims: int | None, nd: int) -> int:
    """Sum/Max/Min/JoinTable's _getPositiveDimension, 0-based."""
    if dim < 0:
        return nd + dim
    if n_input_dims is not None and nd == n_input_dims + 1:
        dim += 1
    return dim - 1


def _check_dim(d: int, nd: int, what: str) -> int:
    if not 0 <= d < nd:
        raise T7ConvertError(f"{what}: dimension {d + 1} is out of range for a {nd}-D input")
    return d


class AddConstant(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        return x + self.value

    def extra_repr(self) -> str:
        return repr(self.value)


class Cast(nn.Module):
    """``nn.Copy``: a copy into a tensor of the output type (float64 for a DoubleTensor output)."""

    def __init__(self, dtype: str | None) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x):
        return x.clone() if self.dtype is None else x.to(getattr(torch, self.dtype), copy=True)

    def extra_repr(self) -> str:
        return str(self.dtype)


class Select(nn.Module):
    def __init__(self, dim: int, index: int) -> None:
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x):
        if x.dim() < 2:
            raise T7ConvertError("nn.Select: Torch7 selects a number, not a tensor, from a 1-D input")
        d = _check_dim(_lua_dim(self.dim, x.dim()), x.dim(), "nn.Select")
        i = x.shape[d] + self.index if self.index < 0 else self.index - 1
        if not 0 <= i < x.shape[d]:
            raise T7ConvertError(f"nn.Select: index {self.index} is out of range for size {x.shape[d]}")
        return x.select(d, i)

    def extra_repr(self) -> str:
        return f"dimension={self.dim}, index={self.index}"


class Narrow(nn.Module):
    def __init__(self, dim: int, index: int, length: int) -> None:
        super().__init__()
        self.dim, self.index, self.length = dim, index, length

    def forward(self, x):
        d = _check_dim(_lua_dim(self.dim, x.dim()), x.dim(), "nn.Narrow")
        size, index, length = x.shape[d], self.index, self.length
        if length < 0:
            length = size - index + length + 2
        if index < 0:  # Narrow.lua: from the start, all but `length`
            index, length = 1, size - length
        if index < 1 or length < 1 or index - 1 + length > size:  # THTensor_narrow: size > 0
            raise T7ConvertError(f"nn.Narrow: offset {index} length {length} is out of range for size {size}")
        return x.narrow(d, index - 1, length)

    def extra_repr(self) -> str:
        return f"dimension={self.dim}, offset={self.index}, length={self.length}"


class Squeeze(nn.Module):
    """Torch7's squeeze: never drops the last dimension; with numInputDims a batch of one stays."""

    def __init__(self, dim: int | None, num_input_dims: int | None) -> None:
        super().__init__()
        self.dim, self.num_input_dims = dim, num_input_dims

    def forward(self, x):
        dim, addone = self.dim, False
        if self.num_input_dims is not None and x.dim() == self.num_input_dims + 1:
            if dim is not None:
                dim += 1
            elif x.shape[0] == 1:
                addone = True
        if dim is not None:
            d = _check_dim(dim - 1, x.dim(), "nn.Squeeze")
            out = x.squeeze(d) if x.dim() > 1 else x
        else:
            kept = [s for s in x.shape if s != 1]
            out = x.reshape(kept if kept or x.dim() == 0 else [1])
        return out.unsqueeze(0) if addone else out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, numInputDims={self.num_input_dims}"


class Unsqueeze(nn.Module):
    def __init__(self, pos: int, num_input_dims: int | None) -> None:
        super().__init__()
        self.pos, self.num_input_dims = pos, num_input_dims

    def forward(self, x):
        nd = x.dim()
        offset = nd - (self.num_input_dims if self.num_input_dims is not None else nd)
        if offset < 0 or offset + self.pos > nd + 1:
            raise T7ConvertError(f"nn.Unsqueeze({self.pos}): does not fit a {nd}-D input")
        return x.unsqueeze(offset + self.pos - 1)

    def extra_repr(self) -> str:
        return f"pos={self.pos}, numInputDims={self.num_input_dims}"


class Transpose(nn.Module):
    def __init__(self, pairs: list[list[int]], num_input_dims: int | None) -> None:
        super().__init__()
        self.pairs, self.num_input_dims = [list(p) for p in pairs], num_input_dims

    def forward(self, x):
        offset = x.dim() - self.num_input_dims if self.num_input_dims is not None else 0
        for a, b in self.pairs:
            x = x.transpose(_check_dim(a + offset - 1, x.dim(), "nn.Transpose"),
                            _check_dim(b + offset - 1, x.dim(), "nn.Transpose"))
        return x.contiguous()

    def extra_repr(self) -> str:
        return f"{self.pairs}, numInputDims={self.num_input_dims}"


class Replicate(nn.Module):
    def __init__(self, n: int, dim: int, ndim: int | None) -> None:
        super().__init__()
        self.n, self.dim, self.ndim = n, dim, ndim

    def forward(self, x):
        if self.dim > x.dim() + 1:
            raise T7ConvertError(f"nn.Replicate: not enough input dimensions to replicate along {self.dim}")
        rdim = self.dim + (1 if self.ndim is not None and x.dim() > self.ndim else 0)
        y = x.unsqueeze(rdim - 1)
        shape = list(y.shape)
        shape[rdim - 1] = self.n
        return y.expand(shape)

    def extra_repr(self) -> str:
        return f"{self.n}, dim={self.dim}, ndim={self.ndim}"


class Sum(nn.Module):
    """``nn.Sum`` / ``nn.Mean``: the selected dimension summed (averaged), dropped unless the result is 1-D."""

    def __init__(self, dim: int, n_input_dims: int | None, average: bool, squeeze: bool = True) -> None:
        super().__init__()
        self.dim, self.n_input_dims, self.average, self.squeeze = dim, n_input_dims, average, squeeze

    def forward(self, x):
        d = _check_dim(_batch_shifted(self.dim, self.n_input_dims, x.dim()), x.dim(), "nn.Sum")
        y = x.sum(d, keepdim=True)
        if self.average:
            y = y / x.shape[d]
        return y.squeeze(d) if self.squeeze and y.dim() > 1 else y

    def _get_name(self) -> str:
        return "Mean" if self.average else "Sum"

    def extra_repr(self) -> str:
        return f"dimension={self.dim}, nInputDims={self.n_input_dims}"


class MaxMin(nn.Module):
    """``nn.Max`` / ``nn.Min``: values only, the dimension dropped unless the input is 1-D."""

    def __init__(self, kind: str, dim: int, n_input_dims: int | None) -> None:
        super().__init__()
        self.kind, self.dim, self.n_input_dims = kind, dim, n_input_dims

    def forward(self, x):
        d = _check_dim(_batch_shifted(self.dim, self.n_input_dims, x.dim()), x.dim(), f"nn.{self._get_name()}")
        y = torch.amax(x, d, keepdim=True) if self.kind == "max" else torch.amin(x, d, keepdim=True)
        return y.squeeze(d) if x.dim() > 1 else y

    def _get_name(self) -> str:
        return "Max" if self.kind == "max" else "Min"

    def extra_repr(self) -> str:
        return f"dimension={self.dim}, nInputDims={self.n_input_dims}"


class Collapse(nn.Module):
    def __init__(self, n_input_dim: int) -> None:
        super().__init__()
        self.n_input_dim = n_input_dim

    def forward(self, x):
        x = x.contiguous()
        return x.reshape(x.shape[0], -1) if x.dim() > self.n_input_dim else x.reshape(-1)

    def extra_repr(self) -> str:
        return f"nInputDim={self.n_input_dim}"


class WhiteNoise(nn.Module):
    """dpnn's WhiteNoise: in training ``x + N(mean, std)`` for each element; at test time ``x + mean``."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (mean, std)) or not std >= 0:
            raise T7ConvertError(f"a converted nn.WhiteNoise has mean {mean!r} and std {std!r}")
        self.mean, self.std = float(mean), float(std)

    def forward(self, x):
        if self.training:
            return x + torch.empty_like(x).normal_(self.mean, self.std)
        return x + self.mean if self.mean != 0 else x

    def _get_name(self) -> str:
        return "WhiteNoise[nn.WhiteNoise]"

    def extra_repr(self) -> str:
        return f"mean={self.mean:g}, std={self.std:g}; train: x + N(mean, std); eval: x + mean"


builds_module("AddConstant", AddConstant)
builds_module("Cast", Cast)
builds_module("Select", Select)
builds_module("Narrow", Narrow)
builds_module("Squeeze", Squeeze)
builds_module("Unsqueeze", Unsqueeze)
builds_module("Transpose", Transpose)
builds_module("Replicate", Replicate)
builds_module("Sum", Sum)
builds_module("MaxMin", MaxMin)
builds_module("Collapse", Collapse)
builds_module("WhiteNoise", WhiteNoise)
