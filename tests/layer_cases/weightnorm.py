"""WeightNorm (around a Linear or a convolution, either output dimension), LinearWeightNorm (stored
weight in evaluate mode, recomputed otherwise), PartialLinear (a partition of its columns)."""
from __future__ import annotations

import numpy as np
import torch7_models as tm

from layer_cases import LayerCase
from t7convert.torch7.format import T7Object, as_storage

M = tm.module


def weight_norm(inner: T7Object, out_dim: int = 1) -> T7Object:
    """WeightNorm(inner, outDim) as WeightNorm:write saves it: v and g, no weight in the module."""
    size = list(inner.get("weight").shape)
    rows = size[out_dim - 1]
    v = tm.f32(rows, int(np.prod(size)) // rows)
    g = (np.abs(tm.f32(rows)) + 0.5).astype(np.float32)
    fields = {k: val for k, val in inner.fields.items() if k != "weight"}
    return M("nn.WeightNorm", modules=[T7Object(inner.class_name, inner.version, fields)], v=v, g=g.reshape(rows, 1),
             outputDim=out_dim, weightSize=as_storage(np.array(size, np.int64)), bias=inner.get("bias"))


def linear_weight_norm(n_in: int, n_out: int, *, train: bool = False) -> T7Object:
    v = tm.f32(n_out, n_in)
    g = (np.abs(tm.f32(n_out, 1)) + 0.5).astype(np.float32)
    weight = (v * g / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    if train:  # a weight from before the last update: evaluate() recomputes it
        weight = tm.f32(n_out, n_in)
    return M("nn.LinearWeightNorm", v=v, g=g, weight=weight, bias=tm.f32(n_out), eps=1e-16, train=train,
             inputSize=n_in, outputSize=n_out)


def partial_linear(n_in: int, n_out: int, partition=None) -> T7Object:
    lookup = M("nn.LookupTable", weight=tm.f32(n_out, n_in), paddingValue=0)
    network = tm.sequential(M("nn.ParallelTable", modules=[M("nn.Identity"), lookup]),
                            M("nn.MM", transA=False, transB=True))
    columns = np.arange(1, n_out + 1, dtype=np.float32)
    return M("nn.PartialLinear", network=network, bias=tm.f32(1, n_out), inputsize=n_in, outputsize=n_out,
             allcolumns=columns, partition=columns if partition is None else np.array(partition, np.float32))


CASES = [
    LayerCase("weightnorm-linear", lambda: weight_norm(tm.linear(5, 4)), (3, 5)),
    LayerCase("weightnorm-linear-dim2", lambda: weight_norm(tm.linear(5, 4), out_dim=2), (3, 5)),
    LayerCase("weightnorm-conv", lambda: weight_norm(tm.conv(3, 4, 3, 3, 1, 1, 1, 1, cls="nn.SpatialConvolution")),
              (2, 3, 5, 5)),
    LayerCase("linearweightnorm", lambda: linear_weight_norm(5, 3), (4, 5)),
    LayerCase("linearweightnorm-training-mode", lambda: linear_weight_norm(5, 3, train=True), (4, 5)),
    LayerCase("partiallinear", lambda: partial_linear(5, 4), (3, 5)),
    LayerCase("partiallinear-partition", lambda: partial_linear(5, 4, [3, 1]), (3, 5)),
]
