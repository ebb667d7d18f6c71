"""PReLU, RReLU, CReLU, GatedLinearUnit, Mul, CMul, Add, CAdd, Constant, the spatial softmaxes, Maxout."""
from __future__ import annotations

import numpy as np
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def _maxout(n_in: int, n_out: int, k: int):
    return M("nn.Maxout", modules=[tm.linear(n_in, n_out * k), tm.view(k, n_out, num_input_dims=1),
                                   M("nn.Max", dimension=1, nInputDims=2)])


def _crelu(n: int):
    return M("nn.CReLU", nInputDims=n, inplace=False, modules=[
        M("nn.ConcatTable", modules=[M("nn.Identity"), M("nn.MulConstant", constant_scalar=-1, inplace=False)]),
        M("nn.JoinTable", dimension=2), tm.relu()])


CASES = [
    LayerCase("prelu-shared", lambda: M("nn.PReLU", nOutputPlane=0, weight=np.array([0.3], np.float32)), (2, 3, 4, 4)),
    LayerCase("prelu-planes-4d", lambda: M("nn.PReLU", nOutputPlane=3, weight=tm.f32(3)), (2, 3, 4, 4)),
    LayerCase("prelu-planes-2d", lambda: M("nn.PReLU", nOutputPlane=5, weight=tm.f32(5)), (3, 5)),
    LayerCase("rrelu-eval", lambda: M("nn.RReLU", lower=0.1, upper=0.5, inplace=False), (2, 3, 4)),
    LayerCase("crelu-batched", lambda: _crelu(3), (2, 3, 4, 4)),
    LayerCase("crelu-vector", lambda: _crelu(1), (2, 5)),
    LayerCase("glu-last", lambda: M("nn.GatedLinearUnit"), (3, 6)),
    LayerCase("glu-dim2", lambda: M("nn.GatedLinearUnit", dim=2), (2, 4, 3)),
    LayerCase("mul", lambda: M("nn.Mul", weight=np.array([-1.7], np.float32)), (3, 4)),
    LayerCase("cmul-broadcast", lambda: M("nn.CMul", weight=tm.f32(1, 3, 1, 1), size=np.array([1, 3, 1, 1])),
              (2, 3, 4, 4)),
    LayerCase("cmul-per-sample", lambda: M("nn.CMul", weight=tm.f32(3, 4)), (2, 3, 4)),
    LayerCase("cadd-broadcast", lambda: M("nn.CAdd", bias=tm.f32(1, 3, 1, 1)), (2, 3, 4, 4)),
    LayerCase("add-rows", lambda: M("nn.Add", bias=tm.f32(6)), (3, 6)),
    LayerCase("add-per-sample", lambda: M("nn.Add", bias=tm.f32(12)), (2, 3, 4)),
    LayerCase("add-scalar", lambda: M("nn.Add", bias=tm.f32(1), scalar=True), (3, 5)),
    LayerCase("constant-batched", lambda: M("nn.Constant", value=tm.f32(2, 3), nInputDim=1), (4, 5)),
    LayerCase("spatialsoftmax", lambda: M("nn.SpatialSoftMax"), (2, 3, 4, 4)),
    LayerCase("spatiallogsoftmax", lambda: M("nn.SpatialLogSoftMax"), (2, 3, 4, 4)),
    LayerCase("cudnn-spatialsoftmax", lambda: M("cudnn.SpatialSoftMax", mode="CUDNN_SOFTMAX_MODE_CHANNEL",
                                                algorithm="CUDNN_SOFTMAX_ACCURATE"), (2, 3, 4, 4)),
    LayerCase("cudnn-spatialsoftmax-instance", lambda: M("cudnn.SpatialSoftMax", mode="CUDNN_SOFTMAX_MODE_INSTANCE"),
              (2, 3, 4, 4)),
    LayerCase("cudnn-spatiallogsoftmax", lambda: M("cudnn.SpatialLogSoftMax"), (2, 3, 4, 4)),
    LayerCase("maxout", lambda: _maxout(5, 3, 2), (4, 5)),
]
