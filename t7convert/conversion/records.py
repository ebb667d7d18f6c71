"""Typed records: what each converted op stores, declared once.

A converted generic file stores its architecture as nodes ``{op, attrs}``; the attributes of an op are
a small file format of their own. Each op declares them once, torch-free, in its conversion family file,
as a frozen dataclass filed with ``@record("Linear")``: field names, types (``int``, ``float``, ``bool``,
``str``, ``list[int]``..., ``X | None``), bounds and list lengths (:func:`bounded`), and defaults.
:func:`check_attrs` validates a stored node against its op's declaration before anything is built (a
missing, unknown, mistyped or out-of-bounds attribute is the file's fault, said in one line naming the
place), so a builder reading a validated node can only fail by a bug of ours.

Changing a declaration changes the file format: ``tests/golden`` holds files of every format version
t7convert wrote, and their test fails when an old file no longer loads.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Callable, TypeVar

from t7convert.common.errors import T7ConvertError
from t7convert.common.registry import Registry

#: widths, planes, kernel sizes, strides and paddings: at most this (2**24) in a stored description
MAX_EXTENT = 1 << 24
#: a whole number no bound is declared for: still within what an index into memory can be
MAX_INT = 1 << 62
#: a list attribute (a full connection table of 1024 planes is 2**20 entries): as long as a description's lists
MAX_LIST = 1 << 20

T = TypeVar("T")
RECORDS: Registry[Callable[..., Any]] = Registry("record")


class RecordError(T7ConvertError):
    """A stored node's attributes do not match its op's declared record."""


def record(*ops: str) -> Callable[[type[T]], type[T]]:
    """``@record("Conv2d")`` above a ``@dataclass(frozen=True)`` files it as the declaration of each op."""
    def file(cls: type[T]) -> type[T]:
        if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise TypeError(f"{cls.__qualname__}: a record is a frozen dataclass")
        RECORDS.register(*ops)(cls)  # type: ignore[arg-type]
        return cls
    return file


def bounded(low: int | float | None = None, high: int | float | None = None, *, default: Any = dataclasses.MISSING,
            length: tuple[int, int] | None = None, stored: str | None = None,
            choices: tuple[Any, ...] | None = None) -> Any:
    """A field whose number (or each number of its list) lies in ``low..high``; ``length``: how many
    items its list may have; ``choices``: the only values it may take (None aside, when its type allows
    None); ``stored``: the attribute's name in a file where it is no Python name (``lambda``)."""
    meta = {"low": low, "high": high, "length": length, "stored": stored, "choices": choices}
    if isinstance(default, list):
        items = tuple(default)
        return dataclasses.field(default_factory=lambda: list(items), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def declared(op: str) -> type | None:
    """The record class of ``op``, or None (an op of a plugin that declares none)."""
    _discover()
    return RECORDS.get(op)  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _discover() -> None:
    from t7convert.common.registry import discover
    from t7convert.conversion import families

    discover(families)


@functools.lru_cache(maxsize=None)
def _fields(cls: type) -> tuple[tuple[dataclasses.Field, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f, hints[f.name]) for f in dataclasses.fields(cls))


def check_attrs(op: str, attrs: dict[str, Any], where: str) -> None:
    """``attrs`` (already plain data) are what ``op``'s record declares; a RecordError otherwise. An op
    without a declared record (a plugin's) passes: its builder is its author's."""
    cls = declared(op)
    if cls is None:
        return
    fields = _fields(cls)
    names = {_stored(f) for f, _ in fields}
    for key in attrs:
        if key not in names:
            raise RecordError(f"its description's {where}.attrs.{str(key)[:40]} is not an attribute of {op} "
                              f"(it has {', '.join(sorted(names)) or 'none'})")
    for f, hint in fields:
        name = _stored(f)
        if name not in attrs:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"its description's {where} ({op}) lacks attribute {name}")
            continue
        _check_value(attrs[name], hint, f.metadata, f"{where}.attrs.{name}")


def _stored(f: dataclasses.Field) -> str:
    return f.metadata.get("stored") or f.name


def make(op: str, attrs: dict[str, Any]) -> Any:
    """The record of a validated node (its defaults filled in)."""
    cls = declared(op)
    assert cls is not None, op
    return cls(**{f.name: attrs[_stored(f)] for f in dataclasses.fields(cls) if _stored(f) in attrs})


def attrs_of(rec: Any) -> dict[str, Any]:
    """What a node stores of a record, as plain data, under the stored names: every field but those
    left at None where None is their default (absent and None read the same: :func:`make` fills them)."""
    out = {}
    for f in dataclasses.fields(rec):
        value = getattr(rec, f.name)
        if value is None and f.default is None:
            continue
        out[_stored(f)] = value
    return out


def _check_value(value: Any, hint: Any, meta: Any, where: str) -> None:
    choices = meta.get("choices")
    if not _fits(value, hint, meta) or (choices is not None and value is not None and value not in choices):
        raise RecordError(f"its description's {where} is {repr(value)[:40]}, not {_describe(hint, meta)}")


def _fits(value: Any, hint: Any, meta: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h, meta) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        low, high = (meta.get("length") or (0, MAX_LIST))
        return isinstance(value, list) and low <= len(value) <= high and all(_fits(v, item, meta) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and _within(value, meta, MAX_INT)
    if hint is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and _within(value, meta, float("inf")))
    if hint is str:
        return isinstance(value, str)
    raise TypeError(f"a record field of type {hint!r} is not one t7convert stores")


def _within(value: int | float, meta: Any, most: float) -> bool:
    if value != value:  # NaN: a float Torch7 may hold (a Threshold's value), never a bound's concern
        return True
    low, high = meta.get("low"), meta.get("high")
    return (-most if low is None else low) <= value <= (most if high is None else high)


def _describe(hint: Any, meta: Any) -> str:
    text = getattr(hint, "__name__", None) if typing.get_origin(hint) is None else None
    text = text or str(hint).replace("typing.", "")
    low, high = meta.get("low"), meta.get("high")
    if low is not None or high is not None:
        text += f" from {low if low is not None else '-'} to {high if high is not None else '-'}"
    if meta.get("length"):
        text += f" ({meta['length'][0]} to {meta['length'][1]} items)"
    if meta.get("choices") is not None:
        text += f" (one of {', '.join(map(repr, meta['choices']))})"
    return text


class Record(typing.Protocol):
    """What a builder receives: an op's record (any of the frozen dataclasses filed with :func:`record`)."""

    __dataclass_fields__: typing.ClassVar[dict[str, Any]]
