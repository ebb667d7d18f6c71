"""Outputs that stand without t7convert: ONNX (onnxruntime, OpenCV 5), ``torch.export`` programs (``.pt2``) and
plain PyTorch source (a folder of ``model.py`` and ``model.safetensors``).

Each is written from the converted module once it has passed the verification, and is itself run on the
verification input before it is put in place: the ``.onnx`` in onnxruntime, the ``.pt2`` through
``torch.export.load`` of the bytes written, the source folder by importing ``model.py`` in a fresh
interpreter where t7convert cannot be imported. Each must reproduce the reference execution's output to
:data:`TOLERANCE` (relative, float32). Each carries its provenance (:mod:`t7convert.export.provenance`).

Nothing here is imported on the ``.pth``/``.safetensors`` path: the API imports this package only for
these formats (the exporters' import alone costs more than a small conversion).
"""
from __future__ import annotations

import importlib.util

from t7convert.common.errors import T7ConvertError

#: output formats this package writes, by the output's suffix (the source format is a folder: --format source)
SUFFIXES = {".onnx": "onnx", ".pt2": "pt2"}
FORMATS = ("onnx", "pt2", "source")

#: an exported file's output against the reference execution's, relative to the largest reference value
TOLERANCE = 1e-4

#: what ``-o model.onnx`` needs beyond t7convert's own dependencies: the ``onnx`` extra
ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")


def check_available(fmt: str) -> None:
    """Refuse, before any work, a format whose optional dependencies are not installed (one line)."""
    if fmt != "onnx":
        return
    missing = [m for m in ONNX_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise T7ConvertError(f"writing .onnx needs {', '.join(missing)}, which are not installed: "
                             "pip install 't7convert[onnx]'")


def write(fmt: str, module, x, reference, output: str, *, provenance: dict[str, str], force: bool = False,
          before_publish=None, reference_at=None) -> tuple[int, float, list[str]]:
    """Write ``module`` as ``fmt`` (onnx, pt2 or source) to ``output``, verified on ``x`` against the reference
    execution's ``reference`` output; a traced format (onnx, pt2) also at a second size of each dimension it
    leaves dynamic, against ``reference_at(x2)`` (the reference execution there; it raises where the model
    refuses ``x2``): what it could not verify there stays fixed. Returns (bytes written, worst relative error,
    notes for the summary)."""
    if fmt == "onnx":
        from t7convert.export.onnx import write as writer
    elif fmt == "pt2":
        from t7convert.export.pt2 import write as writer
    elif fmt == "source":
        from t7convert.export.source import write as writer
    else:
        raise T7ConvertError(f"unknown export format {fmt!r}")
    if fmt == "source":  # not traced: the module's own code, every size it takes
        return writer(module, x, reference, output, provenance=provenance, force=force, before_publish=before_publish)
    return writer(module, x, reference, output, provenance=provenance, force=force, before_publish=before_publish,
                  reference_at=reference_at)


def check_output_folder(output: str, *, force: bool = False) -> None:
    """The source format writes a folder: refuse a file in its place, or a folder that exists (without force)."""
    import os
    if os.path.lexists(output):
        if not os.path.isdir(output) or os.path.islink(output):
            raise T7ConvertError(f"{output} exists and is not a folder; --format source writes a folder")
        if not force:
            raise T7ConvertError(f"{output} exists; pass --force to overwrite it")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise T7ConvertError(f"cannot write {output}: {parent} is not a writable folder")
