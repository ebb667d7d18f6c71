"""Generating text from a converted char-rnn, torch-rnn or Element-Research rnn language model, as each
project's sampler does (rnn: see :func:`_rnnlib`).

char-rnn (karpathy/char-rnn ``sample.lua``): the one-step gModule takes ``{x, state...}`` (per layer
prev_c and prev_h for an LSTM, prev_h otherwise: ``1 x rnn_size`` zeros at the start) and returns
``{next state..., log-probabilities}``. Each byte of the prime text is fed in turn (and echoed); with no
prime the first prediction is uniform. Then ``length`` times: choose a character from the last
prediction (``-sample 0``: the arg-max, the first of equal maxima as Torch7's ``max``; else
``exp(logprobs / temperature)`` renormalised and drawn), feed it, print it.

torch-rnn (jcjohnson/torch-rnn ``LanguageModel:sample``): the whole start text is run at once from zero
states and its last step's scores kept (no start text: uniform scores); then, up to ``length`` tokens
in all (the start text included), the next token is the arg-max of the scores (``sample=0``) or drawn
from ``softmax(scores / temperature)``, and fed alone with the recurrent states remembered.

With sampling on, torch's generator seeded with ``seed`` draws: Torch7's ``torch.multinomial`` stream
cannot be reproduced, so only the arg-max text equals what Torch7 prints. Text is produced a token at
a time (an iterator), decoded as UTF-8 once a character's bytes are complete.
"""
from __future__ import annotations

import codecs
import math
from typing import Any, Iterator

import torch
from torch import fx, nn

from t7convert.common.errors import T7ConvertError


def sample_text(module: nn.Module, info: dict[str, Any], *, primetext: str = "", length: int = 2000,
                sample: bool = True, temperature: float = 1.0, seed: int = 123) -> Iterator[str]:
    """Text as the checkpoint's project samples it (see the module docstring), a piece at a time."""
    checkpoint = info.get("checkpoint") or {}
    project = checkpoint.get("project") if isinstance(checkpoint, dict) else None
    if project not in ("char-rnn", "torch-rnn", "rnn"):
        raise T7ConvertError("not a char-rnn, torch-rnn or rnn language model checkpoint (its converted "
                             "description names no vocabulary): nothing to sample")
    if length < 0 or not 0 < temperature < math.inf:
        raise T7ConvertError("--length must be at least 0 and --temperature a finite number above 0")
    tokens = _checked_tokens(checkpoint, project)
    if project == "rnn":
        yield from _running(_rnnlib(module, tokens, primetext, length, _chooser(
            sample, temperature, torch.Generator().manual_seed(seed), len(tokens))))
        return
    index = {t: i for i, t in enumerate(tokens)}
    prime = primetext.encode("utf-8").decode("latin-1")  # one token per byte, as the samplers split text
    missing = sorted({c for c in prime if c not in index})
    if missing:
        raise T7ConvertError(f"the prime text holds characters the vocabulary lacks: {missing[:10]}")
    generator = torch.Generator().manual_seed(seed)
    choose = _chooser(sample, temperature, generator, len(tokens))
    steps = _charrnn(module, _checked_options(checkpoint, module), prime, index, length, choose) \
        if project == "char-rnn" else _torchrnn(module, prime, index, length, choose)
    steps = _running(steps)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with torch.no_grad():
        for i in steps:
            piece = decoder.decode(tokens[i].encode("latin-1"))
            if piece:
                yield piece
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def _checked_tokens(checkpoint: dict[str, Any], project: str) -> list[str]:
    """The vocabulary a (possibly crafted) converted file stores: 1 to 2^24 strings; for char-rnn and
    torch-rnn, one byte per character (latin-1), as the reader stores them."""
    tokens = checkpoint.get("tokens")
    if not isinstance(tokens, list) or not 1 <= len(tokens) <= 1 << 24 \
            or not all(isinstance(t, str) and len(t) <= 4096 for t in tokens):
        raise T7ConvertError("its checkpoint's vocabulary is not a list of 1 to 16,777,216 tokens")
    if project != "rnn" and not all(max(map(ord, t), default=0) < 256 for t in tokens):
        raise T7ConvertError(f"its {project} vocabulary holds a token that is not bytes (a character past "
                             "latin-1), which t7convert never writes")
    return tokens


def _checked_options(checkpoint: dict[str, Any], module: nn.Module) -> dict[str, Any]:
    """char-rnn's ``num_layers`` and ``rnn_size`` are whole numbers no larger than the weights can back:
    each layer's state is at least one weight tensor, each of ``rnn_size`` values at least one weight."""
    tensors = list(module.parameters())
    weights = sum(t.numel() for t in tensors)
    per_layer = 2 if checkpoint.get("model") == "lstm" else 1
    for key, high in (("num_layers", max(1, len(tensors) // per_layer)), ("rnn_size", max(1, weights))):
        v = checkpoint.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or int(v) != v \
                or not 1 <= v <= high:
            raise T7ConvertError(f"its checkpoint's opt.{key} is {ascii(v)[:40]}, not a whole number from 1 to "
                                 f"{high:,} (what the model's weights can back)")
    return checkpoint


def _running(steps: Iterator[Any]) -> Iterator[Any]:
    """``steps``, with a model that does not run as its checkpoint says (state sizes that do not fit its
    layers) said in one line: the options and the weights come from the file."""
    try:
        yield from steps
    except (RuntimeError, IndexError, ValueError) as e:
        raise T7ConvertError(f"the model does not run as its checkpoint's options say "
                             f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})") from None


def _chooser(sample: bool, temperature: float, generator: torch.Generator, n_tokens: int):
    def choose(scores: torch.Tensor, log_probs: bool) -> int:
        scores = scores.reshape(-1).double()
        if scores.numel() > n_tokens:
            raise T7ConvertError(f"the model scores {scores.numel():,} tokens but the vocabulary has {n_tokens:,}")
        if not sample:
            return int(torch.argmax(scores))  # the first of equal maxima, as Torch7's max
        probs = torch.exp(scores / temperature) if log_probs else torch.softmax(scores / temperature, 0)
        total = probs.sum()
        if not torch.isfinite(probs).all() or not total > 0:
            raise T7ConvertError("the model's scores are not finite numbers (NaN or infinite weights?): "
                                 "there is nothing to draw from")
        return int(torch.multinomial(probs / total, 1, generator=generator))
    return choose


def _charrnn(module: nn.Module, opt: dict[str, Any], prime: str, index: dict[str, int], length: int,
             choose) -> Iterator[int]:
    layers, size = int(opt["num_layers"]), int(opt["rnn_size"])
    per_layer = 2 if opt.get("model") == "lstm" else 1
    dtype = next(module.parameters()).dtype
    state = [torch.zeros(1, size, dtype=dtype) for _ in range(layers * per_layer)]
    prediction = None

    def step(i: int) -> torch.Tensor:
        nonlocal state
        out = module([torch.tensor([i + 1], dtype=dtype), *state])
        state = list(out[:-1])
        return out[-1]

    for c in prime:
        yield index[c]
        prediction = step(index[c])
    for _ in range(length):
        i = 0 if prediction is None else choose(prediction, True)  # no prime: uniform, arg-max is the first
        prediction = step(i)
        yield i


def _torchrnn(module: nn.Module, prime: str, index: dict[str, int], length: int, choose) -> Iterator[int]:
    run = _Stateful(module)
    sampled = [index[c] for c in prime][:length]
    yield from sampled
    scores = run(sampled)[0, -1] if sampled else None
    while len(sampled) < length:
        i = 0 if scores is None else choose(scores, False)
        sampled.append(i)
        yield i
        scores = run([i])[0, -1]


EOS = "<eos>"


def _rnnlib(module: nn.Module, tokens: list[str], primetext: str, length: int, choose) -> Iterator[str]:
    """Element-Research rnn's evaluate-rnnlm.lua ``--nsample`` loop: forget, then feed ``<eos>`` and the
    prime's tokens one at a time as 1 x 1 inputs (the Sequencer remembering its state), then ``length``
    chosen tokens fed back the same way; the prime's and the generated tokens joined by single spaces.
    A character-level vocabulary (every token but ``<eos>`` one character, space written ``_`` as the
    PTB layout does) splits the prime into characters, a word-level one into words."""
    from t7convert.pytorch.families.rnnlib import Sequencer
    index = {t: i for i, t in enumerate(tokens)}
    chars = all(len(t) == 1 for t in tokens if t != EOS)
    words = [("_" if c == " " and "_" in index else c) for c in primetext] if chars else primetext.split()
    missing = sorted({w for w in words if w not in index})
    if missing:
        raise T7ConvertError(f"the prime text holds tokens the vocabulary lacks: {missing[:10]}")
    sequencers = [m for m in module.modules() if isinstance(m, Sequencer)]
    for seq in sequencers:
        seq.forget()
        seq.remembering = True
    dtype = next(module.parameters()).dtype
    try:
        with torch.no_grad():
            def step(i: int) -> torch.Tensor:
                return module(torch.tensor([[i + 1]], dtype=dtype))[-1]
            scores = step(index[EOS]) if EOS in index else None
            for n, w in enumerate(words):
                yield w if n == 0 else " " + w
                scores = step(index[w])
            for n in range(length):
                i = 0 if scores is None else choose(scores, True)
                yield tokens[i] if n == 0 and not words else " " + tokens[i]
                scores = step(i)
    finally:
        for seq in sequencers:
            seq.remembering = False


class _Stateful:
    """Runs a converted chain (a torch.fx graph of single-input nodes) keeping each recurrent layer's
    state between calls, as torch-rnn's ``remember_states`` does."""

    def __init__(self, module: nn.Module) -> None:
        if not isinstance(module, fx.GraphModule):
            raise T7ConvertError("a torch-rnn model converts to a chain of layers; this module is not one")
        self.module = module
        self.states: dict[str, Any] = {}
        self.dtype = next(module.parameters()).dtype

    def __call__(self, ids: list[int]) -> torch.Tensor:
        x: Any = torch.tensor([[i + 1 for i in ids]], dtype=self.dtype)
        for node in self.module.graph.nodes:
            if node.op != "call_module":
                continue
            sub = self.module.get_submodule(node.target)
            if hasattr(sub, "step"):
                x, self.states[node.target] = sub.step(x, self.states.get(node.target))
            else:
                x = sub(x)
        return x
