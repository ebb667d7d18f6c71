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


def random_input(shape: Any, batch: int, seed: int) -> Any:
    """A seeded standard-normal float32 batch (the scale of normalized images).

    ``shape`` is a sample's shape, or an input spec of a model that takes a Lua table (see
    :func:`t7convert.conversion.registry.expects_input`): a list of specs is a table (a Python list),
    a dict ``{shape, dtype?, low?, high?, batch?}`` a tensor drawn as it says (integers uniform in
    ``[low, high]``; ``batch`` false: no batch dimension in front).
    """
    rng = np.random.default_rng(seed)
    if isinstance(shape, (list, dict)):
        return _draw(shape, batch, rng)
    return rng.standard_normal((batch, *shape), dtype=np.float32)


def _draw(spec: Any, batch: int, rng: np.random.Generator) -> Any:
    if isinstance(spec, list):
        return [_draw(s, batch, rng) for s in spec]
    if not isinstance(spec, dict):
        return rng.standard_normal((batch, *spec), dtype=np.float32)
    shape = tuple(int(d) for d in spec["shape"])
    full = (batch, *shape) if spec.get("batch", True) else shape
    dtype = spec.get("dtype", "float32")
    if dtype == "float32":
        return rng.standard_normal(full, dtype=np.float32)
    return rng.integers(int(spec["low"]), int(spec["high"]) + 1, size=full).astype(dtype)


def describe_input(x: Any) -> str:
    """``2x3x5``, or ``{2x5, 2x3}`` for a table, for messages."""
    if isinstance(x, (list, tuple)):
        return "{" + ", ".join(describe_input(v) for v in x) + "}"
    return "x".join(map(str, np.shape(x))) or "scalar"


def describe_spec(spec: Any) -> str:
    """A sample's shape (``3x224x224``) or a table input spec (``{5, 3}``) for the summary."""
    if isinstance(spec, list):
        return "{" + ", ".join(describe_spec(s) for s in spec) + "}"
    if isinstance(spec, dict):
        return describe_spec(tuple(spec["shape"])) + (f" {spec['dtype']}" if "dtype" in spec else "")
    return "x".join(map(str, spec)) or "scalar"


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
