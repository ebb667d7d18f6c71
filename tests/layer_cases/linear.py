"""nn.Linear, with and without a bias."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

CASES = [
    LayerCase("linear", lambda: tm.linear(5, 3), (4, 5)),
    LayerCase("linear-no-bias", lambda: tm.linear(5, 3, bias=False), (4, 5)),
]
