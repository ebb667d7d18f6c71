"""View and Reshape."""
from __future__ import annotations

import numpy as np
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


CASES = [
    LayerCase("view-flatten", lambda: tm.view(-1, num_input_dims=3), (2, 3, 2, 2)),
    LayerCase("reshape", lambda: M("nn.Reshape", size=np.array([6, 2], np.int64), nelement=12, batchMode=None),
              (3, 12)),
]
