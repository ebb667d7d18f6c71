"""What a ``.t7`` file holds, for ``t7convert inspect``: the module tree as Torch7 prints it, parameter
counts, tensor types, storage sharing and the file's own facts. Reads no tensor data (so answering on a
669 MB checkpoint takes a fraction of a second) and imports no torch.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.conversion import context as _families  # noqa: F401 - registers every family
from t7convert.conversion.registry import description
from t7convert.torch7.checkpoint import choices, layout_of, locate, table_summary
from t7convert.torch7.format import T7Document, T7Object, read_document
from t7convert.torch7.format import describe_value as in_torch7_words
from t7convert.torch7.parameters import parameter_count

# Fields that old Torch7 versions wrote and newer ones replaced: worth telling the user about.
LEGACY_FIELDS = {
    "running_std": "batch norm written before mid-2016 (1/sqrt(var+eps) instead of running_var)",
    "padding": "convolution written before padW/padH existed",
}



#: what ``inspect`` prints of one module: longer descriptions end in "…"; a size list (a LongStorage
#: field such as nn.View's ``size``) is shown by its first MAX_LISTED values
MAX_DESCRIPTION = 240
MAX_LISTED = 64


def _storage_role(first_path: str | None) -> str:
    """What a shared storage holds, from the field of its first tensor: getParameters() flattens the
    weights into one storage and the gradients into another, which look alike otherwise."""
    if not first_path:
        return ""
    field_name = first_path.removesuffix(".storage").rsplit(".", 1)[-1]
    if field_name.startswith("grad"):
        role = "the gradients (training state, not converted)"
    elif field_name in ("weight", "bias"):
        role = "the weights"
    else:
        role = f"{field_name}"
    return f": {role}, first at {first_path.removesuffix('.storage')}"


def describe(m: T7Object) -> str:
    """A one-line description in the style of Torch7's ``__tostring__``: each family file says how its
    classes print (``@describes``); other classes print their name. Bounded: a View whose size is a
    zero-stride LongTensor of 2**25 ones is described from its first values, in one short line."""
    text = description(_shortened(m))
    return text if len(text) <= MAX_DESCRIPTION else text[:MAX_DESCRIPTION - 1] + "…"


def _shortened(m: T7Object) -> T7Object:
    """``m`` with integer arrays longer than MAX_LISTED cut to that many (weights, floats, keep their shape)."""
    fields = m.fields if isinstance(m.fields, dict) else {}
    long = {k: v for k, v in fields.items()
            if isinstance(v, np.ndarray) and v.dtype.kind in "iu" and v.size > MAX_LISTED}
    if not long:
        return m
    short = type(fields)(fields)
    short.update({k: v.reshape(-1)[:MAX_LISTED] for k, v in long.items()})
    return T7Object(m.class_name, m.version, short, m.header)


@dataclass
class Inspection:
    doc: T7Document
    root_kind: str
    parameters: int | None = None
    legacy: Counter = field(default_factory=Counter)
    model: T7Object | None = None
    #: entries of containers' ``modules`` tables that Torch7 never runs (key 0, negative, after a hole)
    not_run: list[str] = field(default_factory=list)
    #: why an nn object at the root is not a model that can be shown (wrappers in a cycle)
    model_error: str | None = None
    #: a table's top-level entries, one line each (``vocab: a vocabulary of 65 tokens``)
    entries: list[str] = field(default_factory=list)
    found_in: str = ""
    #: the checkpoint layout that matched, in words, and the model's name in it (see checkpoint.Located)
    convention: str | None = None
    model_name: str | None = None
    #: the root in words: "a DoubleTensor 4x1000 (float64)", "the number 2.45", "a Lua list of 2 values"
    root_words: str = ""
    #: every model the file holds (key, class, parameters, whether convert takes it by default)
    models: list[dict[str, Any]] = field(default_factory=list)
    #: what convert makes of the default model ("ResNeXt-101 32x4d, torchvision layout"), or why it cannot
    recognised: str | None = None
    not_convertible: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = self.doc
        storages = []
        users: Counter = Counter(t.storage_index for t in d.tensors if t.storage_index is not None)
        for idx, rec in sorted(d.storages.items()):
            storages.append({"index": idx, "class": rec.class_name, "size": rec.size, "tensors": users.get(idx, 0),
                             "first_path": rec.path, "data_offset": rec.data_offset})
        tensor_types = Counter(t.class_name for t in d.tensors)
        return {
            "file": d.path, "file_size": d.file_size, "encoding": d.encoding, "long_size": d.long_size,
            "root": self.root_kind, "parameters": self.parameters,
            "classes": [{"class": c, "version": v, "count": n} for (c, v), n in sorted(d.classes.items(),
                                                                                      key=lambda kv: str(kv[0]))],
            "versions_missing": sorted({c for (c, v) in d.classes if v is None}),
            "tensor_types": dict(tensor_types), "tensors": len(d.tensors),
            "shared_storages": sum(1 for s in storages if s["tensors"] > 1), "storages": storages,
            "functions": d.functions, "legacy_fields": dict(self.legacy),
            "model_error": self.model_error,
            "not_run": list(self.not_run), "modules": self.module_rows(),
            "entries": list(self.entries), "model_key": self.found_in or None,
            "convention": self.convention, "model_name": self.model_name,
            "root_description": self.root_words, "objects": len(d.objects) or 1,
            "stream_tail_error": d.stream_tail_error, "models": list(self.models),
            "recognised": self.recognised, "not_convertible": self.not_convertible,
        }

    def module_rows(self) -> list[dict[str, Any]]:
        """One row per module (a shared module at its first place), for ``--json``."""
        if self.model is None:
            return []
        return [{"path": p or "<root>", "class": m.class_name, "version": m.version, "description": describe(m),
                 "parameters": _own_params(m), "depth": p.count("modules[")} for p, m in self.model.walk(unique=True)]


def _root_words(root: Any) -> str:
    words = in_torch7_words(root)
    return f"{words} ({root.dtype})" if isinstance(root, np.ndarray) else words


def inspect_file(path: str, *, recognise: bool = True, **read_options: Any) -> Inspection:
    """What ``path`` holds; with ``recognise``, also what ``convert`` makes of its default model (this
    converts it in memory, without verification: the architecture's name, or why it would refuse)."""
    doc = read_document(path, **read_options)
    root = doc.root
    kind = root.class_name if isinstance(root, T7Object) else type(root).__name__
    ins = Inspection(doc=doc, root_kind=kind, entries=table_summary(root), root_words=_root_words(root))
    layout = layout_of(root, path)
    try:
        found = locate(root, source=path)
        model, ins.found_in, ins.convention, ins.model_name = found.model, found.where, found.convention, found.name
    except T7ConvertError as e:
        model = None  # not a model: a table of values, a tensor...
        if isinstance(root, (T7Object, list, dict)):
            ins.model_error = str(e)
    default_key = ins.found_in.split(" (inside")[0]
    for name, key, m in choices(root, layout):
        ins.models.append({"key": name, "path": key or "<root>", "class": m.class_name,
                           "parameters": parameter_count(m), "default": model is not None and key == default_key})
    if model is None and ins.models:
        ins.model_error = f"convert takes none of its {len(ins.models)} models by default: choose one with --key"
    if model is not None and recognise:
        from t7convert.conversion.model import convert_file
        try:
            ins.recognised = convert_file(path).title
        except T7ConvertError as e:
            ins.not_convertible = str(e).removeprefix(f"{path}: ")
    if model is not None:
        ins.model = model
        ins.parameters = parameter_count(model)
        ins.not_run = not_run(model)
        for _, m in model.walk(unique=True):
            for f in LEGACY_FIELDS:
                if m.get(f) is not None:
                    ins.legacy[f] += 1
    return ins


def not_run(model: T7Object) -> list[str]:
    """One line per entry of a container's ``modules`` table outside ``1..#modules``: Torch7's
    ``for i = 1, #self.modules`` never runs it, and neither does the converted model."""
    out = []
    for path, m in model.walk(unique=True):
        mods = m.get("modules")
        if not isinstance(mods, dict):
            continue  # a list: keys exactly 1..n
        n = len(m.children)
        for key, value in mods.items():
            if type(key) is int and 1 <= key <= n:
                continue
            what = value.class_name if isinstance(value, T7Object) else type(value).__name__
            if type(key) is int and key > n:
                why = f"after the hole at modules[{n + 1}]"
            elif type(key) is int:
                why = "Torch7 runs modules[1] onwards"
            else:
                why = "not a positive integer key"
            where = f"{path}.modules" if path else "modules"
            out.append(f"{where}[{key!r}] ({what}) is not run by Torch7 ({why}; {m.class_name} runs "
                       f"{n} module{'s' if n != 1 else ''})")
    return out


def _own_params(m: T7Object) -> int:
    return sum(int(t.size) for k in ("weight", "bias") if isinstance((t := m.get(k)), np.ndarray))


_TABLES = ("nn.ConcatTable", "nn.Concat", "nn.ParallelTable", "nn.DepthConcat")


def torch7_string(m: T7Object, counts: bool = True) -> str:
    """``print(model)`` as Torch7 writes it (Sequential's ``[input -> (1) -> ... -> output]``,
    ConcatTable's branches), with each layer's parameter count appended when ``counts``. A module used
    in several places is written out at its first place and named at the others."""
    return _torch7_string(m, counts, "", {})


def _torch7_string(m: T7Object, counts: bool, path: str, first_seen: dict[int, str]) -> str:
    if id(m) in first_seen:
        return f"{m.class_name} (the module at {first_seen[id(m)] or 'the root'})"
    first_seen[id(m)] = path
    kids = [(i, c) for i, c in enumerate(m.children, 1) if isinstance(c, T7Object)]
    sub = lambda i, c: _torch7_string(c, counts, f"{path}.modules[{i}]" if path else f"modules[{i}]",  # noqa: E731
                                      first_seen)
    if kids and m.class_name not in _TABLES:
        arrow = "".join(f" -> ({i})" for i, _ in kids)
        body = "".join(f"\n  ({i}): " + sub(i, c).replace("\n", "\n  ") for i, c in kids)
        return f"{m.class_name} {{\n  [input{arrow} -> output]{body}\n}}"
    if kids:
        body = ""
        for n, (i, c) in enumerate(kids, 1):
            lead, ext = ("   `-> ", "       ") if n == len(kids) else ("  |`-> ", "  |    ")
            body += f"\n  {lead}({i}): " + sub(i, c).replace("\n", "\n  " + ext)
        return f"{m.class_name} {{\n  input{body}\n     ... -> output\n}}"
    n = _own_params(m)
    return describe(m) + (f"  [{n:,} parameters]" if counts and n else "")


def format_tree(ins: Inspection) -> str:
    try:
        return torch7_string(ins.model) if ins.model is not None else ""
    except RecursionError:
        raise T7ConvertError("modules nested too deeply to print") from None


def format_summary(ins: Inspection) -> str:
    j = ins.to_json()
    out = [f"{j['file']}: {j['file_size']:,} bytes, {j['encoding']}"
           + (", 4-byte longs" if j["long_size"] == 4 else "") + f", root: {ins.root_words}"]
    if j["objects"] > 1:
        out.append(f"a stream of {j['objects']} top-level objects written one after another: Torch7's torch.load "
                   "reads the first (described here); t7convert.read(path, all=True) returns every one")
    if j["stream_tail_error"]:
        out.append(f"after them, {j['stream_tail_error']}")
    if ins.entries:
        out.append("table entries:" + "".join(f"\n  {line}" for line in ins.entries))
    if len(ins.models) > 1:
        rows = []
        for m in ins.models:
            n = m["parameters"]
            choice = "convert's default" if m["default"] else f"--key {m['key']}"
            at = f" at {m['path']}" if m["path"] != m["key"] else ""
            rows.append(f"\n  {m['key']}{at}: {m['class']}, {n:,} parameter{'' if n == 1 else 's'} ({choice})")
        out.append(f"models: {len(ins.models)}" + "".join(rows))
    if ins.found_in:
        named = f" ({ins.model_name})" if ins.model_name and ins.model_name != ins.found_in else ""
        out.append(f"model: the table's {ins.found_in}{named}")
    if ins.convention:
        out.append(f"found by {ins.convention}")
    if ins.recognised:
        out.append(f"recognised: {ins.recognised} (what convert writes)")
    if ins.not_convertible:
        out.append(f"convert would refuse it: {ins.not_convertible}")
    if ins.parameters is not None:
        out.append(f"parameters: {ins.parameters:,} (weights and biases, as getParameters counts them)")
    out.append("tensors: " + ", ".join(f"{n} {t}" for t, n in sorted(j["tensor_types"].items())) if j["tensors"]
               else "tensors: none")
    big = sorted(j["storages"], key=lambda s: -s["size"])[:4]
    for s in big:
        if s["tensors"] > 1:
            out.append(f"storage #{s['index']} {s['class']} of {s['size']:,} elements shared by {s['tensors']} tensors"
                       + _storage_role(s["first_path"]))
    if j["versions_missing"]:
        out.append("classes without a version prefix (pre-versioning files): " + ", ".join(j["versions_missing"]))
    for f, n in j["legacy_fields"].items():
        out.append(f"legacy field {f} in {n} modules: {LEGACY_FIELDS[f]}")
    out.extend(j["not_run"])
    if j["model_error"]:
        out.append(f"no model shown: {j['model_error']}")
    if j["functions"]:
        out.append(f"{j['functions']} serialized Lua functions (kept as bytes, never executed)")
    return "\n".join(out)
