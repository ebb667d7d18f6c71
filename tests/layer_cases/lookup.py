"""LookupTable (maxNorm renorm too), SparseLinear, IndexLinear, Kmeans. Index inputs are made from the
verification's random input by Abs, AddConstant(1) and Clamp(1, n): float indices, truncated by Torch7."""
from __future__ import annotations

import numpy as np  # noqa: F401
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def to_index(n: int, *mods):
    """|x| + 1 clamped to [1, n] (floats Torch7 truncates into indices), then ``mods``."""
    return tm.sequential(M("nn.Abs"), M("nn.AddConstant", constant_scalar=1.0, inplace=False),
                         M("nn.Clamp", min_val=1.0, max_val=float(n), inplace=False), *mods)


def lookup(n: int, dim: int, max_norm: float | None = None, norm_type: float | None = None):
    fields = {"weight": tm.f32(n, dim), "paddingValue": 0, "shouldScaleGradByFreq": False}
    if max_norm is not None:
        fields["maxNorm"] = max_norm
    if norm_type is not None:
        fields["normType"] = norm_type
    return M("nn.LookupTable", 4, **fields)


def sparse_linear(n_in: int, n_out: int):
    return M("nn.SparseLinear", weight=tm.f32(n_out, n_in), bias=tm.f32(n_out), weightDecay=0, doGradInput=False)


def index_linear(n_in: int, n_out: int, offset: int = -1):
    return M("nn.IndexLinear", weight=tm.f32(n_in, n_out), bias=tm.f32(n_out), offset=offset, normalize=0,
             inputSize=n_in, outputSize=n_out)


CASES = [
    LayerCase("lookuptable-matrix", lambda: to_index(10, lookup(10, 4)), (3, 5)),
    LayerCase("lookuptable-maxnorm", lambda: to_index(6, lookup(6, 3, max_norm=0.8)), (2, 4)),
    LayerCase("lookuptable-maxnorm-l1", lambda: to_index(6, lookup(6, 3, max_norm=1.0, norm_type=1)), (2, 4)),
    LayerCase("sparselinear", lambda: to_index(10, sparse_linear(10, 3)), (4, 2)),
    LayerCase("indexlinear", lambda: tm.sequential(M("nn.ConcatTable", modules=[
        to_index(10, M("nn.Select", dimension=2, index=1)), M("nn.Select", dimension=2, index=2)]),
        index_linear(10, 3)), (4, 2)),
    LayerCase("lookuptablemaskzero", lambda: tm.sequential(M("nn.Abs"), M("nn.Clamp", min_val=0.0, max_val=5.0,
                                                                          inplace=False),
                                                           M("nn.LookupTableMaskZero", 4, weight=tm.f32(6, 3),
                                                             paddingValue=0, shouldScaleGradByFreq=False)), (3, 5)),
    LayerCase("kmeans", lambda: M("nn.Kmeans", weight=tm.f32(4, 5), k=4, dim=5), (6, 5)),
    LayerCase("lookup-table", lambda: M("nn.LookupTable", weight=tm.f32(10, 4), paddingValue=0), (2, 5), indices=10),
]


