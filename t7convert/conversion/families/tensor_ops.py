"""Identity-at-inference modules, decorators and shape ops, read as nn's Lua code reads them.

Dimensions stay 1-based (Torch7's) in the node attributes; the torch modules resolve them per input,
because Torch7 resolves them per input: Sum/Max/Min/Squeeze shift a positive dimension by one when the
input has ``nInputDims + 1`` dimensions, Unsqueeze and Transpose by the number of leading dimensions
beyond ``numInputDims``, Replicate by one when the input has more than ``ndim`` dimensions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from t7convert.conversion.families.elementwise import DropoutRecord
from t7convert.conversion.fields import constructor_call, flag, integer, number, optional_integer
from t7convert.conversion.records import bounded, record
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.GradientReversal", "nn.ZeroGrad", "nn.Contiguous")
def identity_forward(m: T7Object, ctx) -> Node:
    """Forward is the input (their work is in the backward pass, or a contiguous copy)."""
    return Node("Identity")


@converts("nn.WhiteNoise")
def white_noise(m: T7Object, ctx) -> Node:
    """WhiteNoise.lua (dpnn) adds Gaussian noise N(mean, std) in training; at test time its ``mean``
    (default 0) and no noise."""
    mean = float(number(m, ctx, "mean", default=0.0))
    std = float(number(m, ctx, "std", default=0.1))
    if not std >= 0:
        raise ctx.fail(m, f"std {std}: WhiteNoise needs std >= 0")
    return Node("WhiteNoise", WhiteNoiseRecord(mean=mean, std=std))


@converts("nn.Copy")
def copy(m: T7Object, ctx) -> Node:
    """Copy's output has the type of its ``output`` tensor (the constructor's outtype)."""
    out = m.get("output")
    dtype = None
    if isinstance(out, np.ndarray):
        if out.dtype == np.float64:
            dtype = "float64"
        elif out.dtype == np.float32:
            dtype = "float32"
        else:
            raise ctx.fail(m, f"copies into a {out.dtype} tensor; only Float and Double outputs are supported")
    return Node("Cast", CastRecord(dtype=dtype))


@converts("nn.Decorator", "nn.DontCast", "nn.NaN", "nn.GPU")
def decorator(m: T7Object, ctx) -> Node:
    """Their forward is their inner module ``modules[1]``."""
    kids = m.children
    if not kids:
        raise ctx.fail(m, "has no inner module")
    return ctx.child(kids[0], 1)


@converts("nn.Select")
def select(m: T7Object, ctx) -> Node:
    return Node("Select", SelectRecord(dim=integer(m, ctx, "dimension"), index=integer(m, ctx, "index")))


@converts("nn.Narrow")
def narrow(m: T7Object, ctx) -> Node:
    return Node("Narrow", NarrowRecord(dim=integer(m, ctx, "dimension"), index=integer(m, ctx, "index"),
                                       length=integer(m, ctx, "length", default=1)))


@converts("nn.Squeeze")
def squeeze(m: T7Object, ctx) -> Node:
    return Node("Squeeze", SqueezeRecord(dim=optional_integer(m, ctx, "dim"), num_input_dims=optional_integer(m, ctx, "numInputDims")))


@converts("nn.Unsqueeze")
def unsqueeze(m: T7Object, ctx) -> Node:
    pos = integer(m, ctx, "pos")
    if pos <= 0:
        raise ctx.fail(m, f"pos {pos}: Unsqueeze needs a positive position")
    return Node("Unsqueeze", UnsqueezeRecord(pos=pos, num_input_dims=optional_integer(m, ctx, "numInputDims")))


@converts("nn.Transpose")
def transpose(m: T7Object, ctx) -> Node:
    perms = m.get("permutations")
    if isinstance(perms, dict):
        perms = [perms[k] for k in sorted(k for k in perms if isinstance(k, int))]
    pairs = []
    for p in perms if isinstance(perms, list) else [None]:
        if isinstance(p, dict):
            p = [p.get(1), p.get(2)]
        elif isinstance(p, np.ndarray):
            p = p.reshape(-1).tolist()
        if (not isinstance(p, list) or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and int(v) == v for v in p)):
            raise ctx.fail(m, f"permutations {perms!r} is not a list of dimension pairs")
        pairs.append([int(p[0]), int(p[1])])
    return Node("Transpose", TransposeRecord(pairs=pairs, num_input_dims=optional_integer(m, ctx, "numInputDims")))


@converts("nn.Replicate")
def replicate(m: T7Object, ctx) -> Node:
    dim = integer(m, ctx, "dim", default=1)
    if dim <= 0:
        raise ctx.fail(m, f"dim {dim}: Replicate needs a positive dimension")
    return Node("Replicate", ReplicateRecord(n=integer(m, ctx, "nfeatures"), dim=dim, ndim=optional_integer(m, ctx, "ndim")))


@converts("nn.Sum", "nn.Mean")
def sum_mean(m: T7Object, ctx) -> Node:
    """Mean is Sum with sizeAverage (its constructor's default); Sum squeezes unless ``squeeze`` is false."""
    average = flag(m, "sizeAverage", default=m.class_name == "nn.Mean")
    return Node("Sum", SumRecord(dim=integer(m, ctx, "dimension", default=1), n_input_dims=optional_integer(m, ctx, "nInputDims"),
                                 average=average, squeeze=flag(m, "squeeze", default=True)))


@converts("nn.Max", "nn.Min")
def max_min(m: T7Object, ctx) -> Node:
    return Node("MaxMin", MaxMinRecord(kind="max" if m.class_name == "nn.Max" else "min",
                                       dim=integer(m, ctx, "dimension", default=1),
                                       n_input_dims=optional_integer(m, ctx, "nInputDims")))


@converts("nn.SpatialDropout", "nn.VolumetricDropout")
def spatial_dropout(m: T7Object, ctx) -> Node:
    """No v2 variant: in training one Bernoulli(1 - p) draw per plane (per sample of a batch), shared by
    the plane's 2 (3 for volumetric) trailing dimensions, not rescaled; at test time times 1 - p."""
    p = float(number(m, ctx, "p", default=0.5))
    if flag(m, "stochastic_inference") or flag(m, "si"):
        raise ctx.fail(m, "uses stochastic inference (dropout at test time), which is not deterministic")
    if not 0 <= p < 1:
        raise ctx.fail(m, f"p {p}: dropout needs 0 <= p < 1")
    shared = 3 if m.class_name == "nn.VolumetricDropout" else 2
    return Node("Dropout", DropoutRecord(p=p, v2=False, shared_dims=shared, torch7_class=m.class_name))


@converts("nn.Collapse")
def collapse(m: T7Object, ctx) -> Node:
    return Node("Collapse", CollapseRecord(n_input_dim=integer(m, ctx, "nInputDim")))


# --- how inspect prints them: the constructor's arguments, as the fields hold them ---------------------

@describes("nn.Select")
def _describe_select(m: T7Object) -> str:
    return constructor_call(m, 'dimension', 'index')


@describes("nn.Narrow")
def _describe_narrow(m: T7Object) -> str:
    return constructor_call(m, 'dimension', 'index', 'length')


@describes("nn.Squeeze")
def _describe_squeeze(m: T7Object) -> str:
    return constructor_call(m, 'dim', 'numInputDims')


@describes("nn.Unsqueeze")
def _describe_unsqueeze(m: T7Object) -> str:
    return constructor_call(m, 'pos', 'numInputDims')


@describes("nn.Transpose")
def _describe_transpose(m: T7Object) -> str:
    return constructor_call(m, 'permutations')


@describes("nn.Replicate")
def _describe_replicate(m: T7Object) -> str:
    return constructor_call(m, 'nfeatures', 'dim', 'ndim')


@describes("nn.Sum", "nn.Mean", "nn.Max", "nn.Min")
def _describe_reduction(m: T7Object) -> str:
    return constructor_call(m, 'dimension', 'nInputDims')


@describes("nn.Collapse")
def _describe_collapse(m: T7Object) -> str:
    return constructor_call(m, 'nInputDim')


@describes("nn.SpatialDropout", "nn.VolumetricDropout")
def _describe_plane_dropout(m: T7Object) -> str:
    return constructor_call(m, 'p')


@describes("nn.WhiteNoise")
def _describe_whitenoise(m: T7Object) -> str:
    return constructor_call(m, 'mean', 'std')


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("AddConstant")
@dataclass(frozen=True)
class AddConstantRecord:
    """What a AddConstant node stores."""

    value: float


@record("WhiteNoise")
@dataclass(frozen=True)
class WhiteNoiseRecord:
    """What a WhiteNoise node stores: the noise's mean (added at test time too) and deviation."""

    mean: float
    std: float = bounded(0)


@record("Cast")
@dataclass(frozen=True)
class CastRecord:
    """What a Cast node stores."""

    dtype: str | None = None


@record("Collapse")
@dataclass(frozen=True)
class CollapseRecord:
    """What a Collapse node stores."""

    n_input_dim: int


@record("MaxMin")
@dataclass(frozen=True)
class MaxMinRecord:
    """What a MaxMin node stores."""

    dim: int
    kind: str
    n_input_dims: int | None = None


@record("Narrow")
@dataclass(frozen=True)
class NarrowRecord:
    """What a Narrow node stores."""

    dim: int
    index: int
    length: int


@record("Replicate")
@dataclass(frozen=True)
class ReplicateRecord:
    """What a Replicate node stores."""

    dim: int
    n: int
    ndim: int | None = None


@record("Select")
@dataclass(frozen=True)
class SelectRecord:
    """What a Select node stores."""

    dim: int
    index: int


@record("Squeeze")
@dataclass(frozen=True)
class SqueezeRecord:
    """What a Squeeze node stores."""

    dim: int | None = None
    num_input_dims: int | None = None


@record("Sum")
@dataclass(frozen=True)
class SumRecord:
    """What a Sum node stores."""

    average: bool
    dim: int
    n_input_dims: int | None = None
    squeeze: bool = True


@record("Transpose")
@dataclass(frozen=True)
class TransposeRecord:
    """What a Transpose node stores."""

    pairs: list[Any]
    num_input_dims: int | None = None


@record("Unsqueeze")
@dataclass(frozen=True)
class UnsqueezeRecord:
    """What a Unsqueeze node stores."""

    pos: int
    num_input_dims: int | None = None
