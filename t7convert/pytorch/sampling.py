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
from typing import Any, Iterator

import torch
from torch import fx, nn

from t7convert.common.errors import T7ConvertError


def sample_text(module: nn.Module, info: dict[str, Any], *, primetext: str = "", length: int = 2000,
                sample: bool = True, temperature: float = 1.0, seed: int = 123) -> Iterator[str]:
    """Text as the checkpoint's project samples it (see the module docstring), a piece at a time."""
    checkpoint = info.get("checkpoint") or {}
    project = checkpoint.get("project")
    if project == "rnn":
        yield from _rnnlib(module, checkpoint["tokens"], primetext, length, _chooser(
            sample, temperature, torch.Generator().manual_seed(seed)))
        return
    if project not in ("char-rnn", "torch-rnn"):
        raise T7ConvertError("not a char-rnn, torch-rnn or rnn language model checkpoint (its converted "
                             "description names no vocabulary): nothing to sample")
    if length < 0 or temperature <= 0:
        raise T7ConvertError("--length must be at least 0 and --temperature above 0")
    tokens = list(checkpoint["tokens"])
    index = {t: i for i, t in enumerate(tokens)}
    prime = primetext.encode("utf-8").decode("latin-1")  # one token per byte, as the samplers split text
    missing = sorted({c for c in prime if c not in index})
    if missing:
        raise T7ConvertError(f"the prime text holds characters the vocabulary lacks: {missing[:10]}")
    generator = torch.Generator().manual_seed(seed)
    choose = _chooser(sample, temperature, generator)
    steps = _charrnn(module, checkpoint, prime, index, length, choose) if project == "char-rnn" \
        else _torchrnn(module, prime, index, length, choose)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with torch.no_grad():
        for i in steps:
            piece = decoder.decode(tokens[i].encode("latin-1"))
            if piece:
                yield piece
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def _chooser(sample: bool, temperature: float, generator: torch.Generator):
    def choose(scores: torch.Tensor, log_probs: bool) -> int:
        scores = scores.reshape(-1).double()
        if not sample:
            return int(torch.argmax(scores))  # the first of equal maxima, as Torch7's max
        probs = torch.exp(scores / temperature) if log_probs else torch.softmax(scores / temperature, 0)
        return int(torch.multinomial(probs / probs.sum(), 1, generator=generator))
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
