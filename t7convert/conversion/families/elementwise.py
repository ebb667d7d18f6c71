"""ReLU and Threshold (y = x if x > threshold else val; nn.ReLU is Threshold(0, 0)), Identity, MulConstant,
Dropout (both modes), SoftMax and LogSoftMax."""
from __future__ import annotations

from dataclasses import dataclass

from t7convert.conversion.fields import flag, number
from t7convert.conversion.records import bounded, record
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.ReLU", "cudnn.ReLU", "nn.Threshold")
def threshold(m: T7Object, ctx) -> Node:
    # nn.ReLU's constructor always sets threshold 0; nn.Threshold's defaults it to 1e-6 (nn/Threshold.lua)
    th = float(number(m, ctx, "threshold", default=1e-6 if m.class_name == "nn.Threshold" else 0.0))
    val = float(number(m, ctx, "val", default=0.0))
    if th == 0.0 and val == 0.0:
        return Node("ReLU")
    return Node("Threshold", ThresholdRecord(threshold=th, value=val))


@describes("nn.ReLU", "cudnn.ReLU", "nn.Threshold")
def _describe(m: T7Object) -> str:
    th, val = m.get("threshold", 0), m.get("val", 0)
    return m.class_name if (th, val) == (0, 0) else f"{m.class_name}(threshold {th}, value {val})"


@converts("nn.Identity")
def identity(m: T7Object, ctx) -> Node:
    return Node("Identity")


@converts("nn.MulConstant")
def mul_constant(m: T7Object, ctx) -> Node:
    return Node("MulConstant", MulConstantRecord(scalar=float(number(m, ctx, "constant_scalar"))))


@converts("nn.Dropout")
def dropout(m: T7Object, ctx) -> Node:
    """Dropout.lua: in training a Bernoulli(1 - p) mask, divided by 1 - p when ``v2`` is set (the default
    since 2015); at test time the identity (v2) or a multiplication by 1 - p (v1, and files from before v2
    existed). The node keeps p and the version so that the converted module does both, as
    ``module.train()``/``eval()`` choose; p = 0 is the identity in both modes."""
    p = float(number(m, ctx, "p", default=0.5))
    if flag(m, "stochastic_inference"):
        raise ctx.fail(m, "uses stochastic inference (dropout at test time), which is not deterministic")
    if not 0 <= p < 1:
        raise ctx.fail(m, f"p {p}: Dropout needs 0 <= p < 1")
    v2 = flag(m, "v2")  # absent in files from before v2 existed: the original behaviour
    if not v2 and p > 0:
        ctx.note(f"Dropout(p={p}) without v2: output scaled by {1.0 - p} at test time, as Torch7 does")
    return Node("Dropout", DropoutRecord(p=p, v2=bool(v2), shared_dims=0, torch7_class=m.class_name))


@converts("fbnn.Dropout")
def fbnn_dropout(m: T7Object, ctx) -> Node:
    """fbcunn's Dropout is the original one: a mask without rescaling in training, times (1 - p) at test time."""
    p = float(number(m, ctx, "p", default=0.5))
    if not 0 <= p < 1:
        raise ctx.fail(m, f"p {p}: Dropout needs 0 <= p < 1")
    return Node("Dropout", DropoutRecord(p=p, v2=False, shared_dims=0, torch7_class=m.class_name))


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
@record("ReLU")
@dataclass(frozen=True)
class ReLURecord:
    """A ReLU node stores no attributes."""


@record("Threshold")
@dataclass(frozen=True)
class ThresholdRecord:
    """What a Threshold node stores."""

    threshold: float
    value: float


@record("Identity")
@dataclass(frozen=True)
class IdentityRecord:
    """A Identity node stores no attributes."""


@record("MulConstant")
@dataclass(frozen=True)
class MulConstantRecord:
    """What a MulConstant node stores."""

    scalar: float


@record("Dropout")
@dataclass(frozen=True)
class DropoutRecord:
    """What a Dropout node stores (the module keeps both modes: ``v2`` rescales in training, else at
    test time; ``shared_dims`` 2 or 3: one draw per plane, SpatialDropout / VolumetricDropout)."""

    p: float = bounded(0, 1)  # p < 1: the module itself refuses 1
    v2: bool = False
    shared_dims: int = bounded(choices=(0, 2, 3), default=0)
    torch7_class: str = "nn.Dropout"


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
