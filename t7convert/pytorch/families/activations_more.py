"""PReLU, CReLU, GatedLinearUnit, Mul, CMul/CAdd, Add and Constant with Torch7's shape rules.
"""
from __future__ import annotations

import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


class PReLU(nn.Module):
    """THNN PReLU: one shared slope (``planes`` 0) or one per plane of dimension 1 (0-based) of an
    input of 2+ dimensions, dimension 0 of a vector."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.planes = planes
        self.weight = nn.Parameter(torch.empty(max(planes, 1)))

    def forward(self, x):
        if self.planes == 0:
            slope = self.weight[0]
        else:
            d = 1 if x.dim() > 1 else 0
            if x.shape[d] != self.planes:
                raise T7ConvertError(f"nn.PReLU: expected {self.planes} planes, got {x.shape[d]}")
            slope = self.weight.reshape([-1 if i == d else 1 for i in range(x.dim())])
        return torch.where(x > 0, x, x * slope)

    def extra_repr(self) -> str:
        return f"nOutputPlane={self.planes}"


class RReLU(nn.Module):
    """THNN RReLU: ``x <= 0 ? x * a : x``; at test time ``a = (lower + upper) / 2``, in training drawn from
    U(lower, upper) for each element (``channelwise``, a variant of some builds, is not reproduced there)."""

    def __init__(self, lower: float, upper: float, channelwise: bool = False) -> None:
        super().__init__()
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lower, upper)) \
                or not 0 <= lower <= upper:
            raise T7ConvertError(f"a converted nn.RReLU has lower {lower!r} and upper {upper!r}")
        self.lower, self.upper, self.channelwise = float(lower), float(upper), bool(channelwise)

    def forward(self, x):
        if not self.training:
            return torch.where(x > 0, x, x * ((self.lower + self.upper) / 2))
        if self.channelwise:
            raise T7ConvertError("nn.RReLU with channelwise set: its training mode is not reproduced")
        slope = torch.empty_like(x).uniform_(self.lower, self.upper)
        return torch.where(x > 0, x, x * slope)

    def _get_name(self) -> str:
        return "RReLU[nn.RReLU]"

    def extra_repr(self) -> str:
        return (f"lower={self.lower:g}, upper={self.upper:g}; train: slope ~ U(lower, upper) per element; "
                f"eval: slope {(self.lower + self.upper) / 2:g}")


class CReLU(nn.Module):
    """``[relu(x), relu(-x)]`` along the planes: dimension 1 of a batch (``n_input_dims + 1`` dims), else 0."""

    def __init__(self, n_input_dims: int) -> None:
        super().__init__()
        self.n_input_dims = n_input_dims

    def forward(self, x):
        d = 1 if x.dim() == self.n_input_dims + 1 else 0
        return torch.relu(torch.cat([x, -x], d))


class GatedLinearUnit(nn.Module):
    def __init__(self, dim: int | None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x):
        d = (self.dim or x.dim()) - 1
        if x.shape[d] % 2:
            raise T7ConvertError(f"nn.GatedLinearUnit: dimension {d + 1} has odd size {x.shape[d]}")
        a, b = x.chunk(2, d)
        return a * torch.sigmoid(b)


class Mul(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1))

    def forward(self, x):
        return x * self.weight[0]


class CMul(nn.Module):
    """nn.CMul (``kind="mul"``) / nn.CAdd (``"add"``): the weight over the input's elements when the
    counts match; broadcast (expandAs) when the ranks match; else over each sample viewed as a vector."""

    def __init__(self, shape: list[int], kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.weight = nn.Parameter(torch.empty(shape))

    def forward(self, x):
        w = self.weight
        if x.numel() == w.numel():
            w = w.reshape(x.shape)
        elif w.dim() == x.dim():
            w = w.expand_as(x)
        else:
            w = w.reshape(1, -1).expand(x.shape[0], -1).reshape(x.shape)
        return x * w if self.kind == "mul" else x + w

    def _get_name(self) -> str:
        return "CMul" if self.kind == "mul" else "CAdd"


class Add(nn.Module):
    """nn.Add: ``bias[1]`` (scalar), the bias (an input of its size), or the bias on each row of the
    input viewed as (batch, -1)."""

    def __init__(self, scalar: bool, shape: list[int]) -> None:
        super().__init__()
        self.scalar = scalar
        self.bias = nn.Parameter(torch.empty(shape))

    def forward(self, x):
        b = self.bias
        if self.scalar:
            return x + b.reshape(-1)[0]
        if tuple(x.shape) == tuple(b.shape):
            return x + b
        return (x.reshape(x.shape[0], -1) + b.reshape(1, -1)).reshape(x.shape)


class Constant(nn.Module):
    """nn.Constant: the value, repeated over the batch when the input has more than ``n_input_dim``
    dimensions; the input's values are never read."""

    def __init__(self, n_input_dim: int | None, shape: list[int]) -> None:
        super().__init__()
        self.n_input_dim = n_input_dim
        self.register_buffer("value", torch.empty(shape))

    def forward(self, x):
        v = self.value
        if self.n_input_dim is not None and x.dim() > self.n_input_dim:
            return v.unsqueeze(0).expand(x.shape[0], *v.shape).clone()
        return v.clone()


@builds("PReLU")
def build_prelu(a: Record, children: list[nn.Module]) -> nn.Module:
    return PReLU(int(a.planes))


@builds("CReLU")
def build_crelu(a: Record, children: list[nn.Module]) -> nn.Module:
    return CReLU(int(a.n_input_dims))


builds_module("GatedLinearUnit", GatedLinearUnit)
builds_module("Mul", Mul)


@builds("CMul")
def build_cmul(a: Record, children: list[nn.Module]) -> nn.Module:
    if a.kind not in ("mul", "add"):
        raise ValueError(f"kind {a.kind!r}")
    return CMul([int(s) for s in a.shape], a.kind)


@builds("Add")
def build_add(a: Record, children: list[nn.Module]) -> nn.Module:
    return Add(bool(a.scalar), [int(s) for s in a.shape])


@builds("Constant")
def build_constant(a: Record, children: list[nn.Module]) -> nn.Module:
    return Constant(a.n_input_dim, [int(s) for s in a.shape])


@builds("RReLU")
def build_rrelu(a: Record, children: list[nn.Module]) -> nn.Module:
    return RReLU(a.lower, a.upper, a.channelwise)
