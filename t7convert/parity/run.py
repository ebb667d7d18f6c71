"""The whole parity run: the reference execution of the Torch7 graph, the converted module observed
stage by stage, and the comparisons, on one input (what ``t7convert parity`` reports).

Choosing the input (a seeded random batch, a preprocessed image, the input stored by real Torch7) is
the caller's (:func:`t7convert.api.parity`): this module only compares.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.interpreter import ModelError, run
from t7convert.parity.compare import (
    NonFiniteReference,
    ParityReport,
    Torch7Outputs,
    check_finite_reference,
    compare_with_execution,
    compare_with_torch7,
    describe_input,
    observe,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

REFERENCE_NAME = "reference execution (float64 NumPy)"


class GraphMismatch(T7ConvertError):
    """The converted file given to parity describes another architecture than the .t7: a mismatched
    pair of inputs, an input error (exit 2) like any other, not a failed comparison."""


@dataclass
class ParityRun:
    """What one parity run compared and found: one report per comparison (the converted module against
    the reference execution, and both against real Torch7's dump when one was given)."""

    file: str
    model: str | None
    shape: Any                       # the input's shape; for a table input, its description ("{2x5, 2x3}")
    source: dict[str, Any]
    device: str
    rtol: float
    reports: list[ParityReport] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    def to_dict(self) -> dict[str, Any]:
        shape = list(self.shape) if isinstance(self.shape, tuple) else self.shape
        return {"file": self.file, "model": self.model, "input": {"shape": shape, **self.source},
                "device": self.device, "rtol": self.rtol, "ok": self.ok,
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "comparisons": [r.to_dict() for r in self.reports]}

    def render(self) -> str:
        """The table the command prints: every stage's shape and errors, what was not compared, the verdict."""
        where = {"reference": f"from {self.source.get('file')}", "image": f"from {self.source.get('file')}",
                 "random": f"seeded random, seed {self.source.get('seed')}"
                 + (f"; {self.source['spec']} from {self.source['from']}" if self.source.get("from") else "")
                 }[self.source["kind"]]
        shape = "x".join(map(str, self.shape)) if isinstance(self.shape, tuple) else self.shape
        lines = [f"parity of {self.file}: input {shape} ({where}); "
                 f"tolerance {self.rtol:g} relative (max |error| / max |reference|)"]
        for r in self.reports:
            lines += ["", f"{r.candidate} vs {r.reference}"]
            rows = r.stages + ([r.output] if r.output is not None else [])
            if rows:
                width = max(len(s.path) for s in rows)
                mod_width = max(len(s.module) for s in rows)
                lines.append(f"  {'stage':<{width}}  {'module':<{mod_width}}  {'shape':<14} {'max abs':>9} {'max rel':>9}")
                for s in rows:
                    mark = "" if s.ok else "  <-- beyond tolerance"
                    note = f"  ({s.note})" if s.note and not s.ok else ""
                    lines.append(f"  {s.path:<{width}}  {s.module:<{mod_width}}  {'x'.join(map(str, s.shape)):<14} "
                                 f"{_fmt(s.max_abs):>9} {_fmt(s.max_rel):>9}{mark}{note}")
            lines += [f"  not compared: {why}" for why in r.skipped]
            if r.top1 is not None:
                lines.append(f"  top-1 agreement: {r.top1[0]}/{r.top1[1]}")
            lines.append(f"  {r.summary()}")
        lines += ["", "time: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in self.seconds.items()),
                  "PARITY OK" if self.ok else "PARITY FAILED"]
        return "\n".join(lines)


def first_sample(stage: np.ndarray) -> np.ndarray:
    """What dump_reference.lua stores of a stage: ``o[1]`` of a batched output; a 1-D output (a batch
    of one whose batch dimension an nn.View dropped) whole."""
    return stage if stage.ndim == 1 else stage[0]


def _fmt(v: float) -> str:
    return f"{v:.2e}" if math.isfinite(v) else str(v)


def run_parity(t7_file: str, t7_model: Any, x: np.ndarray, *, source: dict[str, Any],
               module: "torch.nn.Module | None" = None, model_file: str | None = None,
               torch7: Torch7Outputs | None = None, device: str = "cpu", rtol: float = 1e-5,
               guessed_input: bool = False, load_seconds: float | None = None,
               progress: Callable[..., None] | None = None) -> ParityRun:
    """Run the reference execution of ``t7_model`` on ``x`` and compare: with ``torch7`` (real Torch7's
    dump), and the converted ``module`` (None: the reference against Torch7 only) with both.
    ``progress(message, done=None, total=None)`` is told each step, and the layers as they run."""
    step = progress or (lambda _msg, _done=None, _total=None: None)
    result = ParityRun(t7_file, model_file, tuple(x.shape) if isinstance(x, np.ndarray) else describe_input(x),
                       source, device, rtol)
    start = time.perf_counter()
    shape = describe_input(x)
    leaves = sum(1 for _, m in t7_model.walk() if not m.children) if hasattr(t7_model, "walk") else 0
    done = iter(range(1, leaves + 1))
    message = "reference execution (float64 NumPy)"
    step(message, 0, leaves or None)
    try:
        with np.errstate(all="ignore"):  # NaN/Inf are reported as such, not as numpy warnings
            execution = run(t7_model, x, on_leaf=lambda _path: step(message, next(done, leaves), leaves))
        check_finite_reference(execution, t7_model)
    except NonFiniteReference as e:
        raise T7ConvertError(f"{t7_file}: on input {shape}: {e}") from None
    except ModelError as e:
        hint = (f" (the input was found from {source.get('from')}: give another with --input)"
                if guessed_input else "")
        raise T7ConvertError(f"{t7_file}: on input {shape}: {e}{hint}") from None
    result.seconds["reference_execution"] = time.perf_counter() - start

    if torch7 is not None:
        result.reports.append(compare_with_torch7(
            execution.output,
            lambda p: ((first_sample(execution.final[p]), "") if p in execution.final and execution.final[p].ndim
                       else (None, "the reference execution has no tensor output there")),
            torch7, execution, rtol=rtol, candidate=REFERENCE_NAME))
    if module is None:
        return result

    if load_seconds is not None:
        result.seconds["load_module"] = load_seconds
    step(f"running the converted model ({device})")
    seen = observe(module, x, device=device)
    result.seconds["module"] = seen.seconds
    step("comparing")
    name = f"converted model ({os.path.basename(model_file) if model_file else 'converted on the fly'}, {device})"
    if torch7 is not None:
        def module_first_sample(path: str) -> tuple[np.ndarray | None, str]:
            q = execution.produced_equivalent(path)
            if q is None:
                return None, "Torch7 overwrote this output in place by a module that is not a stage"
            if q not in seen.stages or not seen.stages[q].ndim:
                return None, f"the converted model has no stage {q}"
            return first_sample(seen.stages[q]), ("" if q == path else f"Torch7's tensor holds {q}'s output (in place)")
        result.reports.insert(0, compare_with_torch7(seen.output, module_first_sample, torch7, execution,
                                                     rtol=rtol, candidate=name, error=seen.error))
    result.reports.append(compare_with_execution(seen.output, seen.stages, execution, rtol=rtol, candidate=name,
                                                 reference=REFERENCE_NAME, error=seen.error, observed=seen.observed))
    return result
