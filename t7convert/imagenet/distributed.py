"""Evaluation over several processes (``torchrun --nproc-per-node N -m t7convert evaluate ...``).

torchrun starts N copies of the command with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous address in the environment (multi-node: its ``--nnodes``/``--rdzv-endpoint`` options).
Each rank evaluates the images ``rank, rank + N, rank + 2N, ...`` of the same sorted list: every
image exactly once, no padding duplicates (``DistributedSampler`` pads the last round with repeats,
which would count some images twice). The counts are summed with ``all_reduce``, the unreadable
images gathered from every rank, and rank 0 alone prints the report.

NCCL on CUDA (each rank on ``cuda:LOCAL_RANK``), gloo on the CPU. Every collective has a timeout
(``T7CONVERT_DIST_TIMEOUT`` seconds, default 1800): a rank that died makes the others fail with a
message instead of waiting for ever (torchrun also reports the dead rank and stops the rest).
"""
from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.distributed as dist

from t7convert.common.errors import T7ConvertError
from t7convert.imagenet.datasets import DataError, Sample

__all__ = ["World", "world_from_environment", "shard"]

TIMEOUT_ENV = "T7CONVERT_DIST_TIMEOUT"


@dataclass
class World:
    """This process's place among the evaluating processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    started_here: bool = False  # whether this module created the process group (and must end it)

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def device(self, requested: Optional[str]) -> Optional[str]:
        """One GPU per rank: ``cuda`` (or the default when CUDA exists) becomes ``cuda:LOCAL_RANK``."""
        if not self.distributed:
            return requested
        if requested in (None, "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return requested

    def check_same_samples(self, samples: list[Sample]) -> None:
        """Every rank must shard the same list: a data folder that changed between their listings
        would make the shards overlap or miss images."""
        if not self.distributed:
            return
        digest = hashlib.sha256("\n".join(f"{s.path}\t{s.label}" for s in samples).encode()).hexdigest()
        seen: list[Any] = [None] * self.size
        dist.all_gather_object(seen, (len(samples), digest))
        if len(set(seen)) != 1:
            counts = ", ".join(f"rank {r}: {n}" for r, (n, _) in enumerate(seen))
            raise DataError(f"the data folder changed while the ranks listed it ({counts} images); "
                            "every rank must see the same images")

    def sum_counts(self, counts: list[int]) -> list[int]:
        if not self.distributed:
            return counts
        tensor = torch.tensor(counts, dtype=torch.int64, device=self._collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return [int(v) for v in tensor.cpu()]

    def longest(self, seconds: float) -> float:
        """The run takes as long as its slowest rank."""
        if not self.distributed:
            return seconds
        tensor = torch.tensor([seconds], dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return float(tensor.item())

    def gather_lists(self, items: list[Any]) -> list[Any]:
        """Every rank's ``items`` concatenated in rank order (on every rank)."""
        if not self.distributed:
            return items
        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, items)
        return [item for part in gathered for item in part]

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" \
            else torch.device("cpu")

    def close(self) -> None:
        if self.started_here and dist.is_initialized():
            dist.destroy_process_group()
            self.started_here = False


def _timeout() -> datetime.timedelta:
    value = os.environ.get(TIMEOUT_ENV, "1800")
    try:
        seconds = float(value)
    except ValueError:
        raise T7ConvertError(f"{TIMEOUT_ENV}={value!r}: expected a number of seconds") from None
    return datetime.timedelta(seconds=seconds)


def world_from_environment(device: Optional[str]) -> World:
    """The torchrun world (process group joined here), or a world of one without torchrun.

    An already initialised process group (a caller that set one up itself) is used as it is.
    """
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return World()
    if not dist.is_available():
        raise T7ConvertError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_nccl = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if use_nccl:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if use_nccl else "gloo", timeout=_timeout())
    return World(dist.get_rank(), dist.get_world_size(), local_rank, started_here=True)


def shard(samples: list[Sample], world: World) -> list[Sample]:
    """This rank's images: every ``size``-th from ``rank`` on, so the shards partition the list."""
    return samples[world.rank::world.size]
