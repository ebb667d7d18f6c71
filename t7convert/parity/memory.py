"""How much memory a verification will need, planned from shapes before anything runs.

A verification runs the converted module (float32) and the reference execution (float64 NumPy, which
keeps what it compares and, per convolution, pads its input and unfolds it into columns, as THNN's
SpatialConvolutionMM does). A 517-byte convolution with ``padW = padH = 15000`` asks for a 3x30224x30224
float64 padded input (22 GB): the kernel's OOM killer would end the process without a word. So the
converted module is first run on the meta device (shapes only, no memory), each module's input and
output shapes are recorded, and the bytes both sides need are added up; past the budget the run is
refused in one line. A module that cannot run on the meta device (one computing on values) leaves the
plan unknown, and the verification runs as before.
"""
from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any, Iterable

from t7convert.common.errors import T7ConvertError

if TYPE_CHECKING:
    from torch import nn

#: the default budget: this fraction of the memory available when the run starts
DEFAULT_FRACTION = 0.5
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_memory_limit(text: str | None) -> int | None:
    """``--memory-limit``: ``8GB``, ``500MB``, ``2.5G``, or a number of bytes; None: the default."""
    if text is None or text == "":
        return None
    m = _SIZE.match(str(text))
    if not m:
        raise T7ConvertError(f"--memory-limit {str(text)[:40]!r}: expected a size such as 8GB or 500MB")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def available_memory() -> int | None:
    """Bytes the system can give now (Linux's MemAvailable; else the physical memory), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_budget() -> int | None:
    free = available_memory()
    return None if free is None else int(free * DEFAULT_FRACTION)


def _numel(value: Any) -> int:
    if hasattr(value, "numel") and hasattr(value, "shape"):
        return int(value.numel())
    if isinstance(value, (list, tuple)):
        return sum(_numel(v) for v in value)
    return 0


def _first_shape(value: Any) -> tuple[int, ...] | None:
    if hasattr(value, "numel") and hasattr(value, "shape"):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)) and value:
        return _first_shape(value[0])
    return None


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    values = tuple(value)
    return (values[0], values[-1]) if values else (0, 0)


def _window_bytes(module: "nn.Module", inputs: Any, output: Any) -> int:
    """The reference's transient float64 buffers for a windowed layer: the padded input, and for a
    convolution the unfolded columns (input planes x kernel x output positions)."""
    kernel, padding = getattr(module, "kernel_size", None), getattr(module, "padding", None)
    shape, out = _first_shape(inputs), _first_shape(output)
    if kernel is None or padding is None or not isinstance(padding, (int, tuple, list)) or not shape or not out:
        return 0
    if len(shape) < 3 or len(out) < 2:
        return 0
    (ph, pw), (kh, kw) = _pair(padding), _pair(kernel)
    lead = math.prod(shape[:-2])
    padded = lead * (shape[-2] + 2 * ph) * (shape[-1] + 2 * pw)
    columns = lead * kh * kw * out[-2] * out[-1] if getattr(module, "weight", None) is not None else 0
    return 8 * (padded + columns)


def plan_bytes(info: dict[str, Any], state: dict[str, Any], shape: tuple[int, ...]) -> int | None:
    """Bytes a verification on an input of ``shape`` (batch included) needs, or None when the converted
    module cannot be run on the meta device. ``info`` and ``state``: the conversion's description and
    tensors (only their shapes are used)."""
    import torch

    from t7convert.pytorch.build import module_from_state

    meta = {k: torch.empty(tuple(v.shape), dtype=torch.float32, device="meta") for k, v in state.items()}
    totals = {"outputs": 0, "window": 0}

    def record(module: "nn.Module", inputs: Any, output: Any) -> None:
        if not any(True for _ in module.children()):
            totals["outputs"] += _numel(output)
        totals["window"] = max(totals["window"], _window_bytes(module, inputs, output))

    try:
        module = module_from_state(info, meta)
        hooks = [m.register_forward_hook(record) for m in module.modules()]
        with torch.no_grad():
            module(torch.empty(shape, device="meta"))
        for h in hooks:
            h.remove()
    except Exception:  # noqa: BLE001 - a module that computes on values cannot be planned: run unplanned
        return None
    inputs = math.prod(shape)
    # float32 outputs (torch) + float64 outputs (the reference) + the input on both sides + one window
    return 4 * totals["outputs"] + 8 * totals["outputs"] + 12 * inputs + totals["window"]


def check_budget(info: dict[str, Any], state: dict[str, Any], shape: tuple[int, ...],
                 limit: int | None = None) -> int | None:
    """Refuse, in one line, a verification that would need more than ``limit`` bytes (default: half the
    memory available now). Returns the planned bytes (None: not plannable)."""
    budget = default_budget() if limit is None else limit
    needed = plan_bytes(info, state, shape)
    if needed is not None and budget is not None and needed > budget:
        raise T7ConvertError(f"verification on a {'x'.join(map(str, shape))} input would need "
                             f"{_size(needed)} (the limit is {_size(budget)}); pass --no-verify or a smaller "
                             "--input (or raise --memory-limit)")
    return needed


def fit_budget(info: dict[str, Any], state: dict[str, Any], shape: Any, batch: int,
               limit: int | None, smaller: Iterable[Any]) -> tuple[Any, str | None]:
    """The input a verification the user gave no size for should run on: ``shape`` (an InputSpec of
    one tensor, batched or whole) when its plan fits the budget, else the first of ``smaller``
    (accepted shapes, largest first: a larger input exercises more of every kernel) that fits, with a
    note saying so; refused in one line when none does."""
    budget = default_budget() if limit is None else limit

    def whole(s: Any) -> tuple[int, ...]:
        return tuple(s.full_shape(batch))

    needed = plan_bytes(info, state, whole(shape))
    if needed is None or budget is None or needed <= budget:
        return shape, None
    for candidate in smaller:
        n = plan_bytes(info, state, whole(candidate))
        if n is not None and n <= budget:
            return candidate, (f"verified on a {'x'.join(map(str, whole(candidate)))} input: "
                               f"{'x'.join(map(str, whole(shape)))} would need {_size(needed)} "
                               f"(the memory limit is {_size(budget)})")
    raise T7ConvertError(f"verification on a {'x'.join(map(str, whole(shape)))} input would need "
                         f"{_size(needed)} (the limit is {_size(budget)}), and no smaller input the model "
                         "accepts fits; pass --no-verify or --input (or raise --memory-limit)")


def _size(n: int) -> str:
    if n < 1e9:
        return f"{n / 1e6:,.1f} MB"
    return f"{n / 1e9:.1f} GB" if n < 1e10 else f"{n / 1e9:,.0f} GB"
