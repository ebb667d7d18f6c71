"""The fb.resnet.torch families and the first generic ones: convolutions, batch norm, pooling, linear,
ReLU/Threshold, Identity/MulConstant/Dropout, SoftMax, View/Reshape, the containers and their cudnn and
fbnn twins."""
from __future__ import annotations

import numpy as np
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def _bn(cls: str, n: int, *, version: int = 2, legacy_std: bool = False, affine: bool = True):
    m = tm.batchnorm(n, legacy_std=legacy_std, affine=affine, spatial=cls.endswith("SpatialBatchNormalization"))
    return M(cls, 1 if legacy_std else version, **m.fields)


CASES = [
    LayerCase("conv-cudnn", lambda: tm.conv(3, 4, 3, 3, 1, 1, 1, 1), (2, 3, 7, 6)),
    LayerCase("conv-nn-strided-rectangular", lambda: tm.conv(3, 5, 3, 5, 2, 1, 1, 2, cls="nn.SpatialConvolution"),
              (2, 3, 9, 8)),
    LayerCase("conv-mm-2d-weight", lambda: M("nn.SpatialConvolutionMM", **{
        **tm.conv(2, 3, 3, 3, cls="nn.SpatialConvolutionMM").fields,
        "weight": tm.f32(3, 2 * 3 * 3, scale=0.3)}), (2, 2, 5, 5)),
    LayerCase("conv-cudnn-grouped-no-bias", lambda: tm.conv(4, 6, 3, 3, 1, 1, 1, 1, groups=2, bias=False), (2, 4, 5, 5)),
    LayerCase("conv-fbnn", lambda: M("fbnn.SpatialConvolution", **{
        k: v for k, v in tm.conv(3, 4, 3, 3, cls="fbnn.SpatialConvolution").fields.items() if k not in ("padW", "padH")},
        padLeft=1, padUp=1), (2, 3, 5, 5)),
    LayerCase("bn-spatial", lambda: _bn("nn.SpatialBatchNormalization", 3), (2, 3, 4, 4)),
    LayerCase("bn-spatial-legacy-std", lambda: _bn("nn.SpatialBatchNormalization", 3, legacy_std=True), (2, 3, 4, 4)),
    LayerCase("bn-cudnn-spatial", lambda: _bn("cudnn.SpatialBatchNormalization", 3), (2, 3, 4, 4)),
    LayerCase("bn-fbnn-spatial", lambda: _bn("fbnn.SpatialBatchNormalization", 3, legacy_std=True), (2, 3, 4, 4)),
    LayerCase("bn-1d", lambda: _bn("nn.BatchNormalization", 5), (3, 5)),
    LayerCase("bn-1d-no-affine", lambda: _bn("nn.BatchNormalization", 5, affine=False), (3, 5)),
    LayerCase("bn-cudnn-1d", lambda: _bn("cudnn.BatchNormalization", 5), (3, 5)),
    LayerCase("bn-fbnn-1d", lambda: _bn("fbnn.BatchNormalization", 5, legacy_std=True), (3, 5)),
    LayerCase("maxpool-ceil-padded", lambda: tm.maxpool(3, 3, 2, 2, 1, 1, ceil=True), (2, 3, 8, 7)),
    LayerCase("maxpool-cudnn", lambda: tm.maxpool(3, 2, 2, 2, cls="cudnn.SpatialMaxPooling"), (2, 3, 7, 7)),
    LayerCase("avgpool-exclude-pad", lambda: tm.avgpool(3, 3, 2, 2, 1, 1, count_include_pad=False), (2, 3, 7, 7)),
    LayerCase("avgpool-cudnn", lambda: tm.avgpool(2, 2, 2, 2, cls="cudnn.SpatialAveragePooling"), (2, 3, 6, 6)),
    LayerCase("linear", lambda: tm.linear(5, 3), (4, 5)),
    LayerCase("linear-no-bias", lambda: tm.linear(5, 3, bias=False), (4, 5)),
    LayerCase("relu", lambda: tm.sequential(tm.linear(4, 5), tm.relu()), (3, 4)),
    LayerCase("relu-cudnn", lambda: tm.sequential(tm.linear(4, 5), tm.relu(cls="cudnn.ReLU")), (3, 4)),
    LayerCase("threshold", lambda: tm.sequential(tm.linear(4, 5), tm.relu(0.1, -2, cls="nn.Threshold")), (3, 4)),
    LayerCase("threshold-default", lambda: tm.sequential(tm.linear(4, 5), M("nn.Threshold")), (3, 4)),
    LayerCase("identity", lambda: M("nn.Identity"), (3, 4)),
    LayerCase("mulconstant", lambda: M("nn.MulConstant", constant_scalar=-1.5, inplace=False), (3, 4)),
    LayerCase("dropout-v2", lambda: M("nn.Dropout", p=0.3, v2=True), (3, 4)),
    LayerCase("dropout-v1-scales", lambda: M("nn.Dropout", p=0.3), (3, 4)),
    LayerCase("dropout-fbnn", lambda: M("fbnn.Dropout", p=0.3, v2=True), (3, 4)),
    LayerCase("softmax", lambda: tm.sequential(tm.linear(4, 5), M("nn.SoftMax")), (3, 4)),
    LayerCase("logsoftmax", lambda: tm.sequential(tm.linear(4, 5), M("nn.LogSoftMax")), (3, 4)),
    LayerCase("softmax-cudnn-planes", lambda: M("cudnn.SoftMax", mode="CUDNN_SOFTMAX_MODE_CHANNEL"), (2, 3, 4, 4)),
    LayerCase("logsoftmax-cudnn", lambda: tm.sequential(tm.linear(4, 5), M("cudnn.LogSoftMax")), (3, 4)),
    LayerCase("view-flatten", lambda: tm.view(-1, num_input_dims=3), (2, 3, 2, 2)),
    LayerCase("reshape", lambda: M("nn.Reshape", size=np.array([6, 2], np.int64), nelement=12, batchMode=None),
              (3, 12)),
    LayerCase("sequential-concat-jointable", lambda: tm.sequential(
        M("nn.Concat", dimension=2, modules=[tm.conv(3, 2, 1, 1), tm.conv(3, 1, 3, 3, 1, 1, 1, 1)]),
        M("nn.ConcatTable", modules=[tm.conv(3, 2, 1, 1), M("nn.Identity")]),
        M("nn.JoinTable", dimension=1, nInputDims=3)), (2, 3, 5, 5)),
    LayerCase("residual-caddtable", lambda: tm.sequential(
        M("nn.ConcatTable", modules=[tm.sequential(tm.conv(3, 3, 3, 3, 1, 1, 1, 1), tm.relu()), M("nn.Identity")]),
        M("nn.CAddTable", inplace=True)), (2, 3, 5, 5)),
    LayerCase("dataparallel-table", lambda: M("nn.DataParallelTable", modules=[tm.linear(4, 2)], dimension=1), (3, 4)),
    LayerCase("dataparallel-nn", lambda: M("nn.DataParallel", modules=[tm.linear(4, 2)], dimension=1), (3, 4)),
    LayerCase("dataparallel-fbnn", lambda: M("fbnn.DataParallel", modules=[tm.linear(4, 2)], dimension=1), (3, 4)),
]
