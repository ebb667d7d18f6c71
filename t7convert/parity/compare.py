"""Parity: is the converted PyTorch model the Torch7 model? Measured, stage by stage.

Three witnesses can be compared, pairwise:

* the converted module (PyTorch, float32, observed with forward hooks on the submodules
  :func:`t7convert.pytorch.build.stage_modules` maps to Torch7 paths);
* the reference execution (:mod:`t7convert.interpreter`: the parsed ``.t7`` graph run in float64 NumPy,
  sharing no code with the converters);
* outputs dumped by real Torch7 (``reference/dump_reference.lua``: ``{input=, output=, stages=}``, the
  stages being each top-level module's ``output`` for the first sample, read after the forward pass).

Error measure, per stage: ``max |candidate - reference|`` and that divided by ``max |reference|`` (the
relative error); a stage passes when the relative error is at most ``rtol`` (1e-5 by default, what a
float32 port of a float32 model achieves with margin). The first failing stage, in the order the
stages complete (a block's inner stages before the block), is where the conversion went wrong.

Torch7's stage tensors are read after the whole forward pass, so a module followed by an in-place
layer (a BatchNorm before ``ReLU(true)``) holds that layer's result; the reference execution knows
which stage's produced output each Torch7 tensor ends up equal to and compares the converted model's
stage with that one.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.interpreter import Execution, run
from t7convert.torch7.checkpoint import find_model
from t7convert.torch7.format import T7Object

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEFAULT_RTOL = 1e-5


# --- the report ----------------------------------------------------------------------------------
@dataclass
class StageDiff:
    """How far one stage (or the output) of the candidate is from the reference."""

    path: str                 # Lua path ("modules[5].modules[2]"), or "output"
    module: str               # the Torch7 class at that path ("" for the output)
    shape: tuple[int, ...]    # the reference's shape
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""

    def __str__(self) -> str:
        return f"{self.path} ({self.module})" if self.module else self.path

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "module": self.module, "shape": list(self.shape),
                "max_abs": _json_float(self.max_abs), "max_rel": _json_float(self.max_rel), "ok": self.ok,
                **({"note": self.note} if self.note else {})}


@dataclass
class ParityReport:
    """One comparison: a candidate against a reference, per stage and for the output."""

    candidate: str
    reference: str
    rtol: float
    stages: list[StageDiff] = field(default_factory=list)
    output: StageDiff | None = None
    top1: tuple[int, int] | None = None      # (samples whose arg-max agrees, samples)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None                 # the candidate failed to run at all

    @property
    def ok(self) -> bool:
        return (self.error is None and self.output is not None and self.output.ok
                and all(s.ok for s in self.stages))

    @property
    def first_divergence(self) -> StageDiff | None:
        """The first stage beyond tolerance, in execution order; the output if only it is."""
        for s in self.stages:
            if not s.ok:
                return s
        if self.output is not None and not self.output.ok:
            return self.output
        return None

    def summary(self) -> str:
        """One line: PASS, or FAIL and where."""
        if self.error is not None:
            return f"FAIL: {self.error}"
        bad = self.first_divergence
        if bad is None:
            worst = max([s.max_rel for s in self.stages] + ([self.output.max_rel] if self.output else []),
                        default=0.0)
            return f"PASS: every stage within {self.rtol:g} relative (worst {worst:.2e})"
        note = f"; {bad.note}" if bad.note else ""
        return f"FAIL: first divergence at {bad}: relative error {bad.max_rel:.2e} > {self.rtol:g}{note}"

    def to_dict(self) -> dict[str, Any]:
        first = self.first_divergence
        return {"candidate": self.candidate, "reference": self.reference, "ok": self.ok, "rtol": self.rtol,
                "first_divergence": None if first is None else first.path,
                "top1_agreement": None if self.top1 is None else {"agree": self.top1[0], "total": self.top1[1]},
                "output": None if self.output is None else self.output.to_dict(),
                "stages": [s.to_dict() for s in self.stages], "skipped": list(self.skipped),
                "error": self.error}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "nan" if math.isnan(x) else "-inf")


def difference(candidate: np.ndarray, reference: np.ndarray) -> tuple[float, float, str]:
    """(max abs error, max abs error / max |reference|, note). Infinite when shapes or NaNs disagree."""
    c = np.asarray(candidate, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    note = ""
    if c.shape != r.shape:
        if c.size != r.size:
            return math.inf, math.inf, (f"shape {'x'.join(map(str, c.shape))} where the reference has "
                                        f"{'x'.join(map(str, r.shape))}")
        note = f"shape {'x'.join(map(str, c.shape))} compared as {'x'.join(map(str, r.shape))}"
        c = c.reshape(r.shape)
    if r.size == 0:
        return 0.0, 0.0, note
    with np.errstate(invalid="ignore"):
        err = np.where(c == r, 0.0, np.abs(c - r))
    err[np.isnan(c) & np.isnan(r)] = 0.0
    err[np.isnan(err)] = math.inf
    max_abs = float(err.max())
    finite = np.abs(r[np.isfinite(r)])
    scale = float(finite.max()) if finite.size else 0.0
    if max_abs == 0.0:
        return 0.0, 0.0, note
    return max_abs, (max_abs / scale if scale > 0 else math.inf), note


def _diff(path: str, module: str, candidate: np.ndarray, reference: np.ndarray, rtol: float,
          note: str = "") -> StageDiff:
    max_abs, max_rel, why = difference(candidate, reference)
    return StageDiff(path, module, tuple(np.shape(reference)), max_abs, max_rel, max_rel <= rtol,
                     "; ".join(n for n in (note, why) if n))


def _top1(candidate: Any, reference: Any) -> tuple[int, int] | None:
    c, r = np.asarray(candidate), np.asarray(reference)
    if c.ndim != 2 or c.shape != r.shape or c.shape[1] < 2:
        return None
    return int((c.argmax(axis=1) == r.argmax(axis=1)).sum()), int(c.shape[0])


# --- comparisons ---------------------------------------------------------------------------------
def compare_with_execution(output: np.ndarray | None, stages: dict[str, np.ndarray], execution: Execution, *,
                           rtol: float = DEFAULT_RTOL, candidate: str = "converted model",
                           reference: str = "reference execution", error: str | None = None,
                           observed: Iterable[str] = ()) -> ParityReport:
    """A candidate's stage outputs (as produced) against the reference execution's, full batch.

    ``observed``: the paths the candidate was watched at; with ``error`` (the candidate failed), the
    first of them without an output, in execution order, is reported as where it failed.
    """
    report = ParityReport(candidate, reference, rtol, error=error)
    watched = set(observed)
    for path in execution.order:
        module = execution.label(path)
        if path in stages:
            report.stages.append(_diff(path, module, stages[path], execution.outputs[path], rtol))
        elif error is not None and path in watched:  # the candidate stopped before this stage
            report.stages.append(StageDiff(path, module, execution.outputs[path].shape, math.inf, math.inf,
                                           False, f"not reached: {error}"))
            break
    if output is not None and (isinstance(output, list) or isinstance(execution.output, list)):
        report.output = _diff_table(output, execution.output, rtol)
    elif output is not None:
        report.output = _diff("output", "", output, execution.output, rtol)
        report.top1 = _top1(output, execution.output)
    return report


def _diff_table(candidate: Any, reference: Any, rtol: float) -> StageDiff:
    """A table output: the same number of tensors, each of the reference's shape; the worst of them."""
    got, want = flat_table(candidate), flat_table(reference)
    if len(got) != len(want):
        return StageDiff("output", "", (), math.inf, math.inf, False,
                         f"{len(got)} tensors where the reference's table has {len(want)}")
    diffs = [_diff("output", "", g, w, rtol) for g, w in zip(got, want)]
    for d, g, w in zip(diffs, got, want):
        if np.shape(g) != np.shape(w):  # a table element of another shape is wrong even with equal values
            d.max_abs = d.max_rel = math.inf
            d.ok, d.note = False, f"shape {np.shape(g)} where the reference has {np.shape(w)}"
    worst = max(diffs, key=lambda d: d.max_rel, default=StageDiff("output", "", (), 0.0, 0.0, True))
    note = "; ".join(n for n in (f"table of {len(want)} tensors", worst.note) if n)
    return StageDiff("output", "", worst.shape, worst.max_abs, worst.max_rel, worst.max_rel <= rtol, note)


def compare_with_torch7(output: np.ndarray | None,
                        first_sample: Callable[[str], tuple[np.ndarray | None, str]],
                        torch7: "Torch7Outputs", execution: Execution, *, rtol: float = DEFAULT_RTOL,
                        candidate: str, error: str | None = None) -> ParityReport:
    """A candidate against real Torch7's dump: the output, and each top-level stage (first sample).

    ``first_sample(path)`` gives the candidate's first-sample value for the Torch7 stage at ``path``
    (None when it has none) and a note on how it was obtained.
    """
    report = ParityReport(candidate, f"Torch7 outputs ({torch7.source})", rtol, error=error)
    for i, expected in enumerate(torch7.stages, 1):
        path = f"modules[{i}]"
        if not isinstance(expected, np.ndarray):
            report.skipped.append(f"{path}: Torch7's stage is not a tensor")
            continue
        got, how = first_sample(path)
        if got is None:
            report.skipped.append(f"{path}: {how or 'no corresponding output to compare'}")
            continue
        what = "first sample" if got.ndim == expected.ndim and got.ndim else "whole stage"
        if got.ndim == 1 and expected.shape == (1,) and got.shape[0] > 1:  # dumps of t7convert <= 0.2 kept
            got, what = got[:1], "first element only (this dump stores no more of a 1-D stage)"  # one element
        report.stages.append(_diff(path, execution.label(path), got, expected, rtol,
                                   "; ".join(n for n in (what, how) if n)))
    if output is not None and (isinstance(output, list) or isinstance(torch7.output, list)):
        report.output = _diff_table(output, torch7.output, rtol)
    elif output is not None:
        report.output = _diff("output", "", output, torch7.output, rtol)
        report.top1 = _top1(output, torch7.output)
    return report


class NonFiniteReference(T7ConvertError):
    """Torch7's own model (its reference execution) yields NaN or Inf on the input: a problem of the
    model or the input, not of the conversion, so no comparison can prove anything there."""


def _module_at(model: Any, path: str) -> Any:
    m = model
    for index in re.findall(r"modules\[(\d+)\]", path):
        kids = m.children if isinstance(m, T7Object) else []
        i = int(index) - 1
        if not 0 <= i < len(kids):
            return None
        m = kids[i]
    return m


def _why_non_finite(m: Any) -> str:
    """A cause Torch7 files really have: batch normalization with a negative running variance."""
    if isinstance(m, T7Object):
        for m2 in [m, *(c for _, c in m.walk())]:
            var = m2.get("running_var") if isinstance(m2, T7Object) else None
            if isinstance(var, np.ndarray) and var.size and float(np.min(var)) < 0:
                return ": its running_var is negative"
    return ""


def check_finite_reference(execution: Execution, model: Any) -> None:
    """Raise :class:`NonFiniteReference` where Torch7's model first yields NaN because of the file itself
    (a negative running variance): no comparison there can say anything about the conversion.

    Infinities are compared as values: Torch7 gives -inf itself, e.g. for a ceil-mode max-pooling
    window that lies wholly in the padding, and the converted model must give the same."""
    for path in execution.order:
        out = execution.outputs[path]
        if out.dtype.kind == "f" and np.isnan(out).any():
            why = _why_non_finite(_module_at(model, path))
            if why:  # the file's own fault; NaN from an input outside a layer's domain (Log, Sqrt of
                # negatives) is Torch7's result too, and is compared position by position
                raise NonFiniteReference(f"Torch7's own model yields NaN at {path} ({execution.label(path)})"
                                         f"{why}; nothing can be compared there")
            return


# --- Torch7 reference files ----------------------------------------------------------------------
@dataclass
class Torch7Outputs:
    """What ``dump_reference.lua`` writes: the input, the output and the top-level stages."""

    source: str
    input: Any                # a tensor, or a list of them (a model taking a table)
    output: Any
    stages: list[Any]


def read_torch7_outputs(path: str) -> Torch7Outputs:
    """Read a ``{input=, output=, stages=}`` file written by Torch7 (stages optional)."""
    from t7convert.torch7.format import read
    table = read(path)
    get = table.get if isinstance(table, (dict, T7Object)) else None
    if get is None:
        raise T7ConvertError(f"{path}: expected a table {{input=, output=, stages=}}, found {type(table).__name__}")
    tensors = {}
    for key in ("input", "output"):
        value = get(key)
        if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            tensors[key] = list(value)  # a model taking or returning a Lua table
            continue
        if not isinstance(value, np.ndarray) or value.size == 0:
            raise T7ConvertError(f"{path}: no {key} tensor (expected a table {{input=, output=, stages=}})")
        tensors[key] = value
    stages = get("stages")
    if stages is None:
        stages = []
    elif isinstance(stages, dict):  # a Lua table with holes: keep each stage at its module's index
        last = max((k for k in stages if isinstance(k, int) and k >= 1), default=0)
        stages = [stages.get(k) for k in range(1, last + 1)]
    elif not isinstance(stages, list):
        raise T7ConvertError(f"{path}: stages should be a list of tensors")
    return Torch7Outputs(path, tensors["input"], tensors["output"], list(stages))


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


# --- running the converted module ----------------------------------------------------------------
@dataclass
class Observation:
    """The converted module's output (float64) and its stages' outputs (NumPy, the module's dtype), on the CPU."""

    output: np.ndarray | None
    stages: dict[str, np.ndarray]
    seconds: float
    error: str | None = None
    observed: list[str] = field(default_factory=list)  # every path a hook was put on


def observe(module: "torch.nn.Module", x: Any, *, device: str = "cpu",
            stage_list: Iterable[tuple[str, Any]] | None = None) -> Observation:
    """Run ``module`` on ``x`` with forward hooks on its Torch7-path stages; outputs copied as produced.

    Copies are taken inside the hooks (ReLUs may be in place and would overwrite them later). A module
    that fails to run gives an Observation with ``error`` set and the stages reached so far.
    """
    import torch
    if stage_list is None:
        from t7convert.pytorch.build import stage_modules
        stage_list = stage_modules(module)
    captured: dict[str, np.ndarray] = {}

    def hook_for(path: str):
        def hook(_module, _inputs, out):
            if isinstance(out, torch.Tensor):
                kept = out.detach().to("cpu", copy=True)  # float32 stays float32: half the memory of float64
                captured[path] = (kept if kept.dtype in (torch.float32, torch.float64) else kept.float()).numpy()
        return hook

    params = next(iter(module.parameters()), None)
    dtype = params.dtype if params is not None and params.is_floating_point() else torch.float32
    module = module.to(device).eval()
    watched = [(path, sub) for path, sub in stage_list if path]
    handles = [sub.register_forward_hook(hook_for(path)) for path, sub in watched]
    start = time.perf_counter()
    def tensors(v: Any) -> Any:  # a table input is a Python list; integer tensors keep their type
        if isinstance(v, (list, tuple)):
            return [tensors(e) for e in v]
        t = torch.from_numpy(np.ascontiguousarray(v)).to(device=device)
        return t.to(dtype) if t.is_floating_point() else t

    try:
        with torch.no_grad():
            y = module(tensors(x))
        outs = flat_table(y)
        if not all(isinstance(t, torch.Tensor) for t in outs):
            raise TypeError(f"the module returned {type(y).__name__}, not a tensor or a table of tensors")
        arrays = [t.detach().to("cpu", torch.float64).numpy() for t in outs]
        output: Any = arrays if isinstance(y, (list, tuple)) else arrays[0]
        error = None
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        output, error = None, f"the converted model failed to run: {str(e).splitlines()[0][:300]}"
    finally:
        for h in handles:
            h.remove()
    return Observation(output, captured, time.perf_counter() - start, error, [p for p, _ in watched])


def verify(module: "torch.nn.Module", t7_model: Any, x: Any, *, rtol: float = DEFAULT_RTOL,
           device: str = "cpu", progress: Callable[[int, int], None] | None = None) -> ParityReport:
    """Compare a converted module with the reference execution of the Torch7 model it came from.

    ``t7_model``: the parsed file's root (or the module inside it); ``x``: an input batch (N, C, H, W).
    Every stage :func:`t7convert.pytorch.build.stage_modules` maps is compared, full batch. ``progress(done, total)``
    is called as the reference execution goes through the layers and once the converted model has run.
    """
    model = model_in(t7_model)
    ticks = None
    if progress is not None:
        total = sum(1 for _, m in model.walk() if not m.children) + 1
        done = iter(range(1, total + 1))
        ticks = lambda _path: progress(next(done, total), total)  # noqa: E731
    with np.errstate(all="ignore"):  # NaN/Inf are reported as such below, not as numpy warnings
        execution = run(model, x, on_leaf=ticks)
    check_finite_reference(execution, model)
    seen = observe(module, x, device=device)
    if progress is not None:
        progress(total, total)
    return compare_with_execution(seen.output, seen.stages, execution, rtol=rtol, error=seen.error,
                                  observed=seen.observed, candidate=f"converted model ({device})")
