"""Distances and products: Euclidean, WeightedEuclidean, Cosine (of a tensor against weights), and the
table-input CosineDistance, PairwiseDistance, DotProduct, MM, MV and Bilinear.

Table-input modules take a Lua table {a, b}; the converted module takes a Python list [a, b]. A 1-D
pair gives a one-element output for CosineDistance, PairwiseDistance and DotProduct (their Lua code
views the vectors as one row).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from t7convert.conversion.fields import constructor_call, flag, number, tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


def _matrix(m: T7Object, ctx, name: str) -> np.ndarray:
    w = tensor(m, ctx, name)
    if w.ndim != 2:
        raise ctx.fail(m, f"{name} has shape {tuple(w.shape)}, expected a matrix")
    return w


@converts("nn.Euclidean")
def euclidean(m: T7Object, ctx) -> Node:
    """Euclidean.lua: ``y_j = |x - weight[:, j]|``; weight is (inputSize, outputSize), the transpose of
    Linear's."""
    w = _matrix(m, ctx, "weight")
    return Node("Euclidean", EuclideanRecord(in_features=w.shape[0], out_features=w.shape[1], weighted=False),
                {"weight": w})


@converts("nn.WeightedEuclidean")
def weighted_euclidean(m: T7Object, ctx) -> Node:
    """WeightedEuclidean.lua: ``y_j = |diagCov[:, j] * (x - weight[:, j])|``."""
    w = _matrix(m, ctx, "weight")
    cov = tensor(m, ctx, "diagCov", shape=w.shape)
    return Node("Euclidean", EuclideanRecord(in_features=w.shape[0], out_features=w.shape[1], weighted=True),
                {"weight": w, "diagCov": cov})


@converts("nn.Cosine")
def cosine(m: T7Object, ctx) -> Node:
    """Cosine.lua: ``y_j = w_j . x / ((|w_j| + 1e-12) (|x| + 1e-12))``; weight (outputSize, inputSize)."""
    w = _matrix(m, ctx, "weight")
    return Node("Cosine", CosineRecord(in_features=w.shape[1], out_features=w.shape[0]), {"weight": w})


@converts("nn.CosineDistance")
def cosine_distance(m: T7Object, ctx) -> Node:
    """CosineDistance.lua: ``a.b * sqrt(1/(|a|^2 + 1e-12) * 1/(|b|^2 + 1e-12))`` per row."""
    return Node("CosineDistance")


@converts("nn.PairwiseDistance")
def pairwise_distance(m: T7Object, ctx) -> Node:
    """PairwiseDistance.lua: ``(sum |a - b|^p)^(1/p)`` per row (field ``norm``, default 2)."""
    p = float(number(m, ctx, "norm", default=2))
    if not (p > 0 and math.isfinite(p)):
        raise ctx.fail(m, f"field norm is {p}: only finite p > 0 (Torch7's batch code raises |a-b| to p)")
    return Node("PairwiseDistance", PairwiseDistanceRecord(p=p))


@converts("nn.DotProduct")
def dot_product(m: T7Object, ctx) -> Node:
    return Node("DotProduct")


@converts("nn.MM")
def mm(m: T7Object, ctx) -> Node:
    """MM.lua: ``a @ b`` of matrices or batches of matrices, either transposed first (transA, transB)."""
    return Node("MM", MMRecord(trans_a=bool(flag(m, "transA")), trans_b=bool(flag(m, "transB"))))


@converts("nn.MV")
def mv(m: T7Object, ctx) -> Node:
    """MV.lua: ``M @ v`` of a matrix and a vector, or of batches of them; M transposed first with trans."""
    return Node("MV", MVRecord(trans=bool(flag(m, "trans"))))


@converts("nn.Bilinear")
def bilinear(m: T7Object, ctx) -> Node:
    """Bilinear.lua: ``y_k = a W_k b^T + bias_k`` for rows a, b; weight (out, in1, in2), exactly
    ``torch.nn.Bilinear``'s."""
    w = tensor(m, ctx, "weight")
    if w.ndim != 3:
        raise ctx.fail(m, f"weight has shape {tuple(w.shape)}, expected (out, in1, in2)")
    bias = tensor(m, ctx, "bias", required=False, shape=(w.shape[0],))
    tensors = {"weight": w} if bias is None else {"weight": w, "bias": bias}
    return Node("Bilinear", BilinearRecord(in1=w.shape[1], in2=w.shape[2], out=w.shape[0], bias=bias is not None),
                tensors)


@expects_input("Euclidean")
def _euclidean_input(attrs: dict) -> tuple[int, ...]:
    return (int(attrs["in_features"]),)


@expects_input("Cosine")
def _cosine_input(attrs: dict) -> tuple[int, ...]:
    return (int(attrs["in_features"]),)


# Table-input ops tell the table they take as a list of sample shapes (the input-spec protocol of
# ``expects_input``: a list is a Lua table; each element gets the batch dimension in front).
@expects_input("CosineDistance", "DotProduct", "PairwiseDistance")
def _pair_input(attrs: dict) -> Any:
    return [(5,), (5,)]


@expects_input("Bilinear")
def _bilinear_input(attrs: dict) -> Any:
    return [(int(attrs["in1"]),), (int(attrs["in2"]),)]


@expects_input("MM")
def _mm_input(attrs: dict) -> Any:
    """Batches of 3x4 by 4x5 matrices, stored transposed where the op transposes them."""
    return [(4, 3) if attrs["trans_a"] else (3, 4), (5, 4) if attrs["trans_b"] else (4, 5)]


@expects_input("MV")
def _mv_input(attrs: dict) -> Any:
    return [(4, 3) if attrs["trans"] else (3, 4), (4,)]


def _size(m: T7Object, name: str, dims: tuple[int, ...]) -> str:
    w = m.get(name)
    return " x ".join(str(w.shape[d]) for d in dims) if isinstance(w, np.ndarray) and w.ndim > max(dims) else "?"


@describes("nn.Euclidean", "nn.WeightedEuclidean")
def _describe_euclidean(m: T7Object) -> str:
    return f"{m.class_name}({_size(m, 'weight', (0,))} -> {_size(m, 'weight', (1,))})"


@describes("nn.Cosine")
def _describe_cosine(m: T7Object) -> str:
    return f"{m.class_name}({_size(m, 'weight', (1,))} -> {_size(m, 'weight', (0,))})"


@describes("nn.Bilinear")
def _describe_bilinear(m: T7Object) -> str:
    return f"{m.class_name}({_size(m, 'weight', (1, 2))} -> {_size(m, 'weight', (0,))})"


@describes("nn.PairwiseDistance")
def _describe_pairwise(m: T7Object) -> str:
    return f"{m.class_name}({m.get('norm', 2)})"


@describes("nn.MM")
def _describe_mm(m: T7Object) -> str:
    return f"{m.class_name}({bool(flag(m, 'transA'))}, {bool(flag(m, 'transB'))})"


@describes("nn.MV")
def _describe_mv(m: T7Object) -> str:
    return constructor_call(m, 'trans')


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Bilinear")
@dataclass(frozen=True)
class BilinearRecord:
    """What a Bilinear node stores."""

    bias: bool
    in1: int
    in2: int
    out: int


@record("Cosine")
@dataclass(frozen=True)
class CosineRecord:
    """What a Cosine node stores."""

    in_features: int = bounded(0, MAX_EXTENT)
    out_features: int = bounded(0, MAX_EXTENT)


@record("CosineDistance")
@dataclass(frozen=True)
class CosineDistanceRecord:
    """A CosineDistance node stores no attributes."""


@record("DotProduct")
@dataclass(frozen=True)
class DotProductRecord:
    """A DotProduct node stores no attributes."""


@record("Euclidean")
@dataclass(frozen=True)
class EuclideanRecord:
    """What a Euclidean node stores."""

    in_features: int = bounded(0, MAX_EXTENT)
    out_features: int = bounded(0, MAX_EXTENT)
    weighted: bool


@record("MM")
@dataclass(frozen=True)
class MMRecord:
    """What a MM node stores."""

    trans_a: bool
    trans_b: bool


@record("MV")
@dataclass(frozen=True)
class MVRecord:
    """What a MV node stores."""

    trans: bool


@record("PairwiseDistance")
@dataclass(frozen=True)
class PairwiseDistanceRecord:
    """What a PairwiseDistance node stores."""

    p: float
