#!/usr/bin/env python3
"""Conversion speed and memory against a floor, measured side by side in one run.

Converts a synthesized full-size resnext_101_64x4d (669 MB: weights + gradWeights, one flattened
storage, as fb.resnet.torch saves) with ``t7convert FILE -o OUT --no-verify`` and compares it with

* the floor: a Python process that imports torch and saves 83,455,272 float32 values, the least any
  converter must do;
* the same conversion through the Python API, which ends with the interpreter's teardown of torch
  (about 0.4 s here) as the floor does; the command line skips it once its output is in place;
* optionally (``--torchfile``, needs ``pip install torchfile``) the naive way: torchfile.load, then
  torch.save of every weight.

Runs are interleaved (floor, convert, floor, convert...) so that machine noise hits both; the ratios of
medians are the figures. Targets: wall time and peak RSS at most 1.15x the floor's.

    python benchmarks/convert_speed.py [--runs 3] [--torchfile] [--arch resnext_101_64x4d]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

NAIVE = r"""
import sys, numpy as np, torch, torchfile
m = torchfile.load(sys.argv[1])
sd = {}
def walk(mod, prefix):
    for k in (b'weight', b'bias', b'running_mean', b'running_var'):
        v = mod._obj.get(k) if hasattr(mod, '_obj') else None
        if isinstance(v, np.ndarray):
            sd[prefix + k.decode()] = torch.from_numpy(np.ascontiguousarray(v))
    for i, c in enumerate((mod._obj.get(b'modules') or []) if hasattr(mod, '_obj') else []):
        walk(c, f'{prefix}{i}.')
walk(m, '')
torch.save(sd, sys.argv[2])
"""


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execv(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="resnext_101_64x4d")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--torchfile", action="store_true", help="also measure torchfile.load + torch.save")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()

    work = args.workdir or tempfile.mkdtemp(prefix="t7convert-bench-")
    t7convert = shutil.which("t7convert") or os.path.join(os.path.dirname(sys.executable), "t7convert")
    src = os.path.join(work, f"{args.arch}.t7")
    if not os.path.exists(src):
        subprocess.run([t7convert, "synth", args.arch, "-o", src], check=True)
    info = subprocess.run([t7convert, "inspect", "--json", src], check=True, capture_output=True, text=True)
    n = json.loads(info.stdout)["parameters"]  # the floor saves as many float32 values
    floor = [sys.executable, "-c", f"import torch; torch.save({{'w': torch.ones({n})}}, '{work}/floor.pth')"]
    ours = [t7convert, src, "-o", f"{work}/out.pth", "--force", "--no-verify"]
    # the same work through the Python API, paying the interpreter's teardown like the floor does
    api = [sys.executable, "-c", "import sys, t7convert; t7convert.convert(sys.argv[1], sys.argv[2], verify=False, "
           "force=True)", src, f"{work}/api.pth"]
    naive = [sys.executable, "-c", NAIVE, src, f"{work}/naive.pth"]
    candidates = {"t7convert": ours, "api+teardown": api} | ({"torchfile+save": naive} if args.torchfile else {})

    run(floor)  # warm the page cache and the interpreter's files
    for cmd in candidates.values():
        run(cmd)
    results: dict[str, list[tuple[float, float]]] = {"floor": []} | {k: [] for k in candidates}
    for _ in range(args.runs):
        for name, cmd in candidates.items():
            results[name].append(run(cmd))
            results["floor"].append(run(floor))
    print(f"{args.arch}: {os.path.getsize(src):,} bytes, {n:,} parameters, {args.runs} interleaved runs")
    fw = statistics.median(r[0] for r in results["floor"])
    fm = statistics.median(r[1] for r in results["floor"])
    print(f"  {'floor':16s} wall {fw:6.2f} s   peak RSS {fm:7.0f} MiB")
    for name in candidates:
        w = statistics.median(r[0] for r in results[name])
        m = statistics.median(r[1] for r in results[name])
        print(f"  {name:16s} wall {w:6.2f} s   peak RSS {m:7.0f} MiB   ratio wall {w / fw:.2f}x, RSS {m / fm:.2f}x")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
