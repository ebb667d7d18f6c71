"""What goes into a model: one typed description of its input, in Torch7's terms (no torch).

A leaf is one tensor: its per-sample ``shape``, whether a batch dimension is put in front (``batched``;
False: ``shape`` is the whole tensor, a model that takes one sample only, or an input the file kept
exactly), its ``dtype``, and for index inputs the valid range ``low..high`` (a LookupTable's indices
1..nIndex). A table is an ordered tuple of specs, nested as Lua tables nest.

It prints itself as Torch7 prints sizes (``3x32x32``, ``{13, 128x3}``, ``idx[1..90] x 50``), and the
same text parses back (:func:`parse`: what ``--input`` takes); whether a batch dimension goes in front
is not part of the text (Torch7 models take both): a parsed spec leaves it open (``batched`` None) and
the model decides (:func:`t7convert.pytorch.input_shape.resolve`). JSON (:meth:`InputSpec.to_json`) keeps
everything; converted files store it as ``data_config["input"]``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Iterator

import numpy as np

from t7convert.common.errors import T7ConvertError

#: dtype names as Torch7 names tensor types, for the notation (``byte idx[0..1] x 5``)
_TORCH7_TYPES = {"float32": "float", "float64": "double", "int64": "long", "int32": "int", "uint8": "byte"}
_DTYPES = {v: k for k, v in _TORCH7_TYPES.items()}
MAX_ELEMENTS = 1 << 31  # a spec larger than this is not a model input anyone can verify on


class InputSpecError(T7ConvertError):
    """A malformed input description (``--input``, ``input=``, a stored ``data_config``)."""


@dataclass(frozen=True)
class InputSpec:
    """One tensor (``items`` None) or a Lua table of specs (``items``)."""

    shape: tuple[int, ...] = ()
    batched: bool | None = True       # None: not said (parsed text); the model decides
    dtype: str = "float32"
    low: int | None = None            # an index input's valid range, inclusive
    high: int | None = None
    items: tuple["InputSpec", ...] | None = None

    # --- building ---------------------------------------------------------------------------------
    @staticmethod
    def tensor(*shape: int, batched: bool | None = True, dtype: str = "float32") -> "InputSpec":
        return InputSpec(tuple(int(s) for s in shape), batched, dtype)

    @staticmethod
    def index(low: int, high: int, *shape: int, batched: bool | None = True, dtype: str = "int64") -> "InputSpec":
        return InputSpec(tuple(int(s) for s in shape), batched, dtype, int(low), int(high))

    @staticmethod
    def table(*items: "InputSpec") -> "InputSpec":
        return InputSpec(items=tuple(items))

    @property
    def is_table(self) -> bool:
        return self.items is not None

    @property
    def is_index(self) -> bool:
        return self.low is not None

    def leaves(self) -> Iterator["InputSpec"]:
        if self.items is None:
            yield self
        else:
            for item in self.items:
                yield from item.leaves()

    def with_batched(self, batched: bool | None) -> "InputSpec":
        """The same spec with every leaf's batch dimension set (or left open)."""
        if self.items is not None:
            return InputSpec(items=tuple(i.with_batched(batched) for i in self.items))
        return replace(self, batched=batched)

    @property
    def resolved(self) -> bool:
        return all(leaf.batched is not None for leaf in self.leaves())

    def full_shape(self, batch: int = 1) -> tuple[int, ...]:
        """A leaf's tensor shape for a batch of ``batch`` (its shape alone when not batched)."""
        assert self.items is None
        return (batch, *self.shape) if self.batched is not False else tuple(self.shape)

    def elements(self, batch: int = 1) -> int:
        return sum(math.prod(leaf.full_shape(batch)) for leaf in self.leaves())

    # --- drawing ----------------------------------------------------------------------------------
    def draw(self, batch: int = 1, seed: int = 0) -> Any:
        """A seeded input: standard-normal float32 values (the scale of normalized images), indices
        uniform in ``low..high`` (in the leaf's dtype: char-rnn feeds float indices); a list for a table.
        One generator draws every leaf in order, so a seed gives the same input everywhere."""
        rng = np.random.default_rng(seed)
        return self._draw(batch, rng)

    def _draw(self, batch: int, rng: np.random.Generator) -> Any:
        if self.items is not None:
            return [item._draw(batch, rng) for item in self.items]
        shape = self.full_shape(batch)
        if self.low is not None:
            return rng.integers(self.low, int(self.high) + 1, size=shape).astype(self.dtype)  # type: ignore[arg-type]
        if self.dtype == "float32":
            return rng.standard_normal(shape, dtype=np.float32)
        return rng.standard_normal(shape).astype(self.dtype)

    # --- text -------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        flags = {leaf.batched for leaf in self.leaves()}
        batched = flags.pop() if len(flags) == 1 else "mixed"
        return f"InputSpec({str(self)!r}, batched={batched})"

    def __str__(self) -> str:
        if self.items is not None:
            return "{" + ", ".join(str(i) for i in self.items) + "}"
        dims = "x".join(map(str, self.shape))
        if self.low is not None:
            prefix = "" if self.dtype == "int64" else _TORCH7_TYPES.get(self.dtype, self.dtype) + " "
            return f"{prefix}idx[{self.low}..{self.high}]" + (f" x {dims}" if dims else "")
        prefix = "" if self.dtype == "float32" else _TORCH7_TYPES.get(self.dtype, self.dtype) + " "
        return prefix + (dims or "()")

    def describe(self, batch: int = 1) -> str:
        """The text, with what the batch dimension is: ``3x32x32 (batches of 1)``, ``{13, 128x3} (one sample)``."""
        flags = {leaf.batched for leaf in self.leaves()}
        if flags == {True}:
            return f"{self} (batch of {batch})"
        if flags == {False}:
            return f"{self} (one sample, no batch dimension)"
        return str(self)

    # --- JSON -------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        if self.items is not None:
            return {"table": [i.to_json() for i in self.items]}
        out: dict[str, Any] = {"shape": list(self.shape), "batch": self.batched, "dtype": self.dtype}
        if self.low is not None:
            out["low"], out["high"] = self.low, self.high
        return out

    @staticmethod
    def from_json(value: Any) -> "InputSpec":
        """The spec a ``to_json`` wrote (a stored ``data_config["input"]``); malformed data is refused."""
        return _from_json(value, 0)


def _from_json(value: Any, depth: int) -> InputSpec:
    if depth > 16:
        raise InputSpecError("input spec nested more than 16 tables deep")
    if not isinstance(value, dict):
        raise InputSpecError(f"input spec: expected a table, found {type(value).__name__}")
    if "table" in value:
        items = value["table"]
        if not isinstance(items, list) or len(items) > 1024:
            raise InputSpecError("input spec: 'table' must be a list of at most 1024 specs")
        return InputSpec(items=tuple(_from_json(i, depth + 1) for i in items))
    shape = value.get("shape")
    if not isinstance(shape, list) or len(shape) > 8 or not all(type(s) is int and s >= 1 for s in shape):
        raise InputSpecError(f"input spec: shape {str(shape)[:80]} is not a list of at most 8 positive sizes")
    batched = value.get("batch", True)
    dtype = value.get("dtype", "float32")
    if batched not in (True, False, None) or dtype not in _TORCH7_TYPES:
        raise InputSpecError(f"input spec: batch {batched!r} / dtype {str(dtype)[:20]!r} not understood")
    low, high = value.get("low"), value.get("high")
    if (low is None) != (high is None) or low is not None and not (type(low) is int and type(high) is int
                                                                    and low <= high):
        raise InputSpecError(f"input spec: index range {low!r}..{high!r} is not two integers, low <= high")
    spec = InputSpec(tuple(shape), batched, dtype, low, high)
    _check_size(spec)
    return spec


def _check_size(spec: InputSpec) -> None:
    if spec.elements() > MAX_ELEMENTS:
        raise InputSpecError(f"input {spec} has more than {MAX_ELEMENTS:,} elements")


# --- the grammar of --input ------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(\{)|(\})|(,)|(idx\[\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*\])|(\(\s*\))|(\d+(?:\s*x\s*\d+)*)"
                    r"|(x)|(float|double|long|int|byte)\b)")


def parse(text: str) -> InputSpec:
    """``784``, ``96x1``, ``3x32x32``, ``{13, 128x3}``, ``idx[1..90] x 50``, ``byte idx[0..1] x 5``,
    nested tables: the notation :meth:`InputSpec.__str__` prints. Whether a batch dimension goes in
    front is left to the model (``batched`` None). Malformed text raises :class:`InputSpecError`."""
    if not isinstance(text, str) or not text.strip():
        raise InputSpecError("an empty input description")
    if len(text) > 4000:
        raise InputSpecError("an input description longer than 4000 characters")
    tokens = _tokens(text)
    pos, spec = _parse_spec(tokens, 0, text, 0)
    if pos != len(tokens):
        raise InputSpecError(f"{text!r}: unexpected {tokens[pos][1]!r} (expected e.g. 3x32x32, 784, "
                             "'{13, 128x3}' or 'idx[1..90] x 50')")
    _check_size(spec)
    return spec


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if m is None or m.end() == i:
            raise InputSpecError(f"{text!r}: cannot read {text[i:].strip()[:20]!r} (expected e.g. 3x32x32, 784, "
                                 "'{13, 128x3}' or 'idx[1..90] x 50')")
        if m.group(1):
            out.append(("{", "{"))
        elif m.group(2):
            out.append(("}", "}"))
        elif m.group(3):
            out.append((",", ","))
        elif m.group(4):
            out.append(("idx", (int(m.group(5)), int(m.group(6)))))
        elif m.group(7):
            out.append(("()", "()"))
        elif m.group(8):
            out.append(("dims", tuple(int(d) for d in re.split(r"\s*x\s*", m.group(8)))))
        elif m.group(9):
            out.append(("x", "x"))
        else:
            out.append(("type", m.group(10)))
        i = m.end()
    return out


def _parse_spec(tokens: list, pos: int, text: str, depth: int) -> tuple[int, InputSpec]:
    if depth > 16:
        raise InputSpecError(f"{text!r}: tables nested more than 16 deep")
    if pos >= len(tokens):
        raise InputSpecError(f"{text!r}: ends too early")
    kind, value = tokens[pos]
    if kind == "{":
        items: list[InputSpec] = []
        pos += 1
        while pos < len(tokens) and tokens[pos][0] != "}":
            pos, item = _parse_spec(tokens, pos, text, depth + 1)
            items.append(item)
            if pos < len(tokens) and tokens[pos][0] == ",":
                pos += 1
            elif pos < len(tokens) and tokens[pos][0] != "}":
                raise InputSpecError(f"{text!r}: expected ',' or '}}' after {item}")
        if pos >= len(tokens):
            raise InputSpecError(f"{text!r}: a '{{' is not closed")
        if not items:
            raise InputSpecError(f"{text!r}: an empty table")
        return pos + 1, InputSpec(items=tuple(items))
    dtype = None
    if kind == "type":
        dtype = _DTYPES[value]
        pos += 1
        if pos >= len(tokens):
            raise InputSpecError(f"{text!r}: a type with no size after it")
        kind, value = tokens[pos]
    if kind == "idx":
        low, high = value
        if low > high:
            raise InputSpecError(f"{text!r}: index range {low}..{high} is empty")
        pos += 1
        shape: tuple[int, ...] = ()
        if pos < len(tokens) and tokens[pos][0] == "x":
            if pos + 1 >= len(tokens) or tokens[pos + 1][0] != "dims":
                raise InputSpecError(f"{text!r}: expected sizes after 'x'")
            shape = tokens[pos + 1][1]
            pos += 2
        _positive(shape, text)
        return pos, InputSpec(shape, None, dtype or "int64", low, high)
    if kind == "dims":
        _positive(value, text)
        if len(value) > 8:
            raise InputSpecError(f"{text!r}: more than 8 dimensions")
        return pos + 1, InputSpec(value, None, dtype or "float32")
    if kind == "()":
        return pos + 1, InputSpec((), None, dtype or "float32")
    raise InputSpecError(f"{text!r}: unexpected {value!r} (expected e.g. 3x32x32, 784, '{{13, 128x3}}' "
                         "or 'idx[1..90] x 50')")


def _positive(shape: tuple[int, ...], text: str) -> None:
    if any(d < 1 for d in shape):
        raise InputSpecError(f"{text!r}: sizes must be positive")


def from_size_option(text: str) -> InputSpec:
    """``--input-size`` (kept as an alias): ``C,H,W`` or ``CxHxW``; ``H,W`` means 3 planes; one number
    S means 3xSxS, as it always did."""
    if not re.match(r"^\s*\d+(\s*[x,]\s*\d+){0,2}\s*$", text or ""):
        raise InputSpecError(f"{text!r}: expected C,H,W (or CxHxW, HxW, or one size)")
    parts = [int(p) for p in re.split(r"[x,]", text.replace(" ", ""))]
    shape = {1: (3, parts[0], parts[0]), 2: (3, *parts)}.get(len(parts), tuple(parts))
    _positive(shape, text)
    spec = InputSpec(tuple(shape), True)  # a batch of such images, as it always meant
    _check_size(spec)
    return spec


def as_spec(value: Any) -> InputSpec | None:
    """What the Python API takes wherever it takes an input: an :class:`InputSpec`; its text
    (``"{13, 128x3}"``: whether a batch goes in front is left to the model); a sample's shape
    (``(3, 224, 224)``: batched, as ``input_shape`` always meant); a list of those (a Lua table); a
    spec's JSON. None stays None; anything else is an :class:`InputSpecError`."""
    if value is None or isinstance(value, InputSpec):
        return value
    if isinstance(value, str):
        return parse(value)
    if isinstance(value, dict):
        return InputSpec.from_json(value)
    if isinstance(value, (tuple, list)) and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                                 for s in value) and (value or isinstance(value, tuple)):
        shape = tuple(int(s) for s in value)
        _positive(shape, str(value))
        spec = InputSpec(shape, True)
        _check_size(spec)
        return spec
    if isinstance(value, (list, tuple)) and value:
        return InputSpec(items=tuple(as_spec(v) for v in value))  # type: ignore[misc]
    raise InputSpecError(f"an input of {type(value).__name__} {str(value)[:60]}: give an InputSpec, its text "
                         "('3x32x32', '{13, 128x3}') or a shape tuple")


def from_hint(hint: Any) -> InputSpec | None:
    """A family's declared input (see :func:`t7convert.conversion.registry.expects_input`) as a spec: a
    tuple is a sample's shape (None sizes are left free: not a spec), a list a Lua table, a dict
    ``{shape, dtype, low, high, batch}`` one tensor; None when the hint leaves a size open."""
    if isinstance(hint, list):
        items = [from_hint(h) for h in hint]
        return None if any(i is None for i in items) else InputSpec(items=tuple(items))  # type: ignore[arg-type]
    if isinstance(hint, dict):
        shape = hint.get("shape")
        if shape is None or any(s is None for s in shape):
            return None
        return InputSpec(tuple(int(s) for s in shape), bool(hint.get("batch", not hint.get("whole", False))),
                         str(hint.get("dtype", "float32")),
                         None if hint.get("low") is None else int(hint["low"]),
                         None if hint.get("high") is None else int(hint["high"]))
    if isinstance(hint, tuple) and None not in hint:
        return InputSpec(tuple(int(s) for s in hint), True)
    return None
