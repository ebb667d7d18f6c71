"""What a value read from a ``.t7`` file is, in Torch7's words, for messages.

A user who saved ``{a=..., b=...}`` or a ``torch.FloatTensor`` thinks of a Lua table or a FloatTensor,
not of the Python types t7convert reads them into (``T7Table``, ``ndarray``): messages name them as
Torch7 does (``torch.type`` and the size Torch7 prints, ``3x224x224``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from t7convert.torch7.format.classes import element_name
from t7convert.torch7.format.reader import TdsHash, TdsVec
from t7convert.torch7.format.values import T7BooleanKey, T7Function, T7Object, T7ObjectKey, T7Storage

_KEYS_SHOWN = 3
_KEY_CHARS = 20


def describe_value(value: Any) -> str:
    """``a Lua table with keys a, b, c, ...``, ``a FloatTensor 3x224x224``, ``a Lua function``..."""
    if value is None:
        return "nil"
    if isinstance(value, T7Object):
        return f"a {value.class_name} object"
    if isinstance(value, T7Function):
        return "a Lua function"
    if isinstance(value, T7Storage):
        return f"a {_element(value)}Storage of {len(value)} elements"
    if isinstance(value, np.ndarray):
        kind = f"{_element(value)}Tensor"
        return f"an empty {kind}" if value.size == 0 else f"a {kind} {'x'.join(map(str, value.shape))}"
    if isinstance(value, TdsHash):
        return f"a tds.Hash{_keys(value)}"
    if isinstance(value, TdsVec):
        return f"a tds.Vec of {len(value)} values"
    if isinstance(value, dict):
        return f"a Lua table{_keys(value)}" if value else "an empty Lua table"
    if isinstance(value, list):
        return f"a Lua list of {len(value)} values"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, (str, bytes)):
        return "a string"
    return f"a {type(value).__name__}"


def _element(array: np.ndarray) -> str:
    try:
        return element_name(array.dtype)
    except KeyError:
        return str(array.dtype)


def _keys(table: dict) -> str:
    """`` with keys a, b, c`` (the first few, as ``pairs`` would show them; ``...`` when there are more)."""
    if not table:
        return " (empty)"
    shown = [_key(k) for k in list(table)[:_KEYS_SHOWN]]
    more = ", ..." if len(table) > _KEYS_SHOWN else ""
    return f" with keys {', '.join(shown)}{more}"


def _key(key: Any) -> str:
    if isinstance(key, T7BooleanKey):
        key = key.value
    if isinstance(key, bool):
        return str(key).lower()
    if isinstance(key, T7ObjectKey):
        return f"<{describe_value(key.value)}>"
    text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= _KEY_CHARS else text[:_KEY_CHARS] + "..."
