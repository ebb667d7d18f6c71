"""Layers indexed by their input: nn.LookupTable, nn.SparseLinear, nn.IndexLinear, and nn.Kmeans (whose
output is an index).

Indices are 1-based; Torch7 copies a float index tensor into a LongTensor, which truncates toward zero,
and so does the converted module (it accepts float and integer tensors alike).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from t7convert.conversion.fields import integer, number, tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


def _matrix(m: T7Object, ctx, name: str) -> np.ndarray:
    w = tensor(m, ctx, name)
    if w.ndim != 2:
        raise ctx.fail(m, f"{name} has shape {tuple(w.shape)}, expected a matrix")
    return w


def _renormed(m: T7Object, ctx, weight: np.ndarray) -> np.ndarray:
    """LookupTable:renorm before each forward (THNN LookupTable_renorm): every row the input names whose
    normType-norm exceeds maxNorm is scaled in place by ``maxNorm / (norm + 1e-7)``. A scaled row's norm
    is then below maxNorm, so scaling every such row once, now, gives what any sequence of forwards
    computes."""
    max_norm = number(m, ctx, "maxNorm", default=None)
    if max_norm is None:
        return weight
    p = float(number(m, ctx, "normType", default=2))
    if p <= 0:
        raise ctx.fail(m, f"field normType is {p}: THNN refuses non-positive norms")
    w = weight.astype(np.float64)
    norm = (np.abs(w) ** p).sum(axis=1) ** (1.0 / p)
    scale = np.where(norm > max_norm, float(max_norm) / (norm + 1e-7), 1.0)
    ctx.note(f"LookupTable rows renormalised to maxNorm {max_norm} as Torch7's forward does")
    return (w * scale[:, None]).astype(np.float32)


@converts("nn.LookupTable")
def lookup_table(m: T7Object, ctx) -> Node:
    """``weight[index]`` for a vector (T) or matrix (N, T) of indices; paddingValue only affects training."""
    weight = _renormed(m, ctx, _matrix(m, ctx, "weight"))
    return Node("LookupTable", LookupTableRecord(num=weight.shape[0], dim=weight.shape[1]), {"weight": weight})


@converts("nn.LookupTableMaskZero")
def lookup_table_mask_zero(m: T7Object, ctx) -> Node:
    """Element-Research rnn's LookupTableMaskZero.lua: each forward zeroes ``weight[1]`` and looks up
    ``input + 1`` in LookupTable's way, so index 0 gives a zero row and index i row i + 1."""
    weight = _matrix(m, ctx, "weight").copy()
    weight[0] = 0
    weight = _renormed(m, ctx, weight)
    return Node("LookupTable", LookupTableRecord(num=weight.shape[0], dim=weight.shape[1], offset=1), {"weight": weight})


@converts("nn.SparseLinear")
def sparse_linear(m: T7Object, ctx) -> Node:
    """SparseLinear.lua: a sample is an (nnz, 2) tensor of (1-based index, value) rows; the output is
    ``bias + sum value * weight[:, index]`` (zero values skipped). A 3-D tensor is a batch of such
    samples (legacy mode), a table a batch of samples of their own nnz."""
    weight = _matrix(m, ctx, "weight")
    bias = tensor(m, ctx, "bias", shape=(weight.shape[0],))
    return Node("SparseLinear", SparseLinearRecord(in_features=weight.shape[1], out_features=weight.shape[0]),
                {"weight": weight, "bias": bias})


@converts("nn.IndexLinear")
def index_linear(m: T7Object, ctx) -> Node:
    """IndexLinear.lua: input {keys, values} (one sample), {{keys...}, {values...}} (a batch), or
    {keys, values, sizes} (a flat batch); ``output = bias + sum values[i] * weight[keys[i] + offset]``
    with weight (inputSize, outputSize) and ``offset`` = keysOffset - 1 (-1: keys are 1-based)."""
    if integer(m, ctx, "normalize", default=0):
        raise ctx.fail(m, "field normalize is set: values are rescaled by per-feature statistics the "
                          "weight's extra columns keep, which is not converted")
    weight = _matrix(m, ctx, "weight")
    bias = tensor(m, ctx, "bias", shape=(weight.shape[1],))
    offset = integer(m, ctx, "offset", default=-1)
    return Node("IndexLinear", IndexLinearRecord(in_features=weight.shape[0], out_features=weight.shape[1], offset=offset),
                {"weight": weight, "bias": bias})


@converts("nn.Kmeans")
def kmeans(m: T7Object, ctx) -> Node:
    """Kmeans.lua: each row of a 2-D input gets the 1-based index (as a float) of its nearest centroid
    (squared Euclidean distance; the first of equals)."""
    weight = _matrix(m, ctx, "weight")
    dim = integer(m, ctx, "dim", default=weight.shape[1])
    if dim != weight.shape[1]:
        raise ctx.fail(m, f"field dim is {dim}, weight has {weight.shape[1]} columns")
    return Node("Kmeans", KmeansRecord(k=weight.shape[0], dim=dim), {"weight": weight})


@expects_input("Kmeans")
def _kmeans_input(attrs: dict) -> tuple[int, ...]:
    return (int(attrs["dim"]),)


# Index inputs are told as integer tensor specs (``{shape, dtype, low, high, batch}``, the
# input-spec protocol of ``expects_input``), so that a verification draws valid indices.
@expects_input("LookupTable")
def _lookup_input(attrs: dict) -> Any:
    offset = int(attrs.get("offset", 0))  # LookupTableMaskZero: 0 .. num - 1
    return {"shape": [3], "dtype": "int64", "low": 1 - offset, "high": int(attrs["num"]) - offset}


@expects_input("SparseLinear")
def _sparse_input(attrs: dict) -> Any:
    """A batch of samples of 4 (index, value) rows (legacy mode). The rows are a FloatTensor in Torch7
    (the values are real numbers; only the first column is read as an index), so the spec is float32:
    an int64 spec made the exported .onnx/.pt2 declare an integer input, and a caller's real values
    were cast to integers before the program saw them. Drawn from the index range, the values are
    whole numbers here, which the module treats as the reals they are."""
    return {"shape": [4, 2], "dtype": "float32", "low": 1, "high": int(attrs["in_features"])}


@expects_input("IndexLinear")
def _index_linear_input(attrs: dict) -> Any:
    """One sample: {keys, values}, keys such that ``key + offset`` is a row of the weight."""
    low = -int(attrs["offset"])
    return [{"shape": [3], "dtype": "int64", "low": low, "high": low + int(attrs["in_features"]) - 1,
             "batch": False}, {"shape": [3], "batch": False}]


def _shape(m: T7Object) -> str:
    w = m.get("weight")
    return " x ".join(map(str, w.shape)) if isinstance(w, np.ndarray) else "?"


@describes("nn.LookupTable", "nn.LookupTableMaskZero", "nn.SparseLinear", "nn.IndexLinear", "nn.Kmeans")
def _describe(m: T7Object) -> str:
    return f"{m.class_name}({_shape(m)})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("IndexLinear")
@dataclass(frozen=True)
class IndexLinearRecord:
    """What a IndexLinear node stores."""

    in_features: int = bounded(0, MAX_EXTENT)
    offset: int
    out_features: int = bounded(0, MAX_EXTENT)


@record("Kmeans")
@dataclass(frozen=True)
class KmeansRecord:
    """What a Kmeans node stores."""

    dim: int
    k: int


@record("LookupTable")
@dataclass(frozen=True)
class LookupTableRecord:
    """What a LookupTable node stores (``offset`` 1: LookupTableMaskZero, index 0 a zero row)."""

    dim: int
    num: int
    offset: int = bounded(choices=(0, 1), default=0)


@record("SparseLinear")
@dataclass(frozen=True)
class SparseLinearRecord:
    """What a SparseLinear node stores."""

    in_features: int = bounded(0, MAX_EXTENT)
    out_features: int = bounded(0, MAX_EXTENT)
