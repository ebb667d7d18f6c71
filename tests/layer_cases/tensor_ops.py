"""The tensor-op family's cases: the table of ``test_catalog_shapes`` (which also checks the reference
against NumPy), as layer cases."""
from __future__ import annotations

import test_catalog_shapes as shapes

from layer_cases import LayerCase

CASES = [LayerCase(f"tensor-op-{cid}", (lambda m=model: m), tuple(x.shape)) for cid, model, x, _ in shapes.CASES]
