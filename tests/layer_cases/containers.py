"""Sequential, Concat, ConcatTable, JoinTable, CAddTable and the data-parallel wrappers (nn, fbnn)."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


CASES = [
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
