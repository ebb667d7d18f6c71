"""torch.nn modules with Torch7's semantics, and the builder that turns a node tree into modules.

Where PyTorch has the exact equivalent (convolution, batch norm, linear, ReLU) the builder uses it; the
modules here cover what differs: Torch7's table containers (ConcatTable returns a list, CAddTable sums
it, JoinTable and Concat count dimensions from 1 and shift by a batch dimension), ``nn.View``'s batch
inference, pooling output sizes (Torch7 only drops a last window that starts in the padding when there
is padding; cudnn.torch never does), and Dropout's test-time scaling.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.tree import Node


class ConcatTable(nn.Module):
    """Applies every child to the same input; returns the list of outputs (Torch7's ``nn.ConcatTable``)."""

    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        for i, m in enumerate(modules):  # named 0, 1... like nn.Sequential, so state_dict keys match nodes
            self.add_module(str(i), m)

    def forward(self, x):
        return [m(x) for m in self.children()]

    def _get_name(self) -> str:
        return "ConcatTable"


class CAddTable(nn.Module):
    """Sums a list of tensors (``nn.CAddTable``)."""

    def forward(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def _join_dim(dim: int, n_input_dims: int | None, first: torch.Tensor) -> int:
    """Torch7's 1-based join dimension -> 0-based, as JoinTable:_getPositiveDimension does."""
    if dim < 0:
        return first.dim() + dim
    if n_input_dims is not None and first.dim() == n_input_dims + 1:
        dim += 1
    return dim - 1


class JoinTable(nn.Module):
    """Concatenates a list of tensors along Torch7's ``dimension`` (``nn.JoinTable``)."""

    def __init__(self, dim: int, n_input_dims: int | None = None) -> None:
        super().__init__()
        self.dim, self.n_input_dims = dim, n_input_dims

    def forward(self, xs):
        return torch.cat(list(xs), _join_dim(self.dim, self.n_input_dims, xs[0]))

    def extra_repr(self) -> str:
        return f"dimension={self.dim}, nInputDims={self.n_input_dims}"


class Concat(nn.Module):
    """Applies every child to the input and concatenates along the absolute 1-based ``dim`` (``nn.Concat``)."""

    def __init__(self, dim: int, modules: list[nn.Module]) -> None:
        super().__init__()
        self.dim = dim
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def forward(self, x):
        return torch.cat([m(x) for m in self.children()], self.dim - 1)

    def extra_repr(self) -> str:
        return f"dimension={self.dim}"


class CatTable(nn.Module):
    """Concatenates a table of tensors along Torch7's absolute 1-based ``dim`` (the join of ``nn.Concat``,
    whose branches the DAG runs as nodes of their own)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, xs):
        return torch.cat(list(xs), self.dim - 1)

    def extra_repr(self) -> str:
        return f"dimension={self.dim}"


class View(nn.Module):
    """``nn.View(sizes):setNumInputDims(n)``: a reshape that infers Torch7's batch dimension."""

    def __init__(self, sizes: list[int], num_input_dims: int | None = None) -> None:
        super().__init__()
        self.sizes, self.num_input_dims = list(sizes), num_input_dims
        self.num_elements = math.prod(s for s in sizes if s >= 0)

    def forward(self, x):
        nd = x.dim()
        maxdim = self.num_input_dims if self.num_input_dims is not None else nd
        inner = math.prod(x.shape[nd - maxdim:]) if maxdim > 0 else 1
        if self.num_elements == 0 or inner % self.num_elements:
            raise T7ConvertError(f"nn.View: input {tuple(x.shape)} does not match the view {self.sizes}")
        batch = 1 if -1 in self.sizes else inner // self.num_elements
        batch *= math.prod(x.shape[: nd - maxdim]) if nd - maxdim > 0 else 1
        if batch == 1 and (self.num_input_dims is None or nd <= self.num_input_dims):
            return x.reshape(self.sizes)
        return x.reshape([batch, *self.sizes])

    def extra_repr(self) -> str:
        return f"{self.sizes}, numInputDims={self.num_input_dims}"


class Reshape(nn.Module):
    """``nn.Reshape``: like View, with Torch7's rule for when the first dimension is a batch."""

    def __init__(self, sizes: list[int], batch_mode: bool | None = None) -> None:
        super().__init__()
        self.sizes, self.batch_mode = list(sizes), batch_mode
        self.nelement = math.prod(sizes)

    def forward(self, x):
        x = x.contiguous()
        if self.batch_mode is False or (self.batch_mode is None and x.numel() == self.nelement and x.shape[0] != 1):
            return x.reshape(self.sizes)
        return x.reshape([x.shape[0], *self.sizes])


class MulConstant(nn.Module):
    def __init__(self, scalar: float) -> None:
        super().__init__()
        self.scalar = scalar

    def forward(self, x):
        return x * self.scalar

    def extra_repr(self) -> str:
        return repr(self.scalar)


class Scale(nn.Module):
    """Dropout at test time: the identity (``v2``) or a multiplication by ``1 - p`` (Torch7's v1 default)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x if self.factor == 1.0 else x * self.factor

    def extra_repr(self) -> str:
        return repr(self.factor)


class SoftMax(nn.Module):
    """Torch7's SoftMax/LogSoftMax pick the dimension from the input's rank: nn's over the planes
    (1-D/3-D: dimension 0, else 1), cudnn's (``over="instance"``) over all of a sample's values."""

    def __init__(self, log: bool = False, over: str = "planes") -> None:
        super().__init__()
        self.log, self.over = log, over

    def forward(self, x):
        if self.over == "instance" and x.dim() >= 3:
            batch = x.dim() == 4
            flat = x.reshape(x.shape[0], -1) if batch else x.reshape(1, -1)
            out = F.log_softmax(flat, 1) if self.log else F.softmax(flat, 1)
            return out.reshape(x.shape)
        dim = 0 if x.dim() in (1, 3) else 1
        return F.log_softmax(x, dim) if self.log else F.softmax(x, dim)

    def _get_name(self) -> str:
        return "LogSoftMax" if self.log else "SoftMax"


class Pointwise(nn.Module):
    """One of Torch7's element-wise transfer functions (``fn``), with THNN's float32 rules: HardTanh's
    bounds inclusive and NaN mapped to ``max`` (kept only by the in-place loop over a contiguous tensor of
    2+ dimensions), the shrinks mapping NaN to 0, SoftPlus linear where ``beta * x > threshold``."""

    FUNCTIONS = ("sigmoid", "tanh", "hardtanh", "leakyrelu", "elu", "softplus", "softsign", "logsigmoid",
                 "tanhshrink", "hardshrink", "softshrink", "abs", "exp", "log", "power", "square", "sqrt", "add")

    def __init__(self, fn: str, **params: Any) -> None:
        super().__init__()
        if fn not in self.FUNCTIONS:
            raise T7ConvertError(f"unknown element-wise function {fn!r} in a converted architecture")
        self.fn, self.params = fn, dict(params)

    def forward(self, x):
        fn, p = self.fn, self.params
        if fn == "sigmoid":
            return torch.sigmoid(x)
        if fn == "tanh":
            return torch.tanh(x)
        if fn == "hardtanh":
            lo, hi = p["min"], p["max"]
            if p.get("inplace") and x.dim() != 1 and x.is_contiguous():
                return torch.where(x < lo, torch.full_like(x, lo), torch.where(x > hi, torch.full_like(x, hi), x))
            return torch.where(x < lo, torch.full_like(x, lo), torch.where(x <= hi, x, torch.full_like(x, hi)))
        if fn == "leakyrelu":
            return torch.where(x > 0, x, x * p["negval"])
        if fn == "elu":
            return torch.where(x <= 0, torch.expm1(x) * p["alpha"], x)
        if fn == "softplus":
            return F.softplus(x, beta=p["beta"], threshold=p["threshold"])
        if fn == "softsign":
            return x / (x.abs() + 1)
        if fn == "logsigmoid":
            return F.logsigmoid(x)
        if fn == "tanhshrink":
            return x - torch.tanh(x)
        if fn in ("hardshrink", "softshrink"):
            lam = p["lambda"]
            hard = fn == "hardshrink"
            return torch.where(x > lam, x if hard else x - lam,
                               torch.where(x < -lam, x if hard else x + lam, torch.zeros_like(x)))
        if fn == "abs":
            return x.abs()
        if fn == "exp":
            return torch.exp(x)
        if fn == "log":
            return torch.log(x)
        if fn == "power":
            return torch.pow(x, p["exponent"])
        if fn == "square":
            return x * x
        if fn == "sqrt":
            return torch.sqrt(x)
        return x + p["constant"]  # add

    def extra_repr(self) -> str:
        return ", ".join([self.fn, *(f"{k}={v}" for k, v in self.params.items())])


class SoftMin(SoftMax):
    """``nn.SoftMin``: nn's SoftMax of ``-x``, over the same dimension."""

    def forward(self, x):
        return super().forward(-x)

    def _get_name(self) -> str:
        return "SoftMin"


def _pool_size(size: int, k: int, d: int, p: int, ceil: bool, adjust: bool) -> int:
    span = (size - k + 2 * p) / d
    out = (math.ceil(span) if ceil else math.floor(span)) + 1
    if adjust and ceil and (out - 1) * d >= size + p:
        out -= 1
    return out


class Pool2d(nn.Module):
    """Max or average pooling with Torch7's output size.

    nn's THNN kernels drop a last window that would start in the padding only when there is padding;
    cudnn.torch never drops it; PyTorch always does. Where they differ, the input is padded on the
    bottom/right (with -inf for max, zeros for average) so that PyTorch computes Torch7's windows.
    """

    def __init__(self, kind: str, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                 ceil_mode: bool, count_include_pad: bool = True, divide: bool = True,
                 adjust_last_window: str = "if_padded") -> None:
        super().__init__()
        self.kind, self.kernel, self.stride, self.padding = kind, tuple(kernel), tuple(stride), tuple(padding)
        self.ceil_mode, self.count_include_pad, self.divide = ceil_mode, count_include_pad, divide
        self.adjust_last_window = adjust_last_window

    def _torch7_out(self, h: int, w: int) -> tuple[int, int]:
        padded = self.padding[0] > 0 or self.padding[1] > 0
        adjust = self.adjust_last_window == "always" or (self.adjust_last_window == "if_padded" and padded)
        return (_pool_size(h, self.kernel[0], self.stride[0], self.padding[0], self.ceil_mode, adjust),
                _pool_size(w, self.kernel[1], self.stride[1], self.padding[1], self.ceil_mode, adjust))

    def forward(self, x):
        h, w = x.shape[-2:]
        want = self._torch7_out(h, w)
        have = (_pool_size(h, self.kernel[0], self.stride[0], self.padding[0], self.ceil_mode, True),
                _pool_size(w, self.kernel[1], self.stride[1], self.padding[1], self.ceil_mode, True))
        if want != have:
            if self.kind != "max":
                raise T7ConvertError(f"Torch7 average pooling of a {h}x{w} input has a window outside the "
                                     "padded input, which t7convert does not reproduce")
            extra_h, extra_w = (want[0] - have[0]) * self.stride[0], (want[1] - have[1]) * self.stride[1]
            x = F.pad(x, (0, extra_w, 0, extra_h), value=-math.inf)
            y = F.max_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=False)
            return y[..., : want[0], : want[1]]
        if self.kind == "max":
            return F.max_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)
        y = F.avg_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode,
                         count_include_pad=self.count_include_pad)
        return y if self.divide else y * (self.kernel[0] * self.kernel[1])

    def extra_repr(self) -> str:
        return (f"{self.kind}, kernel={self.kernel}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


# --- tensor ops (nn.Select, Narrow, Squeeze, Unsqueeze, Transpose, Replicate, Sum, Max, Collapse...) ---
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


# --- building modules from nodes ------------------------------------------------------------------
Builder = Callable[[dict[str, Any], list[nn.Module]], nn.Module]
_BUILDERS: dict[str, Builder] = {}


def builds(op: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        _BUILDERS[op] = fn
        return fn
    return register


@builds("Sequential")
def _sequential(a, children):
    return nn.Sequential(*children)


@builds("Conv2d")
def _conv(a, children):
    return nn.Conv2d(a["in_channels"], a["out_channels"], tuple(a["kernel_size"]), tuple(a["stride"]),
                     tuple(a["padding"]), groups=a["groups"], bias=a["bias"])


@builds("BatchNorm")
def _bn(a, children):
    cls = nn.BatchNorm2d if a["spatial"] else nn.BatchNorm1d
    return cls(a["num_features"], eps=a["eps"], affine=a["affine"])


@builds("ReLU")
def _relu(a, children):
    return nn.ReLU()


@builds("Threshold")
def _threshold(a, children):
    return nn.Threshold(a["threshold"], a["value"])


@builds("Pool2d")
def _pool(a, children):
    return Pool2d(a["kind"], a["kernel"], a["stride"], a["padding"], a["ceil_mode"], a.get("count_include_pad", True),
                  a.get("divide", True), a.get("adjust_last_window", "if_padded"))


@builds("Linear")
def _linear(a, children):
    return nn.Linear(a["in_features"], a["out_features"], bias=a["bias"])


@builds("View")
def _view(a, children):
    return View(a["sizes"], a.get("num_input_dims"))


@builds("Reshape")
def _reshape(a, children):
    return Reshape(a["sizes"], a.get("batch_mode"))


@builds("Identity")
def _identity(a, children):
    return nn.Identity()


@builds("MulConstant")
def _mul(a, children):
    return MulConstant(a["scalar"])


@builds("Scale")
def _scale(a, children):
    return Scale(a["factor"])


@builds("SoftMax")
def _softmax(a, children):
    return SoftMax(log=a.get("log", False), over=a.get("over", "planes"))


@builds("Pointwise")
def _pointwise(a, children):
    params = dict(a)
    return Pointwise(params.pop("fn"), **params)


@builds("SoftMin")
def _softmin(a, children):
    return SoftMin()


@builds("ConcatTable")
def _concat_table(a, children):
    return ConcatTable(children)


@builds("CAddTable")
def _cadd(a, children):
    return CAddTable()


@builds("JoinTable")
def _join(a, children):
    return JoinTable(a["dim"], a.get("n_input_dims"))


@builds("CatTable")
def _cat_table(a, children):
    return CatTable(a["dim"])


@builds("Concat")
def _concat(a, children):
    return Concat(a["dim"], children)


@builds("AddConstant")
def _add_constant(a, children):
    return AddConstant(a["value"])


@builds("Cast")
def _cast(a, children):
    return Cast(a.get("dtype"))


@builds("Select")
def _select(a, children):
    return Select(a["dim"], a["index"])


@builds("Narrow")
def _narrow(a, children):
    return Narrow(a["dim"], a["index"], a["length"])


@builds("Squeeze")
def _squeeze(a, children):
    return Squeeze(a.get("dim"), a.get("num_input_dims"))


@builds("Unsqueeze")
def _unsqueeze(a, children):
    return Unsqueeze(a["pos"], a.get("num_input_dims"))


@builds("Transpose")
def _transpose(a, children):
    return Transpose(a["pairs"], a.get("num_input_dims"))


@builds("Replicate")
def _replicate(a, children):
    return Replicate(a["n"], a["dim"], a.get("ndim"))


@builds("Sum")
def _sum(a, children):
    return Sum(a["dim"], a.get("n_input_dims"), a["average"], a.get("squeeze", True))


@builds("MaxMin")
def _max_min(a, children):
    return MaxMin(a["kind"], a["dim"], a.get("n_input_dims"))


@builds("Collapse")
def _collapse(a, children):
    return Collapse(a["n_input_dim"])


def build(node: Node, where: str = "graph") -> nn.Module:
    """The torch module of a node tree, with freshly initialised tensors (load a state_dict into it).
    A node whose attributes do not fit its op (a damaged description) is named by its place."""
    try:
        builder = _BUILDERS[node.op]
    except KeyError:
        raise T7ConvertError(f"unknown op {node.op[:60]!r} at {where} of the converted architecture") from None
    children = [build(c, f"{where}.children[{i}]") for i, c in enumerate(node.children)]
    try:
        module = builder(node.attrs, children)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, RuntimeError) as e:
        what = f"lacks attribute {e}" if isinstance(e, KeyError) else f"has attributes torch refuses ({str(e)[:120]})"
        raise T7ConvertError(f"{where} ({node.op}) of the converted architecture {what}") from None
    module.t7_source = node.source  # the Torch7 path whose output this module's output equals
    return module
