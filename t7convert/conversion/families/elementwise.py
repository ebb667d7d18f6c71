"""Identity, MulConstant, Dropout at test time, SoftMax and LogSoftMax."""
from __future__ import annotations

from dataclasses import dataclass

from t7convert.conversion.fields import flag, number
from t7convert.conversion.records import record
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.Identity")
def identity(m: T7Object, ctx) -> Node:
    return Node("Identity")


@converts("nn.MulConstant")
def mul_constant(m: T7Object, ctx) -> Node:
    return Node("MulConstant", MulConstantRecord(scalar=float(number(m, ctx, "constant_scalar"))))


@converts("nn.Dropout")
def dropout(m: T7Object, ctx) -> Node:
    """Torch7's original Dropout multiplies by (1 - p) at test time; with ``v2`` set (the default since
    2015) it scales during training instead and is the identity at test time."""
    p = float(number(m, ctx, "p", default=0.5))
    if flag(m, "stochastic_inference"):
        raise ctx.fail(m, "uses stochastic inference (dropout at test time), which is not deterministic")
    v2 = flag(m, "v2")  # absent in files from before v2 existed: the original behaviour
    factor = 1.0 if v2 or p == 0 else 1.0 - p
    if factor != 1.0:
        ctx.note(f"Dropout(p={p}) without v2: output scaled by {factor} at test time, as Torch7 does")
    return Node("Scale", ScaleRecord(factor=factor))


@converts("fbnn.Dropout")
def fbnn_dropout(m: T7Object, ctx) -> Node:
    """fbcunn's Dropout always multiplies by (1 - p) at test time."""
    p = float(number(m, ctx, "p", default=0.5))
    return Node("Scale", ScaleRecord(factor=1.0 - p))


def _softmax_over(m: T7Object) -> str:
    """nn normalizes over the planes of 3-D/4-D inputs; cudnn (CUDNN_SOFTMAX_MODE_INSTANCE) over all of a
    sample's values."""
    return "instance" if m.class_name.startswith("cudnn.") else "planes"


@converts("nn.SoftMax", "cudnn.SoftMax")
def softmax(m: T7Object, ctx) -> Node:
    return Node("SoftMax", SoftMaxRecord(log=False, over=_softmax_over(m)))


@converts("nn.LogSoftMax", "cudnn.LogSoftMax")
def log_softmax(m: T7Object, ctx) -> Node:
    return Node("SoftMax", SoftMaxRecord(log=True, over=_softmax_over(m)))


@describes("nn.MulConstant")
def _describe_constant(m: T7Object) -> str:
    return f"{m.class_name}({m.get('constant_scalar')})"


@describes("nn.Dropout", "fbnn.Dropout")
def _describe_dropout(m: T7Object) -> str:
    return f"{m.class_name}({m.get('p', 0.5)}{', v2' if m.get('v2') else ''})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Identity")
@dataclass(frozen=True)
class IdentityRecord:
    """A Identity node stores no attributes."""


@record("MulConstant")
@dataclass(frozen=True)
class MulConstantRecord:
    """What a MulConstant node stores."""

    scalar: float


@record("Scale")
@dataclass(frozen=True)
class ScaleRecord:
    """What a Scale node stores."""

    factor: float


@record("SoftMax")
@dataclass(frozen=True)
class SoftMaxRecord:
    """What a SoftMax node stores."""

    log: bool = False
    over: str = 'planes'
