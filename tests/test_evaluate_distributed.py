"""``torchrun --nproc-per-node N -m t7convert evaluate``: the figures of one process, exactly.

The real entry point runs here: torchrun (``python -m torch.distributed.run``) starts two copies of
``python -m t7convert evaluate`` on the CPU (gloo), on a small synthetic set with an odd number of
images (so the shards differ in size) and an unreadable file (so the lists are gathered).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.multiprocessing as mp
import torch7_models as tm
from PIL import Image

from t7convert.imagenet.datasets import DataError, Sample
from t7convert.imagenet.distributed import World, shard

REPO = Path(__file__).resolve().parents[1]
CLASSES = 3


def _tiny_model(tmp_path: Path) -> Path:
    """A Torch7 file converted on the fly by each process: 224x224 image to 3 scores."""
    model = tm.sequential(tm.conv(3, 4, 7, 7, 4, 4), tm.relu(), tm.avgpool(55, 55, 1, 1), tm.view(4, num_input_dims=3),
                          tm.linear(4, CLASSES))
    return tm.save(tmp_path, "tiny", model)


def _synthetic_set(root: Path) -> Path:
    rng = np.random.default_rng(7)
    sizes = [(300, 260), (260, 400), (256, 256), (375, 500), (280, 290)]
    for c in range(CLASSES):
        (root / f"c{c}").mkdir(parents=True)
    for i in range(9):
        h, w = sizes[i % len(sizes)]
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"c{i % CLASSES}" / f"img{i}.{'png' if i % 2 else 'jpg'}")
    (root / "c1" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    return root


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "T7CONVERT_DIST_TIMEOUT": "120"}


def _report(command: list[str], json_path: Path) -> dict:
    done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(json_path.read_text())


@pytest.mark.slow
def test_torchrun_with_two_processes_gives_the_single_process_figures(tmp_path):
    model = _tiny_model(tmp_path)
    data = _synthetic_set(tmp_path / "val")
    args = ["evaluate", str(model), "--data", str(data), "--device", "cpu", "--workers", "0",
            "--batch-size", "2", "--no-progress", "--force", "--json"]
    single = _report([sys.executable, "-m", "t7convert", *args, str(tmp_path / "one.json")], tmp_path / "one.json")
    both = _report([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                    "-m", "t7convert", *args, str(tmp_path / "two.json")], tmp_path / "two.json")
    figures = ("images", "total_images", "top1_correct", "top5_correct", "top1_error", "top5_error", "unreadable")
    assert {k: both[k] for k in figures} == {k: single[k] for k in figures}
    assert (single["images"], len(single["unreadable"])) == (9, 1)
    assert (single["processes"], both["processes"]) == (1, 2)


def test_the_shards_cover_every_image_exactly_once_without_padding():
    samples = [Sample(f"img{i}.png", i % 3) for i in range(11)]
    for size in (1, 2, 3, 4, 11, 16):
        shards = [shard(samples, World(rank, size)) for rank in range(size)]
        together = [s for part in shards for s in part]
        assert sorted(together, key=lambda s: s.path) == sorted(samples, key=lambda s: s.path)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listing_rank(rank: int, port: int, results) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    samples = [Sample(f"img{i}.png", 0) for i in range(4 + rank)]  # rank 1 saw one image more
    try:
        World(rank, 2).check_same_samples(samples)
        results.put((rank, "no error"))
    except DataError as e:
        results.put((rank, str(e)))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_a_data_folder_that_changed_between_the_ranks_listings_is_an_error_on_every_rank():
    context = mp.get_context("spawn")
    results = context.Queue()
    port = _free_port()
    processes = [context.Process(target=_listing_rank, args=(rank, port, results)) for rank in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=300)
    messages = dict(results.get(timeout=5) for _ in processes)
    for rank in (0, 1):
        assert "data folder changed" in messages[rank] and "rank 0: 4, rank 1: 5" in messages[rank]


@pytest.mark.parametrize("requested, expected", [("cpu", "cpu"), (None, None)])
def test_a_single_process_keeps_the_requested_device(requested, expected):
    assert World().device(requested) == expected and not World().distributed
