#!/usr/bin/env python3
"""How long a full-size parity run takes, and how much memory it holds.

Synthesizes a full-size resnext_101_64x4d (83,455,272 parameters, the 669 MB file users hold: one
flattened FloatStorage of weights plus one of gradWeights, as fb.resnet.torch saves) unless ``--file``
is given, then runs ``t7convert parity FILE [--batch N]`` in a fresh process: conversion on the fly,
the converted model and the float64 reference execution on one seeded random 224x224 input, every
top-level stage and residual block compared. Reports wall time, the command's own phase times and the
process's peak resident memory, next to the size of the weights (the target: near one copy of the
weights plus activations).

    python benchmarks/parity_full_size.py [--file model.t7] [--batch 1] [--arch resnext_101_64x4d]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", help="an existing .t7 model (default: synthesize --arch)")
    ap.add_argument("--arch", default="resnext_101_64x4d")
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="t7parity-") as tmp:
        path = args.file
        if path is None:
            from t7convert.torch7.synth import synthesize_file
            path = os.path.join(tmp, f"{args.arch}.t7")
            start = time.perf_counter()
            params = synthesize_file(args.arch, path)
            print(f"synthesized {args.arch}: {params:,} parameters, {os.path.getsize(path) / 1e6:.0f} MB "
                  f"in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        cmd = [sys.executable, "-c", "from t7convert.cli import main; main()", "parity", path,
               "--batch", str(args.batch), "--json"]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if done.returncode not in (0, 1):
        sys.exit(f"parity failed to run (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    facts = json.loads(done.stdout)
    (report,) = facts["comparisons"]
    weights_mb = (params if args.file is None else float("nan")) * 4 / 1e6
    print(json.dumps({
        "model": args.file or args.arch, "batch": args.batch, "cpus": os.cpu_count(), "exit": done.returncode,
        "wall_s": round(wall, 1), "phases_s": facts["seconds"], "peak_rss_mb": round(peak_mb),
        "weights_mb": round(weights_mb) if weights_mb == weights_mb else None,
        "stages_compared": len(report["stages"]), "worst_rel": max(s["max_rel"] for s in report["stages"]),
        "output_rel": report["output"]["max_rel"], "ok": facts["ok"],
    }, indent=1))


if __name__ == "__main__":
    main()
