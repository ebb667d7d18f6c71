"""Euclidean, WeightedEuclidean, Cosine, and the table-input CosineDistance, PairwiseDistance, DotProduct,
MM, MV, Bilinear (fed by a ConcatTable, since a converted file is verified on one input tensor)."""
from __future__ import annotations

import numpy as np  # noqa: F401
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def pair(a, b, *rest):
    """A Sequential of ConcatTable(a, b) and the modules after it."""
    return tm.sequential(M("nn.ConcatTable", modules=[a, b]), *rest)


def euclidean(n_in: int, n_out: int, weighted: bool = False):
    if weighted:
        return M("nn.WeightedEuclidean", weight=tm.f32(n_in, n_out), diagCov=tm.f32(n_in, n_out))
    return M("nn.Euclidean", weight=tm.f32(n_in, n_out), fastBackward=True)


def bilinear(n1: int, n2: int, n_out: int, bias: bool = True):
    fields = {"weight": tm.f32(n_out, n1, n2)}
    if bias:
        fields["bias"] = tm.f32(n_out)
    return M("nn.Bilinear", **fields)


CASES = [
    LayerCase("euclidean", lambda: euclidean(5, 3), (4, 5)),
    LayerCase("weightedeuclidean", lambda: euclidean(5, 3, weighted=True), (4, 5)),
    LayerCase("cosine", lambda: M("nn.Cosine", weight=tm.f32(3, 5)), (4, 5)),
    LayerCase("cosinedistance", lambda: pair(tm.linear(5, 4), tm.linear(5, 4), M("nn.CosineDistance")), (3, 5)),
    LayerCase("pairwisedistance-3", lambda: pair(tm.linear(5, 4), tm.linear(5, 4), M("nn.PairwiseDistance", norm=3)),
              (3, 5)),
    LayerCase("pairwisedistance-1", lambda: pair(tm.linear(5, 4), tm.linear(5, 4), M("nn.PairwiseDistance", norm=1)),
              (3, 5)),
    LayerCase("dotproduct", lambda: pair(tm.linear(5, 4), tm.linear(5, 4), M("nn.DotProduct")), (3, 5)),
    LayerCase("mm-batched", lambda: pair(tm.view(3, 4, num_input_dims=1), tm.view(4, 3, num_input_dims=1),
                                         M("nn.MM", transA=False, transB=False)), (2, 12)),
    LayerCase("mm-trans-a", lambda: pair(tm.view(3, 4, num_input_dims=1), tm.view(3, 4, num_input_dims=1),
                                         M("nn.MM", transA=True, transB=False)), (2, 12)),
    LayerCase("mm-matrices-trans-b", lambda: pair(M("nn.Identity"), tm.linear(4, 4),
                                                  M("nn.MM", transA=False, transB=True)), (3, 4)),
    LayerCase("mv-batched", lambda: pair(tm.view(3, 4, num_input_dims=1), tm.linear(12, 4), M("nn.MV", trans=False)),
              (2, 12)),
    LayerCase("mv-trans", lambda: pair(tm.view(4, 3, num_input_dims=1), tm.linear(12, 4), M("nn.MV", trans=True)),
              (2, 12)),
    LayerCase("bilinear", lambda: pair(tm.linear(5, 4), tm.linear(5, 3), bilinear(4, 3, 2)), (3, 5)),
    LayerCase("bilinear-no-bias", lambda: pair(tm.linear(5, 2), M("nn.Identity"), bilinear(2, 5, 3, bias=False)),
              (3, 5)),
]


