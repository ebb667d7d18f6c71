"""Reading a module's fields the way its Lua code reads them.

Files come from many versions of nn and cudnn: a field may be missing (the Lua code then falls back to
a default), be a Lua number where an int is meant, or be a tensor stored in float32 and memory-mapped.
These helpers give float64 copies of tensors (made when a layer runs, so the whole model is never held
twice) and say which module and field is wrong when one is.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from t7convert.interpreter.registry import ModelError
from t7convert.torch7.format import T7Object

_MISSING = object()


def number(m: T7Object, name: str, default: Any = _MISSING, *, where: str) -> float:
    """A numeric field; ``default`` when absent (nil in Lua), an error when absent without one."""
    value = m.get(name, None)
    if value is None:
        if default is _MISSING:
            raise ModelError(f"{where} ({m.class_name}): field {name!r} is missing")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelError(f"{where} ({m.class_name}): field {name!r} should be a number, "
                         f"found {type(value).__name__}")
    return value


def integer(m: T7Object, name: str, default: Any = _MISSING, *, where: str) -> int:
    """An integral numeric field (kernel sizes, strides, dimensions)."""
    value = number(m, name, default, where=where)
    if value is None:
        return value
    if not math.isfinite(float(value)) or float(value) != int(value):
        raise ModelError(f"{where} ({m.class_name}): field {name!r} should be an integer, found {value}")
    return int(value)


def flag(m: T7Object, name: str, default: bool = False) -> bool:
    """A field used as a Lua condition: only nil and false are false."""
    value = m.get(name, None)
    if value is None:
        return default
    return value is not False


def tensor(m: T7Object, name: str, *, where: str, required: bool = True) -> np.ndarray | None:
    """A tensor field as a fresh float64 array (never a view of the file's memory).

    ``None`` when the field is nil (e.g. ``bias`` after ``noBias()``) and not required; an empty tensor
    counts as nil, which is what ``THNN.optionalTensor`` sees for a module whose bias was cleared.
    """
    value = m.get(name, None)
    if value is None or (isinstance(value, np.ndarray) and value.size == 0):
        if required:
            raise ModelError(f"{where} ({m.class_name}): tensor field {name!r} is missing or empty")
        return None
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
        raise ModelError(f"{where} ({m.class_name}): field {name!r} should be a tensor, "
                         f"found {type(value).__name__}")
    return np.array(value, dtype=np.float64, copy=True)


def sizes(m: T7Object, name: str, *, where: str) -> list[int]:
    """A LongStorage (or table) of sizes, e.g. ``nn.View``'s ``size``, as a list of ints."""
    value = m.get(name, None)
    if value is None:
        raise ModelError(f"{where} ({m.class_name}): field {name!r} is missing")
    if isinstance(value, T7Object):
        raise ModelError(f"{where} ({m.class_name}): field {name!r} should hold sizes, found {value.class_name}")
    try:
        flat = np.asarray(value).reshape(-1)
        out = [int(v) for v in flat]
    except (TypeError, ValueError):
        raise ModelError(f"{where} ({m.class_name}): field {name!r} should hold sizes") from None
    if any(float(a) != b for a, b in zip(flat, out)):
        raise ModelError(f"{where} ({m.class_name}): field {name!r} holds non-integral sizes")
    return out


def array_input(x: Any, m: T7Object, *, where: str, ndims: tuple[int, ...]) -> np.ndarray:
    """Check that a layer received a tensor with one of the dimensionalities its Lua code accepts."""
    if not isinstance(x, np.ndarray):
        raise ModelError(f"{where} ({m.class_name}): expects a tensor, received a table")
    if x.ndim not in ndims:
        want = " or ".join(f"{n}D" for n in ndims)
        raise ModelError(f"{where} ({m.class_name}): expects a {want} tensor, received shape "
                         f"{'x'.join(map(str, x.shape)) or 'scalar'}")
    return x
