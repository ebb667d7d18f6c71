"""The remaining activations and learnable element-wise ops: PReLU, RReLU (evaluate mode), CReLU,
GatedLinearUnit, Mul, CMul, Add, CAdd, Constant, nn's and cudnn's SpatialSoftMax/SpatialLogSoftMax, and
Maxout (a Sequential subclass whose children are its whole forward).

Weights keep Torch7's shapes; the torch modules resolve the broadcasting per input, as the Lua code does
(CMul/CAdd: element count, same rank, or a batch of flattened samples; Add: same size or per row).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.families.elementwise import SoftMaxRecord
from t7convert.conversion.fields import constructor_call, flag, integer, long_list, number, tensor
from t7convert.conversion.records import bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.PReLU")
def prelu(m: T7Object, ctx) -> Node:
    """THNN PReLU: ``nOutputPlane`` 0 shares ``weight[1]``; otherwise one slope per plane of dimension 2
    (0-based 1) of any input of 2+ dimensions, of dimension 1 of a vector."""
    planes = integer(m, ctx, "nOutputPlane", default=0)
    if planes < 0:
        raise ctx.fail(m, f"nOutputPlane {planes} is negative")
    weight = tensor(m, ctx, "weight").reshape(-1)
    if weight.size < max(planes, 1) or (planes > 0 and weight.size != planes):
        raise ctx.fail(m, f"weight has {weight.size} values for nOutputPlane {planes}")
    return Node("PReLU", PReLURecord(planes=planes), {"weight": weight[: max(planes, 1)].copy()})


@converts("nn.RReLU")
def rrelu(m: T7Object, ctx) -> Node:
    """THNN RReLU: in training ``x <= 0 ? x * a : x`` with ``a`` drawn from U(lower, upper) for each
    element; at test time (``train`` false) ``a = (lower + upper) / 2``."""
    lower = float(number(m, ctx, "lower", default=1 / 8))
    upper = float(number(m, ctx, "upper", default=1 / 3))
    if not 0 <= lower <= upper:
        raise ctx.fail(m, f"lower {lower} and upper {upper}: RReLU needs 0 <= lower <= upper")
    return Node("RReLU", RReLURecord(lower=lower, upper=upper, channelwise=bool(flag(m, "channelwise"))))


@converts("nn.CReLU")
def crelu(m: T7Object, ctx) -> Node:
    """CReLU.lua views each sample as a vector, joins relu(x) and relu(-x), and resizes: the planes
    (dimension 1 of a sample) double; a batch is an input of ``nInputDims + 1`` dimensions."""
    n = integer(m, ctx, "nInputDims")
    if n < 1:
        raise ctx.fail(m, f"nInputDims {n} must be positive")
    return Node("CReLU", CReLURecord(n_input_dims=n))


@converts("nn.GatedLinearUnit")
def gated_linear_unit(m: T7Object, ctx) -> Node:
    """THNN GatedLinear: first half times the sigmoid of the second half along ``dim`` (nil: the last)."""
    dim = integer(m, ctx, "dim", default=None)
    if dim is not None and dim < 1:
        raise ctx.fail(m, f"dim {dim} must be positive")
    return Node("GatedLinearUnit", GatedLinearUnitRecord(dim=dim))


@converts("nn.Mul")
def mul(m: T7Object, ctx) -> Node:
    """Mul.lua multiplies by ``weight[1]``."""
    weight = tensor(m, ctx, "weight").reshape(-1)
    if weight.size < 1:
        raise ctx.fail(m, "weight is empty")
    return Node("Mul", MulRecord(), {"weight": weight[:1].copy()})


def _sized(m: T7Object, ctx, name: str) -> tuple[list[int], np.ndarray]:
    """CMul's weight / CAdd's bias, of the shape of the constructor's ``size`` when the file has one."""
    want = tuple(long_list(m, ctx, "size")) if m.get("size") is not None else None
    t = tensor(m, ctx, name, shape=want)
    if t.size == 0:
        raise ctx.fail(m, f"{name} is empty")
    return list(t.shape), t


@converts("nn.CMul")
def cmul(m: T7Object, ctx) -> Node:
    shape, weight = _sized(m, ctx, "weight")
    return Node("CMul", CMulRecord(shape=shape, kind="mul"), {"weight": weight})


@converts("nn.CAdd")
def cadd(m: T7Object, ctx) -> Node:
    shape, bias = _sized(m, ctx, "bias")
    return Node("CMul", CMulRecord(shape=shape, kind="add"), {"weight": bias})


@converts("nn.Add")
def add(m: T7Object, ctx) -> Node:
    """Add.lua: ``scalar`` adds ``bias[1]``; else the bias when the input has its size, or to each row
    of the input viewed as (batch, -1)."""
    bias = tensor(m, ctx, "bias")
    scalar = flag(m, "scalar")
    if bias.size < 1:
        raise ctx.fail(m, "bias is empty")
    if scalar:
        bias = bias.reshape(-1)[:1].copy()
    return Node("Add", AddRecord(scalar=bool(scalar), shape=list(bias.shape)), {"bias": bias})


@expects_input("CMul")
def _cmul_input(attrs: dict) -> tuple[int, ...] | int | None:
    """CMul/CAdd expand their weight to the input (Torch7's expandAs): a weight of a whole sample's shape
    fixes the sample; a broadcast one with a leading 1 (``1 x C x 1 x 1``) fixes the planes of images of
    that rank, its other singleton sizes free; a vector of n, n-element samples; a single value, nothing."""
    shape = [int(s) for s in attrs["shape"]]
    if not shape or all(s == 1 for s in shape):
        return None
    if shape[0] == 1 and len(shape) > 1:
        sample = shape[1:]
        if len(sample) == 3 and sample[1:] == [1, 1]:
            return sample[0]
        return tuple(None if s == 1 else s for s in sample)
    return tuple(None if s == 1 else s for s in shape)


@expects_input("Add")
def _add_input(attrs: dict) -> tuple[int, ...] | None:
    """A vector Add first in a model takes samples of its bias's size."""
    return None if attrs["scalar"] else tuple(int(s) for s in attrs["shape"])


@converts("nn.Constant")
def constant(m: T7Object, ctx) -> Node:
    """Constant.lua: the value, repeated over the batch when the input has more than ``nInputDim``
    dimensions (nil: never)."""
    v = tensor(m, ctx, "value")
    n = integer(m, ctx, "nInputDim", default=None)
    return Node("Constant", ConstantRecord(n_input_dim=n, shape=list(v.shape)), {"value": v})


@converts("nn.SpatialSoftMax", "nn.SpatialLogSoftMax")
def spatial_softmax(m: T7Object, ctx) -> Node:
    """THNN's SoftMax/LogSoftMax, the same kernels as nn.SoftMax: over the planes."""
    return Node("SoftMax", SoftMaxRecord(log=m.class_name == "nn.SpatialLogSoftMax", over="planes"))


@converts("cudnn.SpatialSoftMax", "cudnn.SpatialLogSoftMax")
def cudnn_spatial_softmax(m: T7Object, ctx) -> Node:
    """cudnn SpatialSoftMax.lua keeps its ``mode`` (CHANNEL unless set: over the planes at each pixel;
    INSTANCE: over all of a sample) and ``algorithm`` (LOG: the log-softmax)."""
    default_log = m.class_name == "cudnn.SpatialLogSoftMax"
    mode = m.get("mode") or "CUDNN_SOFTMAX_MODE_CHANNEL"
    algorithm = m.get("algorithm") or ("CUDNN_SOFTMAX_LOG" if default_log else "CUDNN_SOFTMAX_ACCURATE")
    if mode not in ("CUDNN_SOFTMAX_MODE_CHANNEL", "CUDNN_SOFTMAX_MODE_INSTANCE"):
        raise ctx.fail(m, f"mode {mode!r} is not a cudnn softmax mode")
    if algorithm not in ("CUDNN_SOFTMAX_LOG", "CUDNN_SOFTMAX_ACCURATE", "CUDNN_SOFTMAX_FAST"):
        raise ctx.fail(m, f"algorithm {algorithm!r} is not a cudnn softmax algorithm")
    return Node("SoftMax", SoftMaxRecord(log=algorithm == "CUDNN_SOFTMAX_LOG",
                                         over="instance" if mode == "CUDNN_SOFTMAX_MODE_INSTANCE" else "planes"))


@converts("nn.Maxout")
def maxout(m: T7Object, ctx) -> Node:
    """Maxout.lua builds Linear, View(k, n):setNumInputDims(1), [preprocess], Max(1, 2) and runs them
    as a Sequential."""
    return Node("Sequential", children=[ctx.child(c, i) for i, c in enumerate(m.children, 1)])


@describes("nn.PReLU")
def _describe_prelu(m: T7Object) -> str:
    return f"{m.class_name}({m.get('nOutputPlane', 0)})"


@describes("nn.RReLU")
def _describe_rrelu(m: T7Object) -> str:
    return f"{m.class_name} (l:{m.get('lower', 1 / 8):f}, u:{m.get('upper', 1 / 3):f})"


# --- how inspect prints them: the constructor's arguments, as the fields hold them ---------------------

@describes("nn.Add")
def _describe_add(m: T7Object) -> str:
    return constructor_call(m, 'bias')


@describes("nn.CAdd")
def _describe_cadd(m: T7Object) -> str:
    return constructor_call(m, 'bias')


@describes("nn.CMul")
def _describe_cmul(m: T7Object) -> str:
    return constructor_call(m, 'weight')


@describes("nn.Mul")
def _describe_mul(m: T7Object) -> str:
    return constructor_call(m, 'weight')


@describes("nn.Constant")
def _describe_constant(m: T7Object) -> str:
    return constructor_call(m, 'value', 'nInputDim')


@describes("nn.CReLU")
def _describe_crelu(m: T7Object) -> str:
    return constructor_call(m, 'nInputDims')


@describes("nn.GatedLinearUnit")
def _describe_gatedlinearunit(m: T7Object) -> str:
    return constructor_call(m, 'dim')


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Add")
@dataclass(frozen=True)
class AddRecord:
    """What an Add node stores."""

    scalar: bool
    shape: list[int]


@record("CMul")
@dataclass(frozen=True)
class CMulRecord:
    """What a CMul node stores."""

    kind: str
    shape: list[int]


@record("CReLU")
@dataclass(frozen=True)
class CReLURecord:
    """What a CReLU node stores."""

    n_input_dims: int


@record("Constant")
@dataclass(frozen=True)
class ConstantRecord:
    """What a Constant node stores."""

    shape: list[int]
    n_input_dim: int | None = None


@record("GatedLinearUnit")
@dataclass(frozen=True)
class GatedLinearUnitRecord:
    """What a GatedLinearUnit node stores."""

    dim: int | None = None


@record("Mul")
@dataclass(frozen=True)
class MulRecord:
    """A Mul node stores no attributes."""


@record("RReLU")
@dataclass(frozen=True)
class RReLURecord:
    """What an RReLU node stores: the slope's range (test time: its middle) and THNN's channelwise flag."""

    lower: float = bounded(0)
    upper: float = bounded(0)
    channelwise: bool = False


@record("PReLU")
@dataclass(frozen=True)
class PReLURecord:
    """What a PReLU node stores."""

    planes: int
