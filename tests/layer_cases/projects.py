"""Cases for the projects' own classes: fast-neural-style's ShaveImage and TotalVariation, the
memory-efficient DenseNet's DenseConnectLayerCustom (a tensor in, then the table the next one takes)."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def _dense_layer(n_in: int, growth: int):
    """As DenseConnectLayer.lua builds it: ``modules = {self.net1, self.net2}``, the same objects."""
    net1 = tm.sequential(tm.batchnorm(n_in), tm.relu())
    net2 = tm.sequential(tm.conv(n_in, growth, 3, 3, 1, 1, 1, 1))
    return M("nn.DenseConnectLayerCustom", net1=net1, net2=net2, modules=[net1, net2])


def _dense_block():
    first, second = _dense_layer(3, 2), _dense_layer(5, 2)
    return tm.sequential(first, second, M("nn.JoinTable", dimension=2))


def _convert():
    reshape = M("nn.Reshape", size=__import__("numpy").array([18], "int64"), nelement=18, batchMode=None)
    return tm.sequential(tm.conv(3, 2, 3, 3, 1, 1, 1, 1),
                         M("nn.Convert", inputShape="bchw", outputShape="bf", nInputDim=4, nOutputDim=2,
                           inputBatchDim=1, outputBatchDim=1, modules=[reshape]))


CASES = [
    LayerCase("convert-bchw-bf", _convert, (2, 3, 3, 3)),
    LayerCase("shaveimage", lambda: tm.sequential(tm.conv(3, 3, 3, 3, 1, 1, 1, 1), M("nn.ShaveImage", size=2)),
              (2, 3, 9, 8)),
    LayerCase("totalvariation", lambda: tm.sequential(M("nn.TotalVariation", strength=1e-6), tm.conv(3, 2, 1, 1)),
              (2, 3, 5, 5)),
    LayerCase("denseconnectlayercustom-block", _dense_block, (2, 3, 6, 6)),
]
