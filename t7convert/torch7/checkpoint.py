"""Where the model is inside what a ``.t7`` checkpoint holds.

fb.resnet.torch saves the model itself; other code saved tables such as ``{model=..., optimState=...}``
or wrapped the model in a DataParallelTable. Conversion, parity and inspection all start from the same
module found here, so that their Torch7 paths (``modules[5].modules[2]``) agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.torch7.format import T7Object
from t7convert.torch7.format import describe_value as in_torch7_words

# Multi-GPU wrappers: every replica holds the same weights; the first one is the model.
DATA_PARALLEL = ("nn.DataParallelTable", "nn.DataParallel", "fbnn.DataParallel")
_MODEL_KEYS = ("model", "net", "network", "module")
_NN_PACKAGES = ("nn", "cudnn", "fbnn", "nngraph")


def unwrap(model: Any) -> Any:
    """The model inside DataParallelTable wrappers (what fb.resnet.torch's ``model:get(1)`` returns)."""
    seen: dict[int, int] = {}  # id of each wrapper passed -> its 1-based place in the chain
    chain: list[T7Object] = []
    while isinstance(model, T7Object) and model.class_name in DATA_PARALLEL and model.children:
        seen[id(model)] = len(chain) + 1
        chain.append(model)
        first = model.children[0]
        if not isinstance(first, T7Object):
            raise T7ConvertError(f"a {model.class_name} whose first replica is a "
                                 f"{type(first).__name__}, not a module")
        if id(first) in seen:
            start = seen[id(first)]
            loop = " -> ".join(f"{m.class_name} (wrapper {i})" for i, m in enumerate(chain[start - 1:], start))
            raise T7ConvertError(f"the DataParallelTable wrappers form a cycle: {loop} -> back to wrapper "
                                 f"{start} (each one's modules[1] is the next)")
        model = first
    return model


@dataclass
class Located:
    """Where the model of a file is, and what else the file's table held.

    ``where``: "" for the root, else the dotted key path (``protos.rnn``). ``project``: the training
    code whose checkpoint layout was recognised (``char-rnn``, ``torch-rnn``, ``rnn`` for Element-Research
    rnn's example xplogs), or None. ``extras``:
    plain data the converted file keeps in its description (a vocabulary, the sampler's options).
    ``others``: one line per other top-level entry of the table.
    """

    model: T7Object
    where: str = ""
    project: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)


def find_model(root: Any, key: str | None = None) -> tuple[T7Object, str]:
    """(the model, where it was: "" for the root, else the table key) with wrappers unwrapped."""
    found = locate(root, key)
    return found.model, found.where


def locate(root: Any, key: str | None = None) -> Located:
    """The model of a file: the entry at ``key`` (a dotted path) when given, else the documented one
    of a recognised checkpoint layout, else a table entry named like a model, else the only module."""
    if key:
        model, where, project = _at(root, key), key, None
    else:
        model, where, project = _find(root)
    inner = unwrap(model)
    if inner is not model:
        where = (where + " " if where else "") + "(inside its DataParallelTable)"
    found = Located(inner, where, project, others=table_summary(root, skip=where.split(".")[0]))
    found.extras = _extras(root, inner, project)
    return found


def _at(root: Any, key: str) -> T7Object:
    """The entry at a dotted path (``protos.rnn``; a number indexes a Lua list from 1)."""
    value, walked = root, []
    if len(key) > 1000:
        raise T7ConvertError(f"--key {key[:40]}...: longer than 1,000 characters")
    for part in key.split("."):
        walked.append(part)
        number = part.isascii() and part.isdigit() and len(part) <= 18  # "²" is a digit to isdigit()
        here = ".".join(walked)
        if isinstance(value, T7Object):
            value = value.fields if isinstance(value.fields, dict) else {}
        if isinstance(value, list) and number and 1 <= int(part) <= len(value):
            value = value[int(part) - 1]
        elif isinstance(value, dict) and (part in value or (number and int(part) in value)):
            value = value[part] if part in value else value[int(part)]
        else:
            keys = ", ".join(sorted(str(k) for k in value)[:20]) if isinstance(value, dict) else "none"
            raise T7ConvertError(f"--key {key}: the file has no entry {here} (keys there: {keys})")
    if not isinstance(value, T7Object):
        raise T7ConvertError(f"--key {key}: the entry is a {type(value).__name__}, not a Torch7 module")
    return value


def is_module(value: Any) -> bool:
    """An nn module: a class of nn's packages, or a user's own class that carries what nn.Module's
    constructor gives every module (``output`` and ``gradInput``). A user's plain ``torch.class``
    (a SymbolManager, a Corpus) is data, not a model."""
    if not isinstance(value, T7Object):
        return False
    if value.class_name.split(".")[0] in _NN_PACKAGES:
        return True
    fields = value.fields if isinstance(value.fields, dict) else {}
    return "output" in fields and "gradInput" in fields


def models_in(root: Any, *, depth: int = 2, most: int = 64) -> list[tuple[str, T7Object]]:
    """Every module a checkpoint table holds up to ``depth`` keys down (``model``, ``protos.rnn``,
    seq2seq-attn's ``1.1``..``1.3``), as (dotted key, module), at most ``most``; ``[("", root)]`` for a
    file that is a model. Modules inside modules are not listed (they are the model's layers)."""
    out: list[tuple[str, T7Object]] = []
    stack: list[tuple[Any, str, int]] = [(root, "", 0)]
    while stack and len(out) < most:
        value, path, level = stack.pop()
        if is_module(value):
            if not value.class_name.endswith("Criterion"):  # a loss kept beside the model, not a model
                out.append((path, value))
            continue
        if level >= depth:
            continue
        if isinstance(value, T7Object) and isinstance(value.fields, dict):  # a user's class: its fields
            value = value.fields
        if isinstance(value, list):
            items = [(str(i), v) for i, v in enumerate(value, 1)]
        elif isinstance(value, dict):
            items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        else:
            continue
        for k, v in reversed(items):
            stack.append((v, f"{path}.{k}" if path else k, level + 1))
    return out


def _find(root: Any) -> tuple[T7Object, str, str | None]:
    if is_module(root):
        return root, "", None
    if isinstance(root, dict):
        protos = root.get("protos")
        if isinstance(protos, dict) and isinstance(protos.get("rnn"), T7Object):
            return protos["rnn"], "protos.rnn", "char-rnn"  # karpathy/char-rnn's train.lua
        if _is_latest_pointer(root):
            raise T7ConvertError(f"this is fb.resnet.torch's latest.t7 (epoch {root.get('epoch')}), which names the "
                                 f"checkpoint files, not a model: the model is {root.get('modelFile')!s} (beside it)")
        for key in _MODEL_KEYS:
            if isinstance(root.get(key), T7Object):
                model = root[key]
                if model.class_name == "nn.LanguageModel":
                    return model, key, "torch-rnn"
                # Element-Research rnn's examples save {model, vocab, opt, dataset, ...} (an xplog)
                return model, key, "rnn" if isinstance(root.get("vocab"), dict) and "dataset" in root else None
        modules = [k for k, v in root.items() if is_module(v)]
        if len(modules) == 1:
            return root[modules[0]], str(modules[0]), None
    if isinstance(root, list) and root and is_module(root[0]):
        return root[0], "[1]", None
    held = models_in(root)
    if held:
        listed = ", ".join(f"{k} ({m.class_name})" for k, m in held[:8]) + (", ..." if len(held) > 8 else "")
        raise T7ConvertError(f"the file holds {in_torch7_words(root)} with {len(held)} model"
                             f"{'' if len(held) == 1 else 's'} in it and none is the documented one: "
                             f"{listed}; choose one with --key (key= in the API)")
    raise T7ConvertError(f"the file holds {in_torch7_words(root)}, not a Torch7 nn model")


def _is_latest_pointer(root: dict) -> bool:
    return isinstance(root.get("modelFile"), (str, bytes)) and not any(isinstance(v, T7Object) for v in root.values())


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _token(value: Any) -> str:
    """A vocabulary entry as one character per byte (latin-1 of its bytes): char-rnn and torch-rnn
    split text into bytes (``gmatch'.'``, ``s:sub(i, i)``), so a token is a byte, whatever the reader
    could decode."""
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return raw.decode("latin-1")


def _extras(root: Any, model: T7Object, project: str | None) -> dict[str, Any]:
    """What a sampler needs beside the weights: the vocabulary (tokens in index order) and options."""
    if project == "char-rnn":
        opt = root.get("opt") if isinstance(root.get("opt"), dict) else {}
        vocab = root.get("vocab") if isinstance(root.get("vocab"), dict) else {}
        tokens = sorted(vocab, key=lambda c: vocab[c])
        return {"project": project, "tokens": [_token(t) for t in tokens],
                "indices": [int(vocab[t]) for t in tokens],
                **{k: opt.get(k) for k in ("model", "num_layers", "rnn_size") if isinstance(opt.get(k), (int, float, str))}}
    if project == "rnn":  # vocab: token -> index; tokens are words (characters in a char-level model)
        vocab = root["vocab"]
        tokens = sorted(vocab, key=lambda t: vocab[t])
        return {"project": project, "tokens": [_text(t) for t in tokens], "indices": [int(vocab[t]) for t in tokens]}
    if project == "torch-rnn":
        tokens = model.get("idx_to_token")
        tokens = list(tokens) if isinstance(tokens, list) else [tokens[k] for k in sorted(tokens)] \
            if isinstance(tokens, dict) else []
        return {"project": project, "tokens": [_token(t) for t in tokens],
                **{k: model.get(k) for k in ("model_type", "num_layers", "rnn_size", "wordvec_dim")
                   if isinstance(model.get(k), (int, float, str))}}
    return {}


def table_summary(root: Any, skip: str = "") -> list[str]:
    """One line per top-level entry of a table (``opt: options (24 entries)``), ``skip`` left out."""
    if not isinstance(root, dict):
        return []
    return [f"{k}: {describe_value(v)}" for k, v in sorted(root.items(), key=lambda kv: str(kv[0])) if str(k) != skip]


def describe_value(v: Any) -> str:
    """A model, a vocabulary of N tokens, options, a loss history...: one phrase."""
    if isinstance(v, T7Object):
        n = len(v.children)
        return f"a {v.class_name}" + (f" of {n} modules" if n else "")
    if isinstance(v, dict):
        values = list(v.values())
        if values and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            if all(isinstance(k, (str, bytes)) for k in v) and all(isinstance(x, int) for x in values):
                return f"a vocabulary of {len(v)} tokens"
            return f"a table of {len(v)} numbers"
        if any(isinstance(x, T7Object) for x in values):
            return "a table of " + ", ".join(f"{k} ({x.class_name})" for k, x in v.items() if isinstance(x, T7Object))
        return f"options ({len(v)} entries)"
    if isinstance(v, list):
        if v and all(isinstance(x, (int, float)) for x in v):
            return f"a list of {len(v)} numbers (last {v[-1]:.6g})"
        if v and all(isinstance(x, (str, bytes)) for x in v):
            return f"a list of {len(v)} strings (tokens)"
        return f"a list of {len(v)} values"
    if isinstance(v, np.ndarray):
        return f"a {v.dtype} tensor {'x'.join(map(str, v.shape))}"
    if isinstance(v, (str, bytes)):
        return repr(_text(v)[:60])
    return repr(v)
