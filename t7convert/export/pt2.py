"""``.pt2``: a ``torch.export`` program (table inputs as positional arguments, Lua order), with a dynamic batch
dimension where the model is per-sample; verified by ``torch.export.load`` of the bytes written."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import torch
from torch import nn

from t7convert.common.atomic import atomic_output
from t7convert.common.errors import T7ConvertError
from t7convert.export import TOLERANCE
from t7convert.export.common import (
    RankChecked,
    ReferenceAt,
    as_tensors,
    callable_model,
    check_close,
    doubled,
    first_line,
    model_dtype,
    rel_error,
    second_sizes,
    shapes_text,
)
from t7convert.export.provenance import KEY, dumps

EXTRA_FILE = KEY + ".json"


def _clone(args: list[torch.Tensor]) -> list[torch.Tensor]:
    return [a.clone() for a in args]  # a model may work in place on its input (ReLU(true) first)


def programs(module: nn.Module, x: Any, *, ranked: bool = False
             ) -> Iterator[tuple[torch.export.ExportedProgram, bool, list[torch.Tensor]]]:
    """(program, dynamic batch?, the verification input's tensors), most general first: every dimension
    dynamic where the model allows it (``Dim.AUTO``), traced on a doubled batch (torch.export specialises a
    size of 1) and kept only if it matches the model there; then only the batch dynamic; then every
    dimension but a batch of 1, traced on the input itself; then one specialised to the input. The caller verifies each on the input
    and keeps the first that reproduces the reference."""
    args, struct = as_tensors(x, model_dtype(module))
    model = callable_model(module, struct)
    if ranked:  # (.pt2: an input of another rank is refused; an ONNX graph declares its inputs' ranks)
        model = RankChecked(model).eval()
    auto = torch.export.Dim.AUTO

    def export(example: list[torch.Tensor], dims: str, oblivious: bool = False) -> torch.export.ExportedProgram:
        specs = tuple({d: auto for d in range(a.dim() if dims == "all" else 1)} if dims and a.dim() else None
                      for a in example)
        # size-oblivious: a size of 0 or 1 met while tracing (a batch of 1, a pooling down to 1x1) is not
        # specialised into a guard; the second-size check of the writers catches a program wrong elsewhere
        import torch.fx.experimental._config as fx_config
        with fx_config.patch(backed_size_oblivious=oblivious):
            return torch.export.export(model, tuple(_clone(example)), strict=False,
                                       dynamic_shapes=specs if model is module else (specs,))

    def symbolic(ep: torch.export.ExportedProgram) -> bool:
        return any(not isinstance(s, int) for n in ep.graph.nodes if n.op == "placeholder"
                   for s in getattr(n.meta.get("val"), "shape", ()))

    first_error: BaseException | None = None
    ex = doubled(args)
    # size-oblivious tracing first for one tensor (a pooling down to 1x1 at the verification size is then not
    # fixed at 1); for a table second: it loses what ties the inputs' sizes together (char-rnn's states get
    # batch sizes of their own, bounded by guards), measured on the graphs fixtures
    oblivious = (True, False) if len(args) == 1 else (False, True)
    tries = [("all", oblivious[0]), ("all", oblivious[1]), ("batch", False)]
    for dims, obl in tries if ex is not None else ():
        try:  # (a rule that depends on the batch being 1, as nn.View's, fails the second on the input)
            ep = export(ex, dims, obl)
            with torch.no_grad():
                err, why = rel_error(ep.module()(*_clone(ex)), model(*_clone(ex)))
            if symbolic(ep) and not why and err <= TOLERANCE:
                yield ep, True, args
        except Exception as e:  # noqa: BLE001 - a batch the model does not take: the programs below
            first_error = first_error or e
    try:
        ep = export(args, "all", True)
        if symbolic(ep):
            yield ep, False, args
    except Exception as e:  # noqa: BLE001
        first_error = first_error or e
    try:
        yield export(args, ""), False, args
    except Exception as e:  # noqa: BLE001 - torch.export raises many kinds
        raise T7ConvertError(f"torch.export cannot trace this model: {first_line(e)}") from (first_error or e)


def at_other_sizes(run: Callable[[list[torch.Tensor]], Any], ep: torch.export.ExportedProgram, x: Any,
                   dtype: torch.dtype, reference_at: ReferenceAt | None, what: str) -> set[str]:
    """Run an exported file (``run`` on its positional tensors) at another size of each dimension the program
    leaves dynamic, against the reference execution there: a file that computes another number at another
    size is refused here (:class:`T7ConvertError`), before anything is written. A size the file itself refuses
    is no error (a refusal is honest). Returns the names of the size symbols verified at a second size."""
    verified: set[str] = set()
    for x2, want, changed in second_sizes(ep, x, reference_at):
        args2, _ = as_tensors(x2, dtype)
        try:
            with torch.no_grad():
                got = run(args2)
        except Exception:  # noqa: BLE001 - the file refuses that size (a guard): honest, nothing verified
            continue
        err, why = rel_error(got, want)
        if why or err > TOLERANCE:
            raise T7ConvertError(f"{what} is wrong at another input size ({shapes_text(x2)}: "
                                 f"{why or f'relative error {err:.2e}'})")
        verified |= changed
    return verified


def write(module: nn.Module, x: Any, reference: Any, output: str, *, provenance: dict[str, str], force: bool = False,
          before_publish: Callable[[], None] | None = None,
          reference_at: ReferenceAt | None = None) -> tuple[int, float, list[str]]:
    """Export, save to a temporary file, load it back, run it on ``x`` against ``reference`` and at a second
    size of its dynamic dimensions against ``reference_at`` there; then publish.
    Returns (bytes, worst relative error, notes)."""
    import os

    last: BaseException | None = None
    for ep, dynamic, args in programs(module, x, ranked=True):
        record = dict(provenance, format="pt2", exporter="torch.export",
                      batch="dynamic" if dynamic else "static")
        try:
            with torch.no_grad():  # measured in memory for the record, then again on the bytes written
                err, _ = rel_error(ep.module()(*_clone(args)), reference)
            record["max_rel_error"] = f"{err:.3e}"
            with atomic_output(output, exclusive=not force) as tmp:
                with open(tmp, "wb") as f:  # a path ending .tmp: torch.export.save takes a file object as is
                    torch.export.save(ep, f, extra_files={EXTRA_FILE: dumps(record)})
                extra = {EXTRA_FILE: ""}
                with open(tmp, "rb") as f:
                    loaded = torch.export.load(f, extra_files=extra)
                with torch.no_grad():
                    got = loaded.module()(*_clone(args))
                what = f"the .pt2 program ({'dynamic' if dynamic else 'static'} batch)"
                err = check_close(what, got, reference)
                at_other_sizes(lambda a: loaded.module()(*a), ep, x, model_dtype(module),
                               reference_at, what)
                if json.loads(extra[EXTRA_FILE] or "{}").get("source") != provenance.get("source"):
                    raise T7ConvertError("the .pt2 file lost its provenance record")
                if before_publish is not None:
                    before_publish()
            notes = [] if dynamic else ["the .pt2 program's batch size is fixed (the model is not per-sample "
                                        "over its first dimension, or torch.export specialised it)"]
            return os.path.getsize(output), err, notes
        except T7ConvertError as e:
            last = e
        except Exception as e:  # noqa: BLE001 - a guard of a more general program: try the next one
            last = T7ConvertError(f"the .pt2 program fails on the verification input: {first_line(e)}")
    raise last if last is not None else T7ConvertError("no .pt2 program could be verified")
