"""Parity reports: what a comparison found, stage by stage (``StageDiff``, ``ParityReport``)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

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
    reference_output: Any = None             # the reference's output (float64; a list for a table), kept
    # so that an exported file can be checked against the same numbers (t7convert.export)

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
