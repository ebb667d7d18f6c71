"""The pointwise and tensor-op families' cases: the formula tables of ``test_catalog_activations`` and
``test_catalog_shapes`` (which also check the reference against a NumPy formula), as layer cases."""
from __future__ import annotations

import test_catalog_activations as activations
import test_catalog_shapes as shapes
import torch7_models as tm

from layer_cases import LayerCase


def _after_linear(cls: str, fields: dict):
    def build():
        lin = tm.linear(5, 6)
        return tm.sequential(lin, tm.module(cls, **fields))
    return build


CASES = [LayerCase(f"pointwise-{cid}", _after_linear(cls, fields), (4, 5)) for cid, cls, fields, _ in activations.CASES]
CASES += [LayerCase(f"tensor-op-{cid}", (lambda m=model: m), tuple(x.shape)) for cid, model, x, _ in shapes.CASES]
