"""Normalisations other than batch norm: Normalize, SpatialCrossMapLRN (nn, cudnn), LayerNormalization,
InstanceNormalization (fast-neural-style, texture_nets), and the local Spatial{Subtractive,Divisive,Contrastive}
Normalization of nn.

The local normalisations (SpatialSubtractiveNormalization.lua and its siblings) keep their averaging
kernel in sub-modules: ``meanestimator`` (and ``stdestimator``) is a Sequential of SpatialZeroPadding,
one SpatialConvolution summing all planes (2-D kernel) or a one-to-one SpatialConvolutionMap then a
SpatialConvolution (1-D kernel applied along both axes), and a Replicate over the planes. The weights
those convolutions hold are what Torch7 computes with (the ``kernel`` field is only their source), so the
converter reads them and folds the two 1-D passes into the equivalent 2-D kernel per plane.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from t7convert.conversion.fields import MAX_LOOP, integer, number, tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


# --- Normalize ------------------------------------------------------------------------------------
@converts("nn.Normalize")
def normalize(m: T7Object, ctx) -> Node:
    """Normalize.lua: ``x / (sum |x|^p + eps)^(1/p)`` per row (eps inside the root); p = inf gives
    ``x / (max |x| + eps)``."""
    p = float(number(m, ctx, "p"))
    if not p > 0:
        raise ctx.fail(m, f"field p is {p}: only p > 0 norms exist (Normalize asserts it)")
    eps = float(number(m, ctx, "eps", default=1e-10))
    return Node("Normalize", NormalizeRecord(p=0.0 if math.isinf(p) else p, inf=math.isinf(p), eps=eps))


# --- SpatialCrossMapLRN -------------------------------------------------------------------------
@converts("nn.SpatialCrossMapLRN", "cudnn.SpatialCrossMapLRN")
def cross_map_lrn(m: T7Object, ctx) -> Node:
    """``y = x * (k + alpha/size * sum of x^2 over the size planes centred on each)^-beta``.

    nn's CPU code centres its window with ``prePad = (size - 1)/2 + 1``, an integer only for an odd
    size (an even one indexes planes with fractions and fails); even sizes are refused for both."""
    size = integer(m, ctx, "size")
    if size < 1 or size % 2 == 0:
        raise ctx.fail(m, f"field size is {size}: only odd window sizes have a centred window in Torch7")
    if size > MAX_LOOP:
        raise ctx.fail(m, f"field size is {size:,}: at most {MAX_LOOP:,} planes (each is summed on its own)")
    return Node("CrossMapLRN", CrossMapLRNRecord(size=size, alpha=float(number(m, ctx, "alpha", default=1e-4)),
                                                 beta=float(number(m, ctx, "beta", default=0.75)),
                                                 k=float(number(m, ctx, *_k_fields(m), default=1.0))))


def _k_fields(m: T7Object) -> tuple[str, ...]:
    """cudnn's updateOutput moves an old file's ``K`` into ``k`` first; nn only reads ``k``."""
    return ("K", "k") if m.class_name.startswith("cudnn.") else ("k",)


# --- LayerNormalization -------------------------------------------------------------------------
_LAYER_NORM = ["nn.ConcatTable", "nn.CSubTable", "nn.Normalize", "nn.MulConstant"]


def _layer_norm_parts(m: T7Object, ctx) -> list[T7Object]:
    kids = m.children
    names = [k.class_name if isinstance(k, T7Object) else type(k).__name__ for k in kids]
    if names not in (_LAYER_NORM, _LAYER_NORM + ["nn.CMul", "nn.Add"]):
        raise ctx.fail(m, f"modules are {names}, not those LayerNormalization.lua builds")
    branch = kids[0].children
    if (len(branch) != 2 or branch[0].class_name != "nn.Identity"
            or [c.class_name for c in branch[1].children] != ["nn.Mean", "nn.Replicate"]):
        raise ctx.fail(m, "its ConcatTable is not (Identity, Sequential(Mean, Replicate))")
    return kids


def _part_tensor(m: T7Object, ctx, index: int, name: str, n: int) -> np.ndarray:
    """modules[index]'s tensor ``name`` of n values; a refusal names the LayerNormalization."""
    kid = m.children[index - 1]
    value = tensor(kid, ctx, name, required=False)
    if value is None or value.size != n:
        shape = "nothing" if value is None else f"shape {tuple(value.shape)}"
        raise ctx.fail(m, f"modules[{index}] ({kid.class_name}) {name} holds {shape}, expected {n} values")
    return value.reshape(n)


@converts("nn.LayerNormalization")
def layer_normalization(m: T7Object, ctx) -> Node:
    """LayerNormalization.lua is a Sequential: ``x - Replicate(Mean(x))`` (CSubTable), Normalize(2, eps),
    MulConstant(sqrt n), then CMul(n) and Add(n) when affine.

    For a batch, Mean(1, 1) gives one mean per row and Replicate(n, 1, 1) stacks them as an (n, N)
    tensor; CSubTable subtracts it element by element in memory order, so element (i, j) loses the mean
    of row ``(i*n + j) mod N``: the row's own mean only for a batch of one (or one sample). The
    converted module subtracts exactly that."""
    kids = _layer_norm_parts(m, ctx)
    n = integer(kids[0].children[1].children[1], ctx, "nfeatures")
    norm = kids[2]
    if float(number(norm, ctx, "p")) != 2:
        raise ctx.fail(m, "its Normalize is not a 2-norm")
    tensors = {}
    if len(kids) == 6:
        tensors = {"weight": _part_tensor(m, ctx, 5, "weight", n), "bias": _part_tensor(m, ctx, 6, "bias", n)}
    attrs = {"n": n, "eps": float(number(norm, ctx, "eps", default=1e-10)),
             "scale": float(number(kids[3], ctx, "constant_scalar")), "affine": bool(tensors)}
    return Node("LayerNorm", LayerNormRecord(**attrs), tensors)


# --- InstanceNormalization (fast-neural-style, texture_nets and their copies) ----------------------
@converts("nn.InstanceNormalization")
def instance_normalization(m: T7Object, ctx) -> Node:
    """Each InstanceNormalization.lua (jcjohnson/fast-neural-style's, DmitryUlyanov/texture_nets' and the
    copies CycleGAN-style projects carry) forwards the ``(1, N*C, H, W)`` view of its input through an
    inner nn.SpatialBatchNormalization ``bn`` of N*C planes. torch/nn's BatchNormalization hands THNN
    ``train and input:size(1) > 1`` (since 2017), so with that batch of one Torch7 normalises with the
    bn's running statistics, in training and evaluate mode alike, never with the instance's own.

    The bn is the saved one when the input's N is ``prev_N`` / ``prev_batch_size`` (and its ``_type``
    is the module's): its running statistics and ``eps``, one per (sample, plane). Otherwise a new one:
    mean 0 and variance 1 (fast-neural-style, no ``running_mean`` field), or the module's
    ``running_mean``/``running_var`` for every sample (texture_nets). Weight and bias are the module's
    unless ``affine`` is false. A copy with a set ``disabled`` field passes its input through.
    """
    disabled = m.get("disabled")
    if disabled is not None and disabled is not False:
        return Node("Identity")
    texture_nets = m.get("running_mean") is not None
    affine = m.get("affine")
    if affine is None and texture_nets:
        raise ctx.fail(m, "field 'affine' is nil: Torch7 runs its inner bn with the weights "
                          "SpatialBatchNormalization drew at random")
    affine = affine is not False
    tensors: dict[str, np.ndarray] = {}
    if affine:
        weight = tensor(m, ctx, "weight")
        n = weight.size
        tensors.update(weight=weight.reshape(n), bias=tensor(m, ctx, "bias", shape=(n,)))
    elif texture_nets:
        n = tensor(m, ctx, "running_mean").size
    else:
        n = integer(m, ctx, "nOutput")
    if texture_nets:
        tensors["fresh_mean"] = tensor(m, ctx, "running_mean", shape=(n,))
        tensors["fresh_var"] = tensor(m, ctx, "running_var", shape=(n,))
    else:
        tensors["fresh_mean"] = np.zeros(n, np.float32)
        tensors["fresh_var"] = np.ones(n, np.float32)
    attrs = {"num_features": n, "eps": float(number(m, ctx, "eps", default=1e-5)), "affine": affine,
             "saved_batch": -1, "saved_eps": 0.0, "dims": [4] if texture_nets else [3, 4]}
    prev = integer(m, ctx, "prev_batch_size" if texture_nets else "prev_N", default=-1)
    bn = m.get("bn")
    if isinstance(bn, T7Object) and prev >= 1 and bn.get("_type") == m.get("_type"):
        tensors["saved_mean"] = tensor(bn, ctx, "running_mean", shape=(prev * n,))
        tensors["saved_var"] = tensor(bn, ctx, "running_var", shape=(prev * n,))
        attrs.update(saved_batch=prev, saved_eps=float(number(bn, ctx, "eps")))
    ctx.note("nn.InstanceNormalization runs as torch/nn since 2017 runs it: its inner batch norm sees a batch "
             "of one and uses running statistics (nn before that normalised each instance by its own)")
    return Node("InstanceNorm", InstanceNormRecord(**attrs), tensors)


# --- local (subtractive / divisive / contrastive) normalisation ---------------------------------
def _padding(pad: T7Object, ctx) -> list[int]:
    left = integer(pad, ctx, "pad_l")
    return [left, integer(pad, ctx, "pad_r", default=left), integer(pad, ctx, "pad_t", default=left),
            integer(pad, ctx, "pad_b", default=left)]


def _conv_weight(conv: T7Object, ctx, planes: int) -> tuple[np.ndarray, float]:
    """A SpatialConvolution of ``planes`` planes into one: its (planes, kH, kW) weight and its bias."""
    kh, kw = integer(conv, ctx, "kH"), integer(conv, ctx, "kW")
    if integer(conv, ctx, "dW", default=1) != 1 or integer(conv, ctx, "dH", default=1) != 1:
        raise ctx.fail(conv, "is strided, which no local normalisation builds")
    if integer(conv, ctx, "padW", default=0) or integer(conv, ctx, "padH", default=0):
        raise ctx.fail(conv, "is padded, which no local normalisation builds")
    w = tensor(conv, ctx, "weight", shape=(1, planes, kh, kw)).reshape(planes, kh, kw)
    b = tensor(conv, ctx, "bias", required=False, shape=(1,))
    return w.astype(np.float64), 0.0 if b is None else float(b[0])


def _conv_map_weight(cmap: T7Object, ctx, planes: int) -> tuple[np.ndarray, np.ndarray]:
    """A one-to-one SpatialConvolutionMap: its (planes, kH, kW) weight and per-plane bias."""
    table = tensor(cmap, ctx, "connTable", shape=(planes, 2))
    if not np.array_equal(table, np.repeat(np.arange(1, planes + 1)[:, None], 2, axis=1)):
        raise ctx.fail(cmap, "connTable is not nn.tables.oneToOne, which the local normalisations build")
    kh, kw = integer(cmap, ctx, "kH"), integer(cmap, ctx, "kW")
    w = tensor(cmap, ctx, "weight", shape=(planes, kh, kw)).astype(np.float64)
    b = tensor(cmap, ctx, "bias", required=False, shape=(planes,))
    return w, np.zeros(planes) if b is None else b.astype(np.float64)


def _estimator(m: T7Object, ctx, field: str, planes: int, *, squared: bool) -> dict:
    """The padding, the folded (1, planes, kH, kW) kernel and the bias of an estimator Sequential."""
    seq = m.get(field)
    if not isinstance(seq, T7Object):
        raise ctx.fail(m, f"has no {field}")
    kids = list(seq.children)
    names = [k.class_name for k in kids]
    ends = (["nn.Square"], ["nn.Replicate", "nn.Sqrt"]) if squared else ([], ["nn.Replicate"])
    middle = names[len(ends[0]):len(names) - len(ends[1])]
    if (names[:len(ends[0])] != ends[0] or names[len(names) - len(ends[1]):] != ends[1]
            or middle not in (["nn.SpatialZeroPadding", "nn.SpatialConvolution"],
                              ["nn.SpatialZeroPadding", "nn.SpatialConvolutionMap", "nn.SpatialConvolution"])):
        raise ctx.fail(m, f"{field} holds {names}, not what the Lua constructor builds")
    pad, *convs = kids[len(ends[0]):len(names) - len(ends[1])]
    if len(convs) == 1:
        kernel, bias = _conv_weight(convs[0], ctx, planes)
    else:  # 1-D kernel: a per-plane pass (kH = 1) then a summing pass (kW = 1)
        first, first_bias = _conv_map_weight(convs[0], ctx, planes)
        second, bias = _conv_weight(convs[1], ctx, planes)
        if first.shape[1] != 1 or second.shape[2] != 1:
            raise ctx.fail(m, f"{field}'s separable passes are not 1xk then kx1")
        kernel = second[:, :, 0][:, :, None] * first[:, 0, :][:, None, :]
        bias += float((first_bias * second.sum(axis=(1, 2))).sum())
    return {"pad": _padding(pad, ctx), "size": list(kernel.shape[1:]), "kernel": kernel[None].astype(np.float32),
            "bias": np.array([bias], np.float32)}


def _planes(m: T7Object, ctx) -> int:
    planes = integer(m, ctx, "nInputPlane", default=1)
    if planes < 1:
        raise ctx.fail(m, f"field nInputPlane is {planes}")
    return planes


def _subtractive(m: T7Object, ctx, attrs: dict, tensors: dict) -> None:
    est = _estimator(m, ctx, "meanestimator", attrs["planes"], squared=False)
    attrs.update(sub_pad=est["pad"], sub_size=est["size"])
    tensors.update(sub_kernel=est["kernel"], sub_bias=est["bias"])


def _divisive(m: T7Object, ctx, attrs: dict, tensors: dict) -> None:
    mean = _estimator(m, ctx, "meanestimator", attrs["planes"], squared=False)
    std = _estimator(m, ctx, "stdestimator", attrs["planes"], squared=True)
    thresholder = m.get("thresholder")
    threshold = float(number(m, ctx, "threshold", default=1e-4))
    value = float(number(m, ctx, "thresval", default=threshold))
    if isinstance(thresholder, T7Object):  # what runs: the Threshold module built from those fields
        threshold = float(number(thresholder, ctx, "threshold", default=threshold))
        value = float(number(thresholder, ctx, "val", default=value))
    attrs.update(div_mean_pad=mean["pad"], div_mean_size=mean["size"], div_std_pad=std["pad"],
                 div_std_size=std["size"], threshold=threshold, thresval=value)
    tensors.update(div_mean_kernel=mean["kernel"], div_mean_bias=mean["bias"],
                   div_std_kernel=std["kernel"], div_std_bias=std["bias"])


@converts("nn.SpatialSubtractiveNormalization")
def subtractive_normalization(m: T7Object, ctx) -> Node:
    """``x - mean / coef``: mean is the estimator of x, coef the estimator of an image of ones (the
    share of the kernel inside the image, which corrects the borders); both computed per input size."""
    attrs: dict = {"planes": _planes(m, ctx), "subtract": True, "divide": False}
    tensors: dict = {}
    _subtractive(m, ctx, attrs, tensors)
    return Node("LocalNorm", LocalNormRecord(**attrs), tensors)


@converts("nn.SpatialDivisiveNormalization")
def divisive_normalization(m: T7Object, ctx) -> Node:
    """``x / Threshold(threshold, thresval)(sqrt(std estimator of x^2) / coef)``, coef the mean
    estimator of an image of ones."""
    attrs: dict = {"planes": _planes(m, ctx), "subtract": False, "divide": True}
    tensors: dict = {}
    _divisive(m, ctx, attrs, tensors)
    return Node("LocalNorm", LocalNormRecord(**attrs), tensors)


@converts("nn.SpatialContrastiveNormalization")
def contrastive_normalization(m: T7Object, ctx) -> Node:
    """Its ``normalizer`` Sequential: the subtractive then the divisive normalisation."""
    normalizer = m.get("normalizer")
    kids = list(normalizer.children) if isinstance(normalizer, T7Object) else []
    if [k.class_name for k in kids] != ["nn.SpatialSubtractiveNormalization", "nn.SpatialDivisiveNormalization"]:
        raise ctx.fail(m, "normalizer is not Sequential(SpatialSubtractiveNormalization, "
                          "SpatialDivisiveNormalization)")
    attrs: dict = {"planes": _planes(m, ctx), "subtract": True, "divide": True}
    tensors: dict = {}
    for kid in kids:
        if _planes(kid, ctx) != attrs["planes"]:
            raise ctx.fail(m, "its normalizer's modules have another nInputPlane")
    _subtractive(kids[0], ctx, attrs, tensors)
    _divisive(kids[1], ctx, attrs, tensors)
    return Node("LocalNorm", LocalNormRecord(**attrs), tensors)


# --- the input a first layer tells ----------------------------------------------------------------
@expects_input("Normalize")
def _normalize_input(attrs: dict) -> tuple:
    """Normalize.lua takes a vector or a batch of them (it asserts at most 2 dimensions), of any length."""
    return (None,)


@expects_input("LayerNorm")
def _layer_norm_input(attrs: dict) -> tuple[int, ...]:
    return (int(attrs["n"]),)


@expects_input("InstanceNorm")
def _instance_norm_input(attrs: dict) -> int:
    return int(attrs["num_features"])


@expects_input("LocalNorm")
def _local_norm_input(attrs: dict) -> int:
    return int(attrs["planes"])


# --- descriptions --------------------------------------------------------------------------------
@describes("nn.Normalize")
def _describe_normalize(m: T7Object) -> str:
    p = m.get("p")
    return f"{m.class_name}({int(p) if float(p).is_integer() else p})"


@describes("nn.SpatialCrossMapLRN", "cudnn.SpatialCrossMapLRN")
def _describe_lrn(m: T7Object) -> str:
    return (f"{m.class_name}(size {m.get('size')}, alpha {m.get('alpha', 1e-4)}, beta {m.get('beta', 0.75)}, "
            f"k {m.get('k', 1)})")


@describes("nn.SpatialSubtractiveNormalization", "nn.SpatialDivisiveNormalization",
           "nn.SpatialContrastiveNormalization")
def _describe_local(m: T7Object) -> str:
    k = m.get("kernel")
    size = "x".join(map(str, k.shape)) if isinstance(k, np.ndarray) else "?"
    return f"{m.class_name}({m.get('nInputPlane', 1)} planes, kernel {size})"


@describes("nn.InstanceNormalization")
def _describe_instance(m: T7Object) -> str:
    w = m.get("weight")
    return f"{m.class_name}({w.size if isinstance(w, np.ndarray) else '?'})"


@describes("nn.LayerNormalization")
def _describe_layer(m: T7Object) -> str:
    return f"{m.class_name}({'' if len(m.children) == 6 else 'no affine'})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("CrossMapLRN")
@dataclass(frozen=True)
class CrossMapLRNRecord:
    """What a CrossMapLRN node stores."""

    alpha: float
    beta: float
    k: float
    size: int = bounded(1, MAX_LOOP)  # each plane is summed on its own


@record("InstanceNorm")
@dataclass(frozen=True)
class InstanceNormRecord:
    """What an InstanceNorm node stores. Files converted before ``saved_batch`` existed (None) keep the
    per-instance statistics they were converted with; ``saved_batch`` -1: no saved inner bn's statistics
    apply; ``dims``: the input ranks it takes (3 and 4, or texture_nets' 4 only)."""

    eps: float
    num_features: int = bounded(0, MAX_EXTENT)
    affine: bool = True
    saved_batch: int | None = bounded(-1, MAX_EXTENT, default=None)
    saved_eps: float = 0.0
    dims: list[int] = bounded(3, 4, length=(1, 2), default=[3, 4])


@record("LayerNorm")
@dataclass(frozen=True)
class LayerNormRecord:
    """What a LayerNorm node stores."""

    affine: bool
    eps: float
    n: int
    scale: float


@record("LocalNorm")
@dataclass(frozen=True)
class LocalNormRecord:
    """What a LocalNorm node stores."""

    divide: bool
    planes: int
    subtract: bool
    div_mean_pad: list[int] | None = bounded(length=(4, 4), default=None)
    div_mean_size: list[int] | None = bounded(length=(2, 2), default=None)
    div_std_pad: list[int] | None = bounded(length=(4, 4), default=None)
    div_std_size: list[int] | None = bounded(length=(2, 2), default=None)
    sub_pad: list[int] | None = bounded(length=(4, 4), default=None)
    sub_size: list[int] | None = bounded(length=(2, 2), default=None)
    threshold: float = 0.0
    thresval: float = 0.0


@record("Normalize")
@dataclass(frozen=True)
class NormalizeRecord:
    """What a Normalize node stores."""

    eps: float
    inf: bool
    p: float
