"""``.onnx`` for onnxruntime and OpenCV 5 (``cv2.dnn.readNetFromONNX``): torch's dynamo exporter on the
``torch.export`` program of :mod:`t7convert.export.pt2` (a dynamic batch dimension where the model is
per-sample), table inputs as named graph inputs in Lua order (``input1``, ``input2``...); the TorchScript
exporter only where the dynamo one fails, and the summary says so. ``onnx.checker`` clean, and run in
onnxruntime on the verification input before it is put in place. Needs the ``onnx`` extra."""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from t7convert.common.atomic import atomic_output
from t7convert.common.errors import T7ConvertError
from t7convert.export.common import ReferenceAt, check_close, first_line, flat, input_dims, model_dtype
from t7convert.export.provenance import KEY, dumps
from t7convert.export.pt2 import at_other_sizes, programs


def _names(n: int, stem: str) -> list[str]:
    return [stem] if n == 1 else [f"{stem}{i}" for i in range(1, n + 1)]


def _n_outputs(ep: torch.export.ExportedProgram, args: list[torch.Tensor]) -> int:
    with torch.no_grad():
        return len(flat(ep.module()(*[a.clone() for a in args])))


def _dynamo(ep: torch.export.ExportedProgram, args: list[torch.Tensor], dst: str, dynamic: bool) -> None:
    import logging
    for name in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(ep, tuple(args), dynamo=True, input_names=_names(len(args), "input"),
                                 output_names=_names(_n_outputs(ep, args), "output"), verbose=False,
                                 optimize=True, report=False)
    prog.save(dst)


def _legacy(module: nn.Module, args: list[torch.Tensor], dst: str, dynamic: bool) -> None:
    names = _names(len(args), "input")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(args), dst, dynamo=False, input_names=names, verbose=False,
                          dynamic_axes={n: {0: "batch"} for n in names} if dynamic else None)


def _fix_dims(model, args: list[torch.Tensor], keep: set[str] | None) -> tuple[list[str], list[str]]:
    """The graph inputs' dimensions an ONNX runtime must refuse to change, fixed (``dim_value``): those the
    program specialised (the dynamo exporter writes them as a ``dim_param`` of digits, which onnxruntime takes
    as free) and, where ``keep`` is given, the dynamic ones not verified at a second size (an ONNX graph has
    no guards: a size rule traced at one size would give another number at another). Returns (the
    dimensions left free, the dynamic ones fixed here with their sizes)."""
    free: list[str] = []
    fixed: list[str] = []  # the dynamic ones fixed here (not those the program specialised itself)
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    for inp, a in zip(inputs, args):
        for k, dim in enumerate(inp.type.tensor_type.shape.dim):
            if not dim.HasField("dim_param") or k >= a.dim():
                continue
            p = dim.dim_param
            if p.isdigit() or (keep is not None and p not in keep):
                dim.ClearField("dim_param")
                dim.dim_value = int(p) if p.isdigit() else int(a.shape[k])
                if not p.isdigit():
                    fixed.append(f"{inp.name}[{k}]={dim.dim_value}")
            else:
                free.append(f"{inp.name}[{k}]")
    return free, fixed


def _stamp(path: str, record: dict[str, str], args: list[torch.Tensor],
           keep: set[str] | None) -> tuple[list[str], list[str]]:
    """The provenance into the model's metadata_props and its input dimensions fixed where they must be
    (:func:`_fix_dims`); then onnx.checker over the file. Returns what :func:`_fix_dims` does."""
    import onnx
    model = onnx.load(path)
    dims = _fix_dims(model, args, keep)
    props = {p.key: p.value for p in model.metadata_props}
    props.update(record)
    props[KEY] = dumps(record)
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    model.producer_name = "t7convert"
    onnx.save(model, path)
    onnx.checker.check_model(path)
    return dims


def _batch_symbol(ep: torch.export.ExportedProgram) -> str:
    dims = input_dims(ep)
    return str(dims[0][0]) if dims and dims[0] and not isinstance(dims[0][0], int) else ""


def run_onnxruntime(path: str, args: list[torch.Tensor]) -> list[np.ndarray]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    inputs = s.get_inputs()
    if len(inputs) != len(args):
        raise T7ConvertError(f"the .onnx graph takes {len(inputs)} inputs, the model {len(args)}")
    types = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(float16)": np.float16}
    feed = {i.name: np.ascontiguousarray(a.numpy().astype(types.get(i.type, a.numpy().dtype)))
            for i, a in zip(inputs, args)}
    return s.run(None, feed)


def write(module: nn.Module, x: Any, reference: Any, output: str, *, provenance: dict[str, str], force: bool = False,
          before_publish: Callable[[], None] | None = None,
          reference_at: ReferenceAt | None = None) -> tuple[int, float, list[str]]:
    """Export, stamp and check, run in onnxruntime against ``reference`` and, at a second size of each dynamic
    dimension, against ``reference_at`` there (dimensions it could not verify are fixed); then publish.
    Returns (bytes, worst relative error, notes)."""
    from t7convert.export import check_available
    check_available("onnx")
    failures: list[str] = []
    for ep, dynamic, args in programs(module, x):
        for how in ("dynamo", "torchscript"):
            notes = []
            if how == "torchscript":
                if not failures:
                    continue
                notes.append(f"written by torch's TorchScript-based ONNX exporter: the dynamo exporter failed "
                             f"({failures[-1]})")
            try:
                with atomic_output(output, exclusive=not force) as tmp:
                    if how == "dynamo":
                        _dynamo(ep, args, tmp, dynamic)
                    else:
                        from t7convert.export.common import callable_model, structure
                        leaves: list = []
                        _legacy(callable_model(module, structure(x, leaves)), args, tmp, dynamic)
                    got = run_onnxruntime(tmp, args)
                    what = (f"the .onnx graph ({'dynamic' if dynamic else 'static'} batch, {how} exporter) in "
                            "onnxruntime")
                    err = check_close(what, got, flat(reference))
                    keep = None
                    if reference_at is not None:
                        keep = at_other_sizes(lambda a: run_onnxruntime(tmp, a), ep, x, model_dtype(module),
                                              reference_at, what)
                        if how == "torchscript" and _batch_symbol(ep) in keep:
                            keep.add("batch")
                    free, fixed = _stamp(tmp, dict(provenance, format="onnx", exporter=f"torch.onnx ({how})",
                                            batch="dynamic" if dynamic else "static", max_rel_error=f"{err:.3e}"),
                                  args, keep)
                    got = run_onnxruntime(tmp, args)  # the file as written, its dimensions fixed
                    err = check_close(what, got, flat(reference))
                    dynamic = dynamic and any(f.endswith("[0]") for f in free)
                    if before_publish is not None:
                        before_publish()
                if not dynamic:
                    notes.append("the .onnx graph's batch size is fixed")
                if fixed:
                    notes.append(f"input sizes the .onnx graph fixes (not verified at a second size): "
                                 f"{', '.join(fixed)}")
                return os.path.getsize(output), err, notes
            except T7ConvertError as e:
                failures.append(str(e))
            except Exception as e:  # noqa: BLE001 - the exporters and onnxruntime raise many kinds
                failures.append(first_line(e))
    raise T7ConvertError(f"cannot write an .onnx file of this model: {failures[-1] if failures else '?'}")
