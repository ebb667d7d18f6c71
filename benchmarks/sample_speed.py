#!/usr/bin/env python3
"""char-rnn at a size people trained: convert + verify time, one-step forward cost, sampling rate.

Builds a char-rnn LSTM checkpoint (``model/LSTM.lua``'s one-step gModule: OneHot, per layer i2h/h2h
Linear, CAddTable, Reshape(4, H), SplitTable(2):split(4), the gates, then Linear + LogSoftMax, in a
``{protos = {rnn}, opt, vocab}`` table, DoubleTensor, 3 layers of 512 by default), then measures:

* ``t7convert.convert`` of it with verification against the reference execution (target: under 5 s);
* the one-step forward of the converted module (batch 1, float64, as ``t7convert sample`` runs it);
* ``t7convert.api.sample`` of 2,000 characters (arg-max), as characters per second.

    python benchmarks/sample_speed.py [--layers 3] [--size 512] [--vocab 65] [--chars 2000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import nngraph_models as ng  # noqa: E402
import torch7_models as tm  # noqa: E402

import t7convert  # noqa: E402
from t7convert import api  # noqa: E402
from t7convert.torch7.format.values import T7List, T7Table  # noqa: E402

M = tm.module


def _linear(n_in: int, n_out: int):
    rng = np.random.default_rng(n_in * 1000 + n_out)
    return M("nn.Linear", weight=rng.uniform(-0.08, 0.08, (n_out, n_in)), bias=rng.uniform(-0.08, 0.08, n_out))


def lstm_cell(v: int, h: int, layers: int):
    g = ng.Graph()
    x = g.input()
    prev = [g.input() for _ in range(2 * layers)]
    below = g.node(M("OneHot", outputSize=v), x)
    outs = []
    for i in range(layers):
        prev_c, prev_h = prev[2 * i], prev[2 * i + 1]
        sums = g.node(M("nn.CAddTable"), g.node(_linear(v if i == 0 else h, 4 * h), below),
                      g.node(_linear(h, 4 * h), prev_h))
        reshaped = g.node(M("nn.Reshape", size=np.array([4, h], np.int64)), sums)
        n1, n2, n3, n4 = g.split(g.node(ng.split_table(2), reshaped), 4)
        in_gate, forget, out_gate = (g.node(M("nn.Sigmoid"), n) for n in (n1, n2, n3))
        transform = g.node(M("nn.Tanh"), n4)
        next_c = g.node(M("nn.CAddTable"), g.node(M("nn.CMulTable"), forget, prev_c),
                        g.node(M("nn.CMulTable"), in_gate, transform))
        next_h = g.node(M("nn.CMulTable"), out_gate, g.node(M("nn.Tanh"), next_c))
        outs += [next_c, next_h]
        below = next_h
    logsoft = g.node(M("nn.LogSoftMax"), g.node(_linear(h, v), below))
    return g.module([x, *prev], [*outs, logsoft])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--chars", type=int, default=2000)
    a = ap.parse_args()
    chars = [chr(32 + i) for i in range(a.vocab)]
    table = T7Table(protos=T7Table(rnn=lstm_cell(a.vocab, a.size, a.layers)),
                    opt=T7Table(model="lstm", num_layers=a.layers, rnn_size=a.size),
                    vocab=T7Table({c: i for i, c in enumerate(chars, 1)}), train_losses=T7List([1.0]))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "lm.t7")
        t7convert.write(src, table)
        file_bytes = os.path.getsize(src)
        start = time.perf_counter()
        report = api.convert(src, os.path.join(tmp, "lm.pth"))
        convert_s = time.perf_counter() - start
        import torch
        module = t7convert.load(os.path.join(tmp, "lm.pth")).double()
        state = [torch.zeros(1, a.size, dtype=torch.float64) for _ in range(2 * a.layers)]
        x = torch.tensor([1.0], dtype=torch.float64)
        with torch.no_grad():
            for _ in range(20):
                module([x, *state])
            start = time.perf_counter()
            for _ in range(200):
                module([x, *state])
        step_ms = (time.perf_counter() - start) / 200 * 1000
        start = time.perf_counter()
        text = "".join(api.sample(os.path.join(tmp, "lm.pth"), primetext=chars[1], length=a.chars, sample=False))
        sample_s = time.perf_counter() - start
    print(json.dumps({"layers": a.layers, "rnn_size": a.size, "vocab": a.vocab, "file_bytes": file_bytes,
                      "parameters": report.converted.parameters,
                      "convert_and_verify_s": round(convert_s, 2), "verified": report.verification.ok,
                      "one_step_forward_ms": round(step_ms, 3), "sampled_chars": len(text) - 1,
                      "chars_per_s": round((len(text) - 1) / sample_s, 1)}, indent=1))


if __name__ == "__main__":
    main()
