"""How fast the exact Torch7 preprocessing is, per image and per CPU thread, against PIL's resize.

Evaluation feeds the GPU from DataLoader workers, one thread each; this says how many images per
second one worker can prepare, so how many workers a 50,000-image run needs.

    .venv/bin/python benchmarks/preprocess_speed.py [IMAGE ...]   (default: a synthetic 500x375 photo-sized image)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from t7convert.imagenet.preprocess import load_image, val_transform


def _synthetic(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    path = folder / "synthetic_500x375.jpg"
    Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def _time(fn, repeats: int) -> float:
    """Best of ``repeats``: on a shared machine the minimum is the cost, the rest is other load."""
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in a DataLoader worker
    with tempfile.TemporaryDirectory() as tmp:
        images = args.images or [_synthetic(Path(tmp))]
        print(f"{'image':32} {'load':>8} {'torch7 1-crop':>14} {'torch7 10-crop':>15} {'pil 1-crop':>11}")
        for image in images:
            loaded = load_image(image)
            t_load = _time(lambda: load_image(image), args.repeats)
            t_exact = _time(lambda: val_transform()(loaded), args.repeats)
            t_ten = _time(lambda: val_transform(ten_crop=True)(loaded), args.repeats)
            t_pil = _time(lambda: val_transform(interpolation="pil")(loaded), args.repeats)
            print(f"{image.name[:32]:32} {t_load * 1e3:7.1f}ms {t_exact * 1e3:12.1f}ms {t_ten * 1e3:13.1f}ms "
                  f"{t_pil * 1e3:9.1f}ms   ~{1 / (t_load + t_exact):.0f} images/s per worker")


if __name__ == "__main__":
    main(sys.argv[1:])
