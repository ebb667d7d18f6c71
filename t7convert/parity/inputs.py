"""The model in a file, the inputs drawn for it (seeded), and how inputs are named in messages."""
from __future__ import annotations

from typing import Any

import numpy as np

from t7convert.torch7.checkpoint import find_model
from t7convert.torch7.format import T7Object


# --- the model in a file, and an input for it ----------------------------------------------------
def model_in(root: Any) -> T7Object:
    """The module a ``.t7`` file holds (see :func:`t7convert.torch7.checkpoint.find_model`)."""
    return find_model(root)[0]


def describe_input(x: Any) -> str:
    """``2x3x5``, or ``{2x5, 2x3}`` for a table, for messages."""
    if isinstance(x, (list, tuple)):
        return "{" + ", ".join(describe_input(v) for v in x) + "}"
    return "x".join(map(str, np.shape(x))) or "scalar"


def flat_table(value: Any) -> list:
    """The tensors of a (nested) Lua table in order, as FlattenTable lists them; a tensor is itself."""
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flat_table(v)]
    return [value]


def as_float32(x: Any) -> Any:
    """A float32 copy of an input tensor, or of each tensor of a table of inputs."""
    if isinstance(x, (list, tuple)):
        return [as_float32(v) for v in x]
    return np.asarray(x, dtype=np.float32)


#: the input's shape for messages (``3x224x224``, ``{3, 3x24}``); the name the graph code uses
shape_text = describe_input
