"""Element-wise transfer functions: Sigmoid, Tanh, HardTanh and its kin, the shrinks, Exp/Log/Power...

Each becomes one ``Pointwise`` node whose ``fn`` names the function and whose other attributes are its
parameters, read as the Lua code reads them (a field missing in a file takes the constructor's default).
SoftMin becomes a ``SoftMin`` node (THNN's SoftMax of ``-x``, over the same dimension as nn.SoftMax).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.fields import flag, number
from t7convert.conversion.records import bounded, record
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

_PLAIN = {"nn.Sigmoid": "sigmoid", "cudnn.Sigmoid": "sigmoid", "nn.Tanh": "tanh", "cudnn.Tanh": "tanh",
          "nn.SoftSign": "softsign", "nn.LogSigmoid": "logsigmoid", "nn.TanhShrink": "tanhshrink",
          "nn.Abs": "abs", "nn.Exp": "exp", "nn.Log": "log", "nn.Square": "square", "nn.Sqrt": "sqrt"}


@converts(*_PLAIN)
def plain(m: T7Object, ctx) -> Node:
    """Functions without parameters. nn.Sqrt's ``eps`` is passed to THNN but unused there: y = sqrt(x)."""
    return Node("Pointwise", PointwiseRecord(fn=_PLAIN[m.class_name]))


def _hardtanh(lo: float, hi: float, inplace: bool) -> Node:
    """THNN HardTanh: ``x < min ? min : x <= max ? x : max``, so NaN becomes max; the in-place loop over a
    contiguous tensor of 2 or more dimensions tests ``x > max`` instead and keeps NaN."""
    return Node("Pointwise", PointwiseRecord(fn="hardtanh", min=lo, max=hi, inplace=inplace))


@converts("nn.HardTanh", "nn.Clamp")
def hardtanh(m: T7Object, ctx) -> Node:
    lo = float(number(m, ctx, "min_val", default=-1.0))
    hi = float(number(m, ctx, "max_val", default=1.0))
    return _hardtanh(lo, hi, flag(m, "inplace"))


@converts("nn.ReLU6")
def relu6(m: T7Object, ctx) -> Node:
    return _hardtanh(0.0, 6.0, flag(m, "inplace"))


@converts("nn.LeakyReLU")
def leaky_relu(m: T7Object, ctx) -> Node:
    return Node("Pointwise", PointwiseRecord(fn="leakyrelu", negval=float(number(m, ctx, "negval", default=0.01))))


@converts("nn.ELU")
def elu(m: T7Object, ctx) -> Node:
    return Node("Pointwise", PointwiseRecord(fn="elu", alpha=float(number(m, ctx, "alpha", default=1.0))))


@converts("nn.SoftPlus")
def softplus(m: T7Object, ctx) -> Node:
    beta = float(number(m, ctx, "beta", default=1.0))
    threshold = float(number(m, ctx, "threshold", default=20.0))
    return Node("Pointwise", PointwiseRecord(fn="softplus", beta=beta, threshold=threshold))


@converts("nn.HardShrink", "nn.SoftShrink")
def shrink(m: T7Object, ctx) -> Node:
    fn = "hardshrink" if m.class_name == "nn.HardShrink" else "softshrink"
    return Node("Pointwise", PointwiseRecord(fn=fn, lambda_=float(number(m, ctx, "lambda", default=0.5))))


@converts("nn.Power")
def power(m: T7Object, ctx) -> Node:
    return Node("Pointwise", PointwiseRecord(fn="power", exponent=float(number(m, ctx, "pow"))))


@converts("nn.AddConstant")
def add_constant(m: T7Object, ctx) -> Node:
    c = m.get("constant_scalar")
    if isinstance(c, np.ndarray):
        raise ctx.fail(m, "adds a tensor constant_scalar, which t7convert does not convert")
    return Node("Pointwise", PointwiseRecord(fn="add", constant=float(number(m, ctx, "constant_scalar"))))


@converts("nn.SoftMin")
def softmin(m: T7Object, ctx) -> Node:
    return Node("SoftMin")


@describes("nn.HardTanh", "nn.Clamp")
def _describe_range(m: T7Object) -> str:
    return f"{m.class_name}({m.get('min_val', -1)}, {m.get('max_val', 1)})"


@describes("nn.LeakyReLU", "nn.ELU", "nn.HardShrink", "nn.SoftShrink", "nn.Power", "nn.AddConstant")
def _describe_argument(m: T7Object) -> str:
    name, default = {"nn.LeakyReLU": ("negval", 0.01), "nn.ELU": ("alpha", 1), "nn.Power": ("pow", None),
                     "nn.AddConstant": ("constant_scalar", None)}.get(m.class_name, ("lambda", 0.5))
    return f"{m.class_name}({m.get(name, default)})"


@describes("nn.SoftPlus")
def _describe_softplus(m: T7Object) -> str:
    return f"{m.class_name}(beta {m.get('beta', 1)}, threshold {m.get('threshold', 20)})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Pointwise")
@dataclass(frozen=True)
class PointwiseRecord:
    """What a Pointwise node stores."""

    fn: str
    alpha: float | None = None
    beta: float | None = None
    constant: float | None = None
    exponent: float | None = None
    inplace: bool | None = None
    lambda_: float | None = bounded(default=None, stored="lambda")
    max: float | None = None
    min: float | None = None
    negval: float | None = None
    threshold: float | None = None


@record("SoftMin")
@dataclass(frozen=True)
class SoftMinRecord:
    """A SoftMin node stores no attributes."""
