"""The pointwise family's cases: the formula table of ``test_catalog_activations`` (which also checks the
reference against a NumPy formula), each after a Linear, as layer cases."""
from __future__ import annotations

import test_catalog_activations as activations
import torch7_models as tm

from layer_cases import LayerCase


def _after_linear(cls: str, fields: dict):
    def build():
        lin = tm.linear(5, 6)
        return tm.sequential(lin, tm.module(cls, **fields))
    return build


CASES = [LayerCase(f"pointwise-{cid}", _after_linear(cls, fields), (4, 5)) for cid, cls, fields, _ in activations.CASES]
