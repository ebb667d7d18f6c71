"""Where the model is inside what a ``.t7`` checkpoint holds.

fb.resnet.torch saves the model itself; other code saved tables such as ``{model=..., optimState=...}``
or wrapped the model in a DataParallelTable. Conversion, parity and inspection all start from the same
module found here, so that their Torch7 paths (``modules[5].modules[2]``) agree.
"""
from __future__ import annotations

import os
import re
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
    ``others``: one line per other top-level entry of the table. ``convention``: the layout that
    matched, in words (``seq2seq-attn's layout: {{encoder, decoder, generator}, opt}``, or "the
    general rule: ..." for a table entry named like a model), None for a file that is a model or a
    ``--key`` outside any layout. ``name``: the model's name in that layout (``decoder``).
    ``choices``: every model the file holds, as (name for --key, dotted path, module), the layout's
    own models first, each module once.
    """

    model: T7Object
    where: str = ""
    project: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    convention: str | None = None
    name: str | None = None
    choices: list[tuple[str, str, T7Object]] = field(default_factory=list)
    default: str | None = None  # the path convert takes without --key (None: it takes none)

    def alternatives(self) -> list[tuple[str, str, T7Object]]:
        """The file's models other than the one taken (what ``--key`` can choose instead)."""
        return [c for c in self.choices if c[2] is not self.model and unwrap_quietly(c[2]) is not self.model]


@dataclass(frozen=True)
class Layout:
    """How one training project saved its models: recognised by the entries its save code writes.

    ``models``: (name, dotted path) of each model it saves, in the project's order; ``main``: the name
    convert takes without ``--key``: the model that makes the project's output (a GAN's generator, an
    encoder-decoder's decoder, a captioner's language model, an agent's online Q network).
    """

    project: str
    convention: str
    models: tuple[tuple[str, str], ...]
    main: str

    def path_of(self, name: str) -> str | None:
        return next((path for n, path in self.models if n == name), None)


def find_model(root: Any, key: str | None = None) -> tuple[T7Object, str]:
    """(the model, where it was: "" for the root, else the table key) with wrappers unwrapped."""
    found = locate(root, key)
    return found.model, found.where


def locate(root: Any, key: str | None = None, *, source: str | None = None) -> Located:
    """The model of a file: the entry at ``key`` (a model's name in the recognised layout, or a dotted
    path) when given, else the main model of a recognised checkpoint layout (see :func:`layout_of`),
    else a table entry named like a model, else the only module. ``source``: the file's name, which
    names the layout of projects that saved each model alone (``*_net_G.t7``)."""
    layout = layout_of(root, source)
    name: str | None = None
    if key:
        path = layout.path_of(key) if layout else None
        name, where = (key, path) if path else (None, key)
        try:
            model = _at(root, where)
        except T7ConvertError as e:
            held = choices(root, layout)
            if not held:
                raise
            listed = ", ".join(_choice_words(c) for c in held[:12]) + (", ..." if len(held) > 12 else "")
            raise T7ConvertError(f"{e}; the file's models: {listed}") from None
        project = layout.project if layout and (name or any(p == where for _, p in layout.models)) else None
    elif layout and layout.path_of(layout.main) is not None and _at_quietly(root, layout.path_of(layout.main)):
        name, where, project = layout.main, layout.path_of(layout.main) or "", layout.project
        model = _at(root, where)
    else:
        model, where, project = _find(root)
    if layout and name is None:
        name = next((n for n, p in layout.models if p == where), None)
    inner = unwrap(model)
    if inner is not model:
        where = (where + " " if where else "") + "(inside its DataParallelTable)"
    found = Located(inner, where, project, others=table_summary(root, skip=where.split(".")[0]),
                    convention=layout.convention if layout and project == layout.project else None, name=name,
                    choices=choices(root, layout), default=where.split(" (inside")[0] if not key else None)
    if key:
        found.default = _default(root, layout)
    if found.convention is None and project:
        found.convention = _GENERAL.get(project)
    base = where.split(" (inside")[0]
    if found.convention is None and base and not key:
        found.convention = (f"the general rule: the table's entry named {base}" if base in _MODEL_KEYS
                            else "the general rule: the first entry of the file's list" if base == "[1]"
                            else f"the general rule: the only module in the file's table ({base})")
    found.extras = _extras(root, inner, project)
    return found


def _default(root: Any, layout: Layout | None) -> str | None:
    """The path ``locate`` takes without a key, or None where it would take none."""
    main = layout.path_of(layout.main) if layout else None
    if main is not None and _at_quietly(root, main):
        return main
    try:
        return _find(root)[1]
    except T7ConvertError:
        return None


def unwrap_quietly(model: T7Object) -> T7Object:
    """``unwrap`` for listing: a wrapper chain that ``unwrap`` refuses is listed as it is."""
    try:
        return unwrap(model)
    except T7ConvertError:
        return model


def _at_quietly(root: Any, path: str | None) -> bool:
    """Whether a module is at ``path`` (a layout names models a checkpoint may lack: dqn's best_model)."""
    if not path:
        return is_module(root)
    try:
        return is_module(_at(root, path))
    except T7ConvertError:
        return False


def choices(root: Any, layout: Layout | None = None) -> list[tuple[str, str, T7Object]]:
    """Every model the file holds, as (name for --key, dotted path, module): the layout's models under
    their names first, then every other module up to two keys down under its path; a module held
    at several places (dqn's ``model`` is ``agent.network``) is listed once, at its first place."""
    out: list[tuple[str, str, T7Object]] = []
    seen: set[int] = set()
    for name, path in layout.models if layout else ():
        if _at_quietly(root, path):
            m = _at(root, path)
            if id(m) not in seen:
                seen.add(id(m))
                out.append((name, path, m))
    for path, m in models_in(root):
        if id(m) not in seen:
            seen.add(id(m))
            out.append((path or "<root>", path, m))
    return out


def _choice_words(c: tuple[str, str, T7Object]) -> str:
    name, path, m = c
    return f"{name} ({m.class_name})" if name == path or not path else f"{name} ({path}, {m.class_name})"


# The conventions of the general rules, in the summary's words
_GENERAL = {
    "char-rnn": "char-rnn's layout: {protos = {rnn = ...}, vocab = {char = index}, opt, ...}",
    "torch-rnn": "torch-rnn's layout: {model = nn.LanguageModel, ...}",
    "rnn": "Element-Research rnn's xplog: {model, vocab, opt, dataset, ...}",
}


def layout_of(root: Any, source: str | None = None) -> Layout | None:
    """The checkpoint layout of a training project that ``root`` matches, each recognised by what that
    project's save code writes (read from its Lua sources), or None.

    - seq2seq-attn (harvardnlp, train.lua): ``torch.save(f, {{encoder, decoder, generator}, opt})``,
      with ``encoder_bwd`` fourth when ``opt.brnn == 1``; beam.lua reads ``checkpoint[1]`` back in
      that order. Main: the decoder.
    - lstm-char-cnn (yoonkim, main.lua): ``{protos = {rnn, criterion}, opt, vocab = {idx2word,
      word2idx, idx2char, char2idx}, ...}``; evaluate.lua unpacks the vocab list and reads
      ``opt.rnn_size``. Main: protos.rnn.
    - deepmind dqn (train_agent.lua): ``{agent, model = agent.network, best_model =
      agent.best_network, reward_history, ..., arguments}``; NeuralQLearner loads ``best_model`` only
      with -best, else ``model``. Main: model.
    - neuraltalk2 (train.lua): ``{protos = {lm, cnn}, vocab, opt, iter, ...}``. Main: protos.lm.
    - char-rnn (train.lua): ``{protos = {rnn, criterion}, vocab = {char = index}, opt, ...}``.
    - CycleGAN: ``netG_A``, ``netG_B``, ``netD_A``, ``netD_B`` (each saved alone as
      ``*_net_G_A.t7``..., or kept in one table). Main: netG_A.
    - dcgan.torch / pix2pix: ``netG``, ``netD`` (each saved alone as ``*_net_G.t7`` / ``*_net_D.t7``,
      or kept in one table). Main: netG.
    """
    if is_module(root):
        return _alone(source)
    if isinstance(root, list) and len(root) >= 2 and isinstance(root[0], list) and isinstance(root[1], dict):
        mods = root[0]
        if len(mods) >= 3 and all(is_module(m) for m in mods[:3]):
            names = ["encoder", "decoder", "generator"]
            if len(mods) >= 4 and root[1].get("brnn") == 1 and is_module(mods[3]):
                names.append("encoder_bwd")
            brnn = ", encoder_bwd" if len(names) == 4 else ""
            return Layout("seq2seq-attn", f"seq2seq-attn's layout: {{{{encoder, decoder, generator{brnn}}}, opt}}",
                          tuple((n, f"1.{i}") for i, n in enumerate(names, 1)), "decoder")
        return None
    if not isinstance(root, dict):
        return None
    protos, vocab, opt = root.get("protos"), root.get("vocab"), root.get("opt")
    if isinstance(protos, dict) and is_module(protos.get("rnn")) and _is_charcnn_vocab(vocab) \
            and isinstance(opt, dict) and "rnn_size" in opt:
        return Layout("lstm-char-cnn", "lstm-char-cnn's layout: {protos = {rnn = ...}, "
                      "vocab = {idx2word, word2idx, idx2char, char2idx}, opt (rnn_size), ...}",
                      (("rnn", "protos.rnn"),), "rnn")
    agent = root.get("agent")
    if is_module(root.get("model")) and isinstance(agent, T7Object) and not is_module(agent) \
            and isinstance(agent.fields, dict):
        return Layout("dqn", "deepmind dqn's agent checkpoint: {agent, model = agent.network, "
                      "best_model = agent.best_network, ...}",
                      (("model", "model"), ("best_model", "best_model"), ("network", "agent.network"),
                       ("best_network", "agent.best_network"), ("target_network", "agent.target_network")),
                      "model")
    if isinstance(protos, dict) and "rnn" not in protos and (is_module(protos.get("lm")) or is_module(protos.get("cnn"))):
        return Layout("neuraltalk2", "neuraltalk2's layout: {protos = {lm, cnn}, vocab, opt, ...}",
                      (("lm", "protos.lm"), ("cnn", "protos.cnn")),
                      "lm" if is_module(protos.get("lm")) else "cnn")
    if any(is_module(root.get(k)) for k in _CYCLEGAN):
        return Layout("CycleGAN", "CycleGAN's layout: {netG_A, netG_B, netD_A, netD_B}",
                      tuple((k, k) for k in _CYCLEGAN), "netG_A")
    if is_module(root.get("netG")) or is_module(root.get("netD")):
        return Layout("dcgan", "dcgan.torch / pix2pix's layout: {netG, netD}", (("netG", "netG"), ("netD", "netD")),
                      "netG" if is_module(root.get("netG")) else "netD")
    return None


_CYCLEGAN = ("netG_A", "netG_B", "netD_A", "netD_B")
_ALONE = re.compile(r"_net_([GD])(?:_([AB]))?\.t7$")


def _alone(source: str | None) -> Layout | None:
    """A model saved alone under its project's file name: dcgan.torch and pix2pix write
    ``<name>_<epoch>_net_G.t7`` / ``_net_D.t7``, CycleGAN ``<epoch>_net_G_A.t7`` ... ``_net_D_B.t7``."""
    match = _ALONE.search(os.path.basename(source or ""))
    if not match:
        return None
    role = "generator" if match.group(1) == "G" else "discriminator"
    if match.group(2):
        name = f"net{match.group(1)}_{match.group(2)}"
        return Layout("CycleGAN", f"CycleGAN's layout: the {role} {name} saved alone (*_net_{match.group(1)}_"
                      f"{match.group(2)}.t7)", ((name, ""),), name)
    name = f"net{match.group(1)}"
    return Layout("dcgan", f"dcgan.torch / pix2pix's layout: the {role} {name} saved alone "
                  f"(*_net_{match.group(1)}.t7)", ((name, ""),), name)


def _is_charcnn_vocab(vocab: Any) -> bool:
    """lstm-char-cnn's ``{idx2word, word2idx, idx2char, char2idx}``: a list of four tables, the
    second and fourth mapping tokens to indices."""
    if not (isinstance(vocab, list) and len(vocab) == 4):
        return False
    return all(isinstance(v, (list, dict)) for v in vocab) and isinstance(vocab[1], dict) and isinstance(vocab[3], dict)


def _at(root: Any, key: str) -> T7Object:
    """The entry at a dotted path (``protos.rnn``; a number indexes a Lua list from 1)."""
    value, walked = root, []
    if key == "":
        if not isinstance(root, T7Object):
            raise T7ConvertError(f"the file holds a {type(root).__name__}, not a Torch7 module")
        return root
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
            keys = ", ".join(sorted(str(k) for k in value)[:20]) if isinstance(value, dict) else \
                f"1..{len(value)}" if isinstance(value, list) and value else "none"
            raise T7ConvertError(f"--key {key}: the file has no entry {here} (keys there: {keys})")
    if not isinstance(value, T7Object):
        raise T7ConvertError(f"--key {key}: the entry is {in_torch7_words(value)}, not a Torch7 module")
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
            # karpathy/char-rnn's train.lua: vocab maps each character to its index
            return protos["rnn"], "protos.rnn", "char-rnn" if not isinstance(root.get("vocab"), list) else None
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
    if project == "lstm-char-cnn":  # evaluate.lua: idx2word, word2idx, idx2char, char2idx = unpack(vocab)
        opt = root["opt"]
        words, chars = (_in_order(v) for v in (root["vocab"][0], root["vocab"][2]))
        return {"project": project, "words": words, "chars": chars,
                **{k: opt.get(k) for k in ("rnn_size", "num_layers", "use_chars", "use_words", "max_word_l",
                                           "word_vec_size", "char_vec_size")
                   if isinstance(opt.get(k), (int, float, str))}}
    if project == "neuraltalk2":  # loader:getVocab(): ix_to_word, index (a string from the JSON) -> word
        vocab = root.get("vocab") if isinstance(root.get("vocab"), dict) else {}
        return {"project": project, "words": _in_order(vocab)}
    if project == "seq2seq-attn":  # the vocabularies are separate files (*.src.dict, *.targ.dict)
        opt = root[1]
        return {"project": project, **{k: opt.get(k) for k in ("num_layers", "rnn_size", "word_vec_size", "brnn",
                                                                "input_feed", "attn", "use_chars_enc")
                                       if isinstance(opt.get(k), (int, float, str))}}
    return {"project": project} if project else {}


def _in_order(table: Any) -> list[str]:
    """A Lua list of tokens, or a table index -> token (keys numbers or their strings), in index order."""
    if isinstance(table, list):
        return [_text(t) for t in table]
    if not isinstance(table, dict):
        return []
    def index(k: Any) -> float:
        try:
            return float(_text(k))
        except ValueError:
            return float("inf")
    return [_text(table[k]) for k in sorted(table, key=index)]


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
