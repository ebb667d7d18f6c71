"""Does ``evaluate`` keep up with the model? Its end-to-end rate against the model's pure forward rate.

In one run, on synthetic ImageNet-sized photos (500x375 JPEGs, quality 90, made here in the flat
ILSVRC2012 layout so a 1000-class model has labels):

1. the model's forward pass alone, on random batches already on the device, at the chosen
   precision, batch size and memory format;
2. ``evaluate`` end to end with ``--resize-on cpu`` (the exact transform in the DataLoader workers);
3. ``evaluate`` end to end with ``--resize-on device`` (workers only decode; resize on the device);

and the ratios (2)/(1) and (3)/(1). The goal is (3)/(1) >= 0.9 on a GPU machine.

    .venv/bin/python benchmarks/evaluate_speed.py                              # CPU: a small model, 48 images
    .venv/bin/python benchmarks/evaluate_speed.py --model resnet50.pth --device cuda --images 4096 \\
        --batch-size 256 --amp bf16
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import t7convert
from t7convert.imagenet.evaluate import evaluate, resolve_amp, resolve_device


class SmallNet(torch.nn.Module):
    """A stand-in where no real model is given: a few convolutions, 1000 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 7, stride=4, padding=3), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def make_photos(folder: Path, count: int) -> None:
    """``count`` noisy 500x375 JPEGs named as ILSVRC2012 validation images (their labels are known)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
    for k in range(1, count + 1):
        shifted = np.roll(base, k * 7, axis=1)  # different pixels, same decoding cost
        Image.fromarray(shifted).save(folder / f"ILSVRC2012_val_{k:08d}.JPEG", quality=90)


def forward_rate(model: torch.nn.Module, device: torch.device, batch_size: int, amp: str | None,
                 channels_last: bool, seconds: float) -> float:
    """Images/s of the model alone on a device-resident random batch (TF32 off unless amp, as evaluate)."""
    model = model.to(device).eval()
    x = torch.randn(batch_size, 3, 224, 224, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    if amp is None:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32,
                                                    enabled=dtype is not None):
            def run(n: int) -> float:
                start = time.perf_counter()
                for _ in range(n):
                    model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                return time.perf_counter() - start
            run(3)  # warm-up: cudnn autotuning, allocator
            took = run(1)
            iterations = max(3, int(seconds / max(took, 1e-6)))
            return iterations * batch_size / run(iterations)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="converted model or .t7 (default: a small stand-in)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
    parser.add_argument("--images", type=int, help="synthetic photos [48 on CPU, 4096 on CUDA]")
    parser.add_argument("--batch-size", type=int, help="[16 on CPU, 256 on CUDA]")
    parser.add_argument("--amp", choices=["bf16", "fp16"])
    parser.add_argument("--workers", type=int, help="DataLoader workers [min(16, CPUs)]")
    parser.add_argument("--forward-seconds", type=float, default=5.0)
    parser.add_argument("--data", type=Path, help="reuse a folder of photos instead of making them")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    count = args.images or (4096 if cuda else 48)
    batch_size = args.batch_size or (256 if cuda else 16)
    amp = resolve_amp(args.amp, device)
    model = t7convert.load(str(args.model)) if args.model else SmallNet()
    name = args.model.name if args.model else "SmallNet (stand-in)"
    machine = torch.cuda.get_device_name(device) if cuda else f"CPU, {os.cpu_count()} cores"
    print(f"{name} on {machine}: batch {batch_size}, {amp or 'float32 (no TF32)'}, channels_last {cuda}, "
          f"{count} photos 500x375")

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp)
            make_photos(data, count)
        pure = forward_rate(model, device, batch_size, amp, cuda, args.forward_seconds)
        rates = {}
        for where in ("cpu", "device"):
            result = evaluate(model, data, device=str(device), batch_size=batch_size, workers=args.workers,
                              amp=amp, resize_on=where)
            rates[where] = result.images_per_second
    print(f"(1) model forward alone        {pure:10.1f} images/s")
    for i, where in enumerate(("cpu", "device"), start=2):
        print(f"({i}) evaluate, resize on {where:6} {rates[where]:10.1f} images/s   "
              f"ratio ({i})/(1) = {rates[where] / pure:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
