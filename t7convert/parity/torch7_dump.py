"""Reading the outputs real Torch7 dumped (``reference/dump_reference.lua``: ``{input=, output=, stages=}``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.torch7.format import T7Object


# --- Torch7 reference files ----------------------------------------------------------------------
@dataclass
class Torch7Outputs:
    """What ``dump_reference.lua`` writes: the input, the output and the top-level stages."""

    source: str
    input: Any                # a tensor, or a list of them (a model taking a table)
    output: Any
    stages: list[Any]


def read_torch7_outputs(path: str) -> Torch7Outputs:
    """Read a ``{input=, output=, stages=}`` file written by Torch7 (stages optional)."""
    from t7convert.torch7.format import read
    table = read(path)
    get = table.get if isinstance(table, (dict, T7Object)) else None
    if get is None:
        raise T7ConvertError(f"{path}: expected a table {{input=, output=, stages=}}, found {type(table).__name__}")
    tensors = {}
    for key in ("input", "output"):
        value = get(key)
        if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            tensors[key] = list(value)  # a model taking or returning a Lua table
            continue
        if not isinstance(value, np.ndarray) or value.size == 0:
            raise T7ConvertError(f"{path}: no {key} tensor (expected a table {{input=, output=, stages=}})")
        tensors[key] = value
    stages = get("stages")
    if stages is None:
        stages = []
    elif isinstance(stages, dict):  # a Lua table with holes: keep each stage at its module's index
        last = max((k for k in stages if isinstance(k, int) and k >= 1), default=0)
        stages = [stages.get(k) for k in range(1, last + 1)]
    elif not isinstance(stages, list):
        raise T7ConvertError(f"{path}: stages should be a list of tensors")
    return Torch7Outputs(path, tensors["input"], tensors["output"], list(stages))
