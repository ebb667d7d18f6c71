"""t7convert's reader against torchfile 0.1.0 on a full-size, fb.resnet.torch-style checkpoint.

Synthesizes (once, with t7convert.write, in /tmp by default, never in the repository) a checkpoint laid
out like the released resnext_101_64x4d: ~83.5M float32 parameters flattened by getParameters() into ONE
FloatStorage that ~1000 weight and bias tensors view with offsets, and a second storage of the same size
viewed by their gradWeight/gradBias (about 668 MB). Then each scenario runs in a fresh Python process and
reports its wall time and peak RSS (VmHWM), and the anonymous and file-backed resident memory at the end:

* t7convert.read                 -- parse only: no storage byte is read (the file is memory-mapped)
* t7convert.read + weights       -- then touch every weight and bias (a sum over each), as a converter does
* t7convert.read + everything    -- touch the gradients too, for contrast
* torchfile.load (+ weights)     -- torchfile 0.1.0: reads every storage into memory (np.fromfile)

Pages of a memory-mapped file that were touched count in RSS as *file-backed* memory: the kernel can
drop them at any time, unlike the anonymous memory torchfile allocates. Every scenario runs twice over:
with the file in the page cache (parsing compared) and with this file's pages evicted before each run
(posix_fadvise DONTNEED on the benchmark file only: what reading from the disk costs).

    python benchmarks/reader_vs_torchfile.py [--path /tmp/x.t7] [--params 83455272] [--tensors 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

DEFAULT_PATH = "/tmp/t7convert-bench/resnext101_like.t7"
RESNEXT101_PARAMS = 83_455_272


def synthesize(path: str, params: int, tensors: int, seed: int = 0) -> None:
    """Write the checkpoint: an nn.Sequential of conv + batch-norm modules over two flat storages."""
    import numpy as np

    from t7convert.torch7.format import T7Object, T7Table, write

    rng = np.random.default_rng(seed)
    flat = np.empty(params, np.float32)
    for start in range(0, params, 1 << 24):  # random weights, in chunks (no float64 temporaries)
        stop = min(params, start + (1 << 24))
        flat[start:stop] = rng.standard_normal(stop - start, dtype=np.float32)
    grad = np.zeros(params, np.float32)
    grad[::97] = 1e-3  # not all zeros, so nothing could be special-cased

    # Conv weights (no bias, as in the released models) and batch-norm weight + bias, in the proportions
    # of a ResNeXt, scaled so that `tensors` weights and biases use all `params` elements.
    n_blocks = tensors // 3
    conv_size = (params - n_blocks * 2 * 256) // n_blocks // 256 * 256
    modules, offset = [], 0

    def view(a, n, shape):
        return a[offset:offset + n].reshape(shape)
    for i in range(n_blocks):
        n = conv_size if i < n_blocks - 1 else params - offset - 2 * 256
        out_planes = 256
        shape = (out_planes, n // out_planes, 1, 1) if n % out_planes == 0 else (n,)
        modules.append(T7Object("nn.SpatialConvolution", 1, T7Table(
            weight=view(flat, n, shape), gradWeight=view(grad, n, shape), nInputPlane=shape[1] if len(shape) > 1 else 1,
            nOutputPlane=out_planes, kW=1, kH=1, dW=1, dH=1, padW=0, padH=0, train=False)))
        offset += n
        bn = T7Table(weight=view(flat, 256, (256,)), gradWeight=view(grad, 256, (256,)))
        offset += 256
        bn.update(bias=view(flat, 256, (256,)), gradBias=view(grad, 256, (256,)),
                  running_mean=np.zeros(256, np.float32), running_var=np.ones(256, np.float32), eps=1e-5,
                  momentum=0.1, affine=True, train=False)
        offset += 256
        modules.append(T7Object("nn.SpatialBatchNormalization", 1, bn))
        modules.append(T7Object("nn.ReLU", 1, T7Table(inplace=True, train=False, threshold=0, val=0)))
    assert offset == params, (offset, params)
    model = T7Object("nn.Sequential", 1, T7Table(modules=modules, train=False))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write(path, model)


# --- the scenarios, each run by a fresh interpreter ------------------------------------------------------

def _status() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0]) / 1024  # MiB
    return out


def _weights(modules, get):
    for m in modules:
        for name in ("weight", "bias"):
            w = get(m, name)
            if w is not None:
                yield w


def _grads(modules, get):
    for m in modules:
        for name in ("gradWeight", "gradBias"):
            w = get(m, name)
            if w is not None:
                yield w


def child(scenario: str, path: str) -> None:
    import numpy as np
    if scenario.startswith("t7convert"):
        import t7convert
    else:
        import torchfile
    base = _status()
    t = time.perf_counter()  # the imports are not timed: process_s has them
    result: dict = {"scenario": scenario}
    try:
        if scenario.startswith("t7convert"):
            model = t7convert.read(path)
            modules = model.modules
            get = (lambda m, k: m.get(k))
        else:
            model = torchfile.load(path)
            modules = model[b"modules"] if isinstance(model, dict) else model.modules
            get = (lambda m, k: m._obj.get(k.encode()) if hasattr(m, "_obj") else m.get(k.encode()))
        parsed = time.perf_counter() - t
        total, count = 0.0, 0
        if scenario != "t7convert.read":
            for w in _weights(modules, get):
                total += float(np.add.reduce(w, axis=None, dtype=np.float64))
                count += 1
        if scenario == "t7convert.read + everything":
            for g in _grads(modules, get):
                total += float(np.add.reduce(g, axis=None, dtype=np.float64))
        result.update(ok=True, parse_s=parsed, touched=count, checksum=total)
    except BaseException as e:  # noqa: BLE001 - report whatever torchfile does
        result.update(ok=False, error=f"{type(e).__name__}: {str(e)[:200]}")
    result["wall_s"] = time.perf_counter() - t
    end = _status()
    result.update(peak_rss_mib=end["VmHWM"], anon_mib=end["RssAnon"], file_mib=end["RssFile"],
                  baseline_rss_mib=base["VmHWM"])
    print(json.dumps(result))


SCENARIOS = ["t7convert.read", "t7convert.read + weights", "t7convert.read + everything", "torchfile.load + weights"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--path", default=DEFAULT_PATH)
    ap.add_argument("--params", type=int, default=RESNEXT101_PARAMS)
    ap.add_argument("--tensors", type=int, default=1000, help="weight and bias tensors (about)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per scenario (the median run is shown)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.path)
        return
    if not os.path.exists(args.path):
        t = time.perf_counter()
        synthesize(args.path, args.params, args.tensors)
        print(f"wrote {args.path}: {os.path.getsize(args.path) / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s")
    size = os.path.getsize(args.path)
    print(f"file: {args.path}, {size:,} bytes ({size / 2**20:.0f} MiB); python {sys.version.split()[0]}")
    _list_of_tensors(os.path.dirname(os.path.abspath(args.path)))
    for cold in (False, True):
        print()
        print("page cache: " + ("COLD (the file's pages evicted before every run: posix_fadvise DONTNEED)" if cold
                                else "warm (the file is in the page cache)"))
        _table(args, cold)


def _list_of_tensors(directory: str) -> None:
    """torchfile 0.1.0 and a table that is a list of tensors (a model's ``gradInput``, a ConcatTable's
    ``output``): its list heuristic compares each tensor with ``==`` and fails."""
    import numpy as np

    import t7convert
    path = os.path.join(directory, "list_of_tensors.t7")
    t7convert.write(path, [np.ones(3, np.float32), np.zeros(2, np.float32)])
    code = "import sys, torchfile; print(torchfile.load(sys.argv[1]))"
    p = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True)
    last = (p.stderr.strip().splitlines() or ["?"])[-1]
    print(f"a list of two tensors: t7convert.read -> {len(t7convert.read(path))} arrays; torchfile.load -> "
          + ("ok" if p.returncode == 0 else f"FAILS: {last}"))
    os.unlink(path)


def _evict(path: str) -> None:
    """Drop this file's pages (only this file's) from the page cache, so that a run reads from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _table(args, cold: bool) -> None:
    rows = []
    for scenario in SCENARIOS:
        runs = []
        for _ in range(args.repeat):
            if cold:
                _evict(args.path)
            t = time.perf_counter()
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", scenario, "--path", args.path],
                               capture_output=True, text=True)
            wall = time.perf_counter() - t
            try:
                r = json.loads(p.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                r = {"scenario": scenario, "ok": False, "error": f"exit {p.returncode}: {p.stderr.strip()[-200:]}",
                     "wall_s": float("nan"), "peak_rss_mib": float("nan"), "anon_mib": float("nan"),
                     "file_mib": float("nan")}
            r["process_s"] = wall
            runs.append(r)
        ok = sorted((r for r in runs if r.get("ok")), key=lambda r: r["wall_s"])
        rows.append(ok[(len(ok) - 1) // 2] if ok else runs[-1])  # the median run
    print(f"{'scenario':30} {'wall s':>8} {'process s':>10} {'peak RSS MiB':>13} {'anon MiB':>9} {'file MiB':>9}  "
          "tensors touched")
    for r in rows:
        extra = f"{r.get('touched', '')}" if r.get("ok") else f"FAILED: {r.get('error')}"
        print(f"{r['scenario']:30} {r['wall_s']:8.2f} {r['process_s']:10.2f} {r['peak_rss_mib']:13.0f} "
              f"{r['anon_mib']:9.0f} {r['file_mib']:9.0f}  {extra}")
    sums = {round(r["checksum"], 1) for r in rows if r.get("ok") and r["scenario"].endswith("weights")}
    print("weight checksums agree" if len(sums) == 1 else f"weight checksums differ: {sums}")


if __name__ == "__main__":
    main()
