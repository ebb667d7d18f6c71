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

#: ``default=REQUIRED`` (the default): a missing field is an error. ``default=None``: it may be nil.
REQUIRED: Any = object()


def number(m: T7Object, where: str, *names: str, default: Any = REQUIRED) -> Any:
    """The first of ``names`` present on the module (older classes used other names), else ``default``.

    The same shape as the converters' helper (``number(m, ctx, *names, default=)``), so that a layer's
    converter and its reference twin read their fields side by side; each is written on its own.
    """
    for name in names:
        value = m.get(name, None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelError(f"{where} ({m.class_name}): field {name!r} should be a number, "
                             f"found {type(value).__name__}")
        return value
    if default is REQUIRED:
        raise ModelError(f"{where} ({m.class_name}): field {names[0]!r} is missing")
    return default


def integer(m: T7Object, where: str, *names: str, default: Any = REQUIRED) -> Any:
    """An integral numeric field (kernel sizes, strides, dimensions); ``default`` when nil."""
    value = number(m, where, *names, default=default)
    if value is None:
        return value
    if not math.isfinite(float(value)) or float(value) != int(value):
        raise ModelError(f"{where} ({m.class_name}): field {names[0]!r} should be an integer, found {value}")
    return int(value)


def flag(m: T7Object, *names: str, default: bool = False) -> bool:
    """A field used as a Lua condition (``if self.inplace then``): only nil and false are false; a
    module without any of ``names`` gets ``default``."""
    for name in names:
        value = m.get(name, None)
        if value is not None:
            return value is not False
    return default


def tensor(m: T7Object, where: str, name: str, *, required: bool = True) -> np.ndarray | None:
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


def sizes(m: T7Object, where: str, name: str) -> list[int]:
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


#: ``FLT_MAX``: TH's ``THInf`` for FloatTensor (THGenerateFloatType.h), not an infinity
FLT_MAX = float(np.finfo(np.float32).max)


def th_inf(m: T7Object) -> float:
    """TH's ``THInf`` for the module's tensor type: ``FLT_MAX`` (float), ``DBL_MAX`` for a module whose
    ``output`` is a DoubleTensor. THNN's max poolings start each window's maximum at ``-THInf`` and
    keep a value only when it is ``>`` that, so an empty window (ceil mode), or one holding only
    -inf, gives ``-FLT_MAX``, never -inf."""
    out = m.get("output", None)
    if isinstance(out, np.ndarray) and out.dtype == np.float64:
        return float(np.finfo(np.float64).max)
    return FLT_MAX
