"""Counting a Torch7 model's parameters as ``getParameters`` does: every weight and bias tensor once."""
from __future__ import annotations

import numpy as np

from t7convert.torch7.format import T7Object


def parameter_count(module: T7Object) -> int:
    """Weights and biases of the module and its children, each tensor once (as getParameters counts)."""
    seen: set[int] = set()
    total = 0
    for _, m in module.walk(unique=True):
        for name in ("weight", "bias"):
            t = m.get(name)
            if isinstance(t, np.ndarray) and id(t) not in seen:
                seen.add(id(t))
                total += int(t.size)
    return total
