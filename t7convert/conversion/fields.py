"""Reading a Torch7 module's fields the way its Lua code does, with the defaults of older versions."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from t7convert.torch7.format import T7Object

#: ``default=REQUIRED`` (the default): a missing field is an error. ``default=None``: it may be nil.
REQUIRED: Any = object()


#: the most steps a layer that is computed one output bin (or one window offset) at a time in Python may
#: take, in a converter's check and a builder's alike: a 271-byte SpatialAdaptiveMaxPooling(W=1e7)
#: would otherwise loop for minutes that no memory plan sees
MAX_LOOP = 1 << 16


def number(m: T7Object, ctx, *names: str, default: Any = REQUIRED) -> Any:
    """The first of ``names`` present on the module (old classes used other names), else ``default``.

    The reference execution's helper has the same shape (``number(m, where, *names, default=)``), so a
    converter and its twin read fields side by side; neither imports the other.
    """
    for name in names:
        v = m.get(name)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ctx.fail(m, f"field {name} is {v!r}, not a number")
            return v
    if default is REQUIRED:
        raise ctx.fail(m, f"has no field {names[0]}")
    return default


def integer(m: T7Object, ctx, *names: str, default: Any = REQUIRED) -> Any:
    """An integral numeric field; ``default`` when nil (``default=None``: an optional one)."""
    v = number(m, ctx, *names, default=default)
    if v is None:
        return None
    if not math.isfinite(v) or int(v) != v:
        raise ctx.fail(m, f"field {names[0]} is {v}, not an integer")
    return int(v)


def optional_integer(m: T7Object, ctx, name: str) -> int | None:
    """An integer field that may be nil (nn.View's numInputDims, JoinTable's nInputDims)."""
    return integer(m, ctx, name, default=None)


def flag(m: T7Object, *names: str, default: bool | None = False) -> bool | None:
    """A field as Lua tests it (``if self.v2 then``): false is False, anything else (0 and "" included)
    is True; a module without any of ``names`` gets ``default`` (None where nil means something)."""
    for name in names:
        v = m.get(name)
        if v is not None:
            return v is not False
    return default


def tensor(m: T7Object, ctx, name: str, *, required: bool = True, shape: tuple[int, ...] | None = None
           ) -> np.ndarray | None:
    """A float32 view (or, for other dtypes, a float32 copy) of a tensor field, reshaped when its element
    count matches ``shape`` (old files store some weights with another rank)."""
    v = m.get(name)
    if v is None or (isinstance(v, np.ndarray) and v.size == 0 and shape is not None and 0 not in shape):
        if required:
            raise ctx.fail(m, f"has no {name}")
        return None
    if not isinstance(v, np.ndarray):
        raise ctx.fail(m, f"field {name} is a {type(v).__name__}, not a tensor")
    if v.dtype != np.float32:
        if v.dtype.kind != "f":
            raise ctx.fail(m, f"{name} holds {v.dtype} values, not floating point")
        ctx.note(f"{v.dtype} weights converted to float32")
        v = v.astype(np.float32)
    if shape is not None and tuple(v.shape) != tuple(shape):
        if v.size != int(np.prod(shape)):
            raise ctx.fail(m, f"{name} has shape {tuple(v.shape)}, expected {tuple(shape)}")
        v = np.ascontiguousarray(v).reshape(shape)
    return v


#: torch's limit on a tensor's dimensions: a longer size list (a zero-stride LongTensor of 2**25 ones
#: is a few bytes of file) is refused before it is turned into a Python list
MAX_SIZES = 64


def long_list(m: T7Object, ctx, name: str) -> list[int]:
    """A LongStorage / LongTensor / Lua list field as a list of ints (nn.View's ``size``)."""
    v = m.get(name)
    if getattr(v, "size", 0) > MAX_SIZES or (isinstance(v, list) and len(v) > MAX_SIZES):
        raise ctx.fail(m, f"field {name} has {getattr(v, 'size', None) or len(v):,} sizes; a tensor has at "
                          f"most {MAX_SIZES} dimensions")
    if isinstance(v, np.ndarray):
        values = np.asarray(v).reshape(-1).tolist()
    elif isinstance(v, list):
        values = list(v)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        values = [v]
    else:
        raise ctx.fail(m, f"field {name} is {type(v).__name__}, not a list of sizes")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and int(x) == x
               for x in values):
        raise ctx.fail(m, f"field {name} holds {values[:8]}, not integer sizes")
    return [int(x) for x in values]


def constructor_call(m: T7Object, *names: str) -> str:
    """``nn.Narrow(2, 3, 1)``: the class with the values of the fields its constructor set, in the
    constructor's order (those a file lacks are left out), for ``inspect``'s one-line descriptions.
    Tensors show their shape, long lists their first values; nothing here raises."""
    shown = []
    for name in names:
        v = m.get(name)
        if v is None:
            continue
        if isinstance(v, np.ndarray):
            shown.append("x".join(map(str, v.shape)) if v.dtype.kind == "f" else
                         ", ".join(str(x) for x in v.reshape(-1)[:8].tolist()))
        elif isinstance(v, (list, tuple)):
            shown.append(str(list(v)[:8]))
        elif isinstance(v, bytes):
            shown.append(repr(v.decode("latin-1")[:40]))
        else:
            shown.append(str(v)[:40])
    return f"{m.class_name}({', '.join(shown)})"
