"""The error measure (``difference``: max absolute and relative error), and the comparisons of the
converted model's stages with the reference execution or with Torch7's dump, which fill a report."""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.interpreter import Execution
from t7convert.parity.inputs import flat_table
from t7convert.parity.report import DEFAULT_RTOL, ParityReport, StageDiff
from t7convert.torch7.format import T7Object

if TYPE_CHECKING:  # pragma: no cover
    from t7convert.parity.torch7_dump import Torch7Outputs

_FLT_MAX = float(np.finfo(np.float32).max)


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
    # the scale is the largest ordinary value: infinities and TH's -THInf sentinel (-FLT_MAX, what a
    # THNN max pooling gives for an empty window) must match exactly, and must not set a scale that
    # would hide every other error of the stage
    finite = np.abs(r[np.isfinite(r)])
    finite = finite[finite < _FLT_MAX]
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
    report = ParityReport(candidate, reference, rtol, error=error, reference_output=execution.output)
    watched = set(observed)
    for path in execution.order:
        module = execution.label(path)
        if path in stages:
            report.stages.append(_diff(path, module, stages[path], execution.outputs[path], rtol))
        elif error is not None and path in watched:  # the candidate stopped before this stage
            report.stages.append(StageDiff(path, module, execution.outputs[path].shape, math.inf, math.inf,
                                           False, f"not reached: {error}"))
            break
    _compare_output(report, output, execution.output, rtol)
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
    _compare_output(report, output, torch7.output, rtol)
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

    Infinities are compared as values: Torch7 gives them itself (Log of 0, a cudnn max pooling window
    past the input), and the converted model must give the same."""
    for path in execution.order:
        out = execution.outputs[path]
        if out.dtype.kind == "f" and np.isnan(out).any():
            why = _why_non_finite(_module_at(model, path))
            if why:  # the file's own fault; NaN from an input outside a layer's domain (Log, Sqrt of
                # negatives) is Torch7's result too, and is compared position by position
                raise NonFiniteReference(f"Torch7's own model yields NaN at {path} ({execution.label(path)})"
                                         f"{why}; nothing can be compared there")
            return


def _compare_output(report: Any, output: Any, expected: Any, rtol: float) -> None:
    """The whole output against the expected one (the reference execution's or Torch7's dump): a table
    entry by entry, a tensor with its top-1 agreement. Nothing when the converted side did not run."""
    if output is None:
        return
    if isinstance(output, list) or isinstance(expected, list):
        report.output = _diff_table(output, expected, rtol)
    else:
        report.output = _diff("output", "", output, expected, rtol)
        report.top1 = _top1(output, expected)
