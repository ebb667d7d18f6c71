"""Where the model is inside what a ``.t7`` checkpoint holds.

fb.resnet.torch saves the model itself; other code saved tables such as ``{model=..., optimState=...}``
or wrapped the model in a DataParallelTable. Conversion, parity and inspection all start from the same
module found here, so that their Torch7 paths (``modules[5].modules[2]``) agree.
"""
from __future__ import annotations

from typing import Any

from t7convert.common.errors import T7ConvertError
from t7convert.torch7.format import T7Object, describe_value

# Multi-GPU wrappers: every replica holds the same weights; the first one is the model.
DATA_PARALLEL = ("nn.DataParallelTable", "nn.DataParallel", "fbnn.DataParallel")
_MODEL_KEYS = ("model", "net", "network", "module")
_NN_PACKAGES = ("nn", "cudnn", "fbnn", "nngraph")


def unwrap(model: Any) -> Any:
    """The model inside DataParallelTable wrappers (what fb.resnet.torch's ``model:get(1)`` returns)."""
    seen: dict[int, int] = {}  # id of each wrapper passed -> its 1-based place in the chain
    chain: list[T7Object] = []
    while isinstance(model, T7Object) and model.class_name in DATA_PARALLEL and model.children:
        seen[id(model)] = len(chain) + 1
        chain.append(model)
        first = model.children[0]
        if not isinstance(first, T7Object):
            raise T7ConvertError(f"a {model.class_name} whose first replica is a "
                                 f"{type(first).__name__}, not a module")
        if id(first) in seen:
            start = seen[id(first)]
            loop = " -> ".join(f"{m.class_name} (wrapper {i})" for i, m in enumerate(chain[start - 1:], start))
            raise T7ConvertError(f"the DataParallelTable wrappers form a cycle: {loop} -> back to wrapper "
                                 f"{start} (each one's modules[1] is the next)")
        model = first
    return model


def find_model(root: Any) -> tuple[T7Object, str]:
    """(the model, where it was: "" for the root, else the table key) with wrappers unwrapped."""
    model, where = _find(root)
    inner = unwrap(model)
    if inner is not model:
        where = (where + " " if where else "") + "(inside its DataParallelTable)"
    return inner, where


def _find(root: Any) -> tuple[T7Object, str]:
    if isinstance(root, T7Object) and root.class_name.split(".")[0] in _NN_PACKAGES:
        return root, ""
    if isinstance(root, dict):
        for key in _MODEL_KEYS:
            if isinstance(root.get(key), T7Object):
                return root[key], key
        modules = [k for k, v in root.items() if isinstance(v, T7Object)]
        if len(modules) == 1:
            return root[modules[0]], str(modules[0])
    if isinstance(root, list) and root and isinstance(root[0], T7Object):
        return root[0], "[1]"
    raise T7ConvertError(f"the file holds {describe_value(root)}, not a Torch7 nn model")
