"""What every exported format shares: the verification input as tensors, the model with a table input's
tensors as positional arguments (Lua order), the comparison with the reference output, and the batch-doubled
example that makes a batch dimension dynamic where the model is per-sample."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.export import TOLERANCE


def structure(x: Any, leaves: list) -> Any:
    """The nesting of a (nested) table input as leaf indices; its tensors appended to ``leaves`` in Lua order."""
    if isinstance(x, (list, tuple)):
        return [structure(v, leaves) for v in x]
    leaves.append(x)
    return len(leaves) - 1


def rebuild(struct: Any, leaves: Sequence[Any]) -> Any:
    """The nested table back from its leaves."""
    return leaves[struct] if isinstance(struct, int) else [rebuild(s, leaves) for s in struct]


def flat(value: Any) -> list:
    """A (nested) table of outputs as its tensors in order; a tensor is itself."""
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flat(v)]
    return [value]


class Positional(nn.Module):
    """The model with its table input's tensors as positional arguments, in Lua order (exporters and
    runtimes take a flat list of tensors; the converted model takes the Lua table as a Python list)."""

    def __init__(self, model: nn.Module, struct: Any) -> None:
        super().__init__()
        self.model = model
        self.struct = struct

    def forward(self, *xs: torch.Tensor) -> Any:
        return self.model(rebuild(self.struct, xs))


class RankChecked(nn.Module):
    """The model behind a view of each input to its own shape: a no-op that a traced program keeps, so that
    the program refuses an input of another rank (``torch.export`` programs with every dimension dynamic
    check no rank, and would run a 5-D input through a graph traced on a 4-D one)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *xs: torch.Tensor) -> Any:
        return self.model(*[x.view([x.shape[k] for k in range(x.dim())]) for x in xs])


def as_tensors(x: Any, dtype: torch.dtype) -> tuple[list[torch.Tensor], Any]:
    """(the input's tensors in Lua order, its structure: an int for one tensor, nested lists for a table);
    floating inputs in the model's dtype, as the verification fed them."""
    leaves: list = []
    struct = structure(x, leaves)
    out = []
    for a in leaves:
        t = torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else torch.as_tensor(a)
        out.append(t.to(dtype) if t.is_floating_point() else t)
    return out, struct


def model_dtype(module: nn.Module) -> torch.dtype:
    p = next(iter(module.parameters()), None)
    return p.dtype if p is not None and p.is_floating_point() else torch.float32


def callable_model(module: nn.Module, struct: Any) -> nn.Module:
    """What an exporter traces: the model itself for one tensor, else :class:`Positional`."""
    return module if isinstance(struct, int) else Positional(module, struct).eval()


def doubled(args: list[torch.Tensor]) -> list[torch.Tensor] | None:
    """The example with a batch of twice the size (each input repeated along dim 0), to trace a dynamic batch
    dimension (torch.export specialises a size of 1); None when the inputs share no first dimension."""
    if not args or any(a.dim() == 0 for a in args) or len({a.shape[0] for a in args}) != 1:
        return None
    return [torch.cat([a, a]) for a in args]


def rel_error(got: Any, want: Any) -> tuple[float, str]:
    """(the worst relative error of ``got`` against ``want``, "" or why they cannot be compared): max |a - b| /
    max |b| per output, NaN equal to NaN, infinities to equal infinities."""
    got_l, want_l = flat(got), flat(want)
    if len(got_l) != len(want_l):
        return float("inf"), f"{len(got_l)} outputs, the reference has {len(want_l)}"
    worst = 0.0
    for i, (a, b) in enumerate(zip(got_l, want_l)):
        a = a.detach().to("cpu", torch.float64).numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        if a.shape != b.shape:
            return float("inf"), f"output {i + 1} has shape {list(a.shape)}, the reference {list(b.shape)}"
        if not b.size:
            continue
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        with np.errstate(invalid="ignore", over="ignore"):
            d = np.where(same, 0.0, np.abs(a - b))
        if not np.isfinite(d).all():
            return float("inf"), f"output {i + 1} has NaN or infinity where the reference has none"
        fin = np.abs(b[np.isfinite(b)])
        worst = max(worst, float(d.max()) / max(float(fin.max()) if fin.size else 0.0, 1e-12))
    return worst, ""


def check_close(what: str, got: Any, want: Any) -> float:
    """The worst relative error; a file whose output is beyond :data:`TOLERANCE` is not written."""
    err, why = rel_error(got, want)
    if why or err > TOLERANCE:
        raise T7ConvertError(f"{what} does not reproduce the reference execution ("
                             f"{why or f'relative error {err:.2e} > {TOLERANCE:g}'}); nothing was written")
    return err


def shapes_text(x: Any) -> str:
    """``2x3x5``, or ``{2x5, 2x3}`` for a table (for messages)."""
    if isinstance(x, (list, tuple)):
        return "{" + ", ".join(shapes_text(v) for v in x) + "}"
    return "x".join(map(str, np.shape(x))) or "scalar"


def first_line(e: BaseException, n: int = 200) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:n] if text else ''}"


# --- a second size: what the exported file is run on besides the verification input ----------------------------

#: the reference execution on another input (float64; a list for a table), or None when the model refuses it
ReferenceAt = Callable[[Any], Any]


def input_dims(ep: torch.export.ExportedProgram) -> list[tuple]:
    """The user inputs' shapes as the program declares them: an int for a fixed dimension, a sympy
    expression (over the program's size symbols) for a dynamic one."""
    from torch.export.graph_signature import InputKind
    names = [s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    vals = {n.name: n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder"}
    out = []
    for name in names:
        shape = getattr(vals.get(name), "shape", ())
        out.append(tuple(int(s) if isinstance(s, int) else s.node.expr for s in shape))
    return out


def resized(a: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A leaf of the input at another shape, drawn like it: indices (integer values) within the range the
    verification input used, floats standard-normal."""
    a = np.asarray(a)
    if a.size and (a.dtype.kind in "iub" or bool(np.all(np.mod(a, 1) == 0))):
        lo, hi = int(a.min()), int(a.max())
        return rng.integers(lo, hi + 1, size=shape).astype(a.dtype)
    return rng.standard_normal(shape).astype(a.dtype if a.dtype.kind == "f" else np.float32)


def second_sizes(ep: torch.export.ExportedProgram, x: Any, reference_at: ReferenceAt | None,
                 seed: int = 1) -> list[tuple[Any, Any, set[str]]]:
    """Inputs at other sizes for the program's dynamic dimensions, with the reference execution's output
    there: [(input as the verification drew it, reference output, names of the size symbols changed)].
    Every symbol changed at once first (each one past its traced size, within the program's ranges); where
    the model refuses that, the first input's first dimension (the batch) alone. At most two reference runs."""
    import sympy

    if reference_at is None:
        return []
    leaves: list = []
    struct = structure(x, leaves)
    dims = input_dims(ep)
    if len(dims) != len(leaves):
        return []
    hints: dict = {}
    for shape, a in zip(dims, leaves):
        for e, n in zip(shape, np.shape(a)):
            if isinstance(e, sympy.Symbol):
                hints.setdefault(e, int(n))
    if not hints:
        return []
    ranges = getattr(ep, "range_constraints", {}) or {}

    def bound(v: Any, default: int) -> int:
        try:
            return int(v)
        except Exception:  # noqa: BLE001 - int_oo, -int_oo (sympy infinities of several kinds)
            return default

    def moved(sym) -> int | None:
        h = hints[sym]
        r = ranges.get(sym)
        lo = bound(r.lower, 2) if r is not None else 2
        hi = bound(r.upper, h + 2) if r is not None else h + 2
        for v in (h + 1, h + 2, h - 1):
            if max(lo, 2) <= v <= hi:
                return v
        return None

    batch = next((shape[0] for shape in dims if shape and isinstance(shape[0], sympy.Symbol)), None)
    plans = [set(hints)] + ([{batch}] if batch is not None and len(hints) > 1 else [])
    rng = np.random.default_rng(seed)
    found = []
    for plan in plans:
        values = dict(hints)
        for sym in plan:
            v = moved(sym)
            if v is not None:
                values[sym] = v
        changed = {str(s) for s in plan if values[s] != hints[s]}
        if not changed:
            continue
        try:
            shapes = [tuple(int(e.subs(values)) if not isinstance(e, int) else e for e in shape) for shape in dims]
        except (TypeError, ValueError):
            continue
        drawn = [resized(a, s, rng) for a, s in zip(leaves, shapes)]
        # standard-normal values first; where the output is not finite there (Log, Sqrt, a fractional
        # Power of negative values), the same values made positive, so such models are sized too
        for attempt in (drawn, [np.abs(a) if a.dtype.kind == "f" else a for a in drawn]):
            x2 = rebuild(struct, attempt)
            try:
                with np.errstate(all="ignore"):
                    want = reference_at(x2)
            except Exception:  # noqa: BLE001 - the model refuses this size: try the next plan
                want = None
                break
            if want is not None:
                break
        if want is not None:
            found.append((x2, want, changed))
            break
    return found
