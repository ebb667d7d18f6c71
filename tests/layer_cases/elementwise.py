"""ReLU/Threshold, Identity (on a tensor and on a table), MulConstant, Dropout in both modes, SoftMax and
LogSoftMax (nn's and cudnn's axes)."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


CASES = [
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
    LayerCase("identity-on-a-table", lambda: M("nn.Identity"), [(2, 3), (2, 4)]),
]
