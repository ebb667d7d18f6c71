"""ImageNet validation accuracy of a model, measured the way fb.resnet.torch measured it.

Each image goes through :mod:`t7convert.preprocess` (Torch7's exact ``image.load`` + ``Scale(256)``,
``ColorNormalize``, ``CenterCrop(224)`` or ``TenCrop(224)``); with ten crops the model's outputs are
summed over the crops before ranking, as ``train.lua``'s ``computeScore`` does. Top-1/top-5 errors
are then comparable with the published tables (:mod:`t7convert.imagenet.published`).

A model is any ``torch.nn.Module`` taking ``N x 3 x 224 x 224`` float input and returning
``N x classes`` scores; the CLI gets one from :func:`t7convert.load`. Images that cannot be read do
not stop the run: they are counted, listed and left out of the error rates.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from t7convert.common.errors import T7ConvertError, printable
from t7convert.imagenet.datasets import DataError, Sample, ValidationSet, find_validation_set
from t7convert.imagenet.distributed import World, shard, world_from_environment
from t7convert.imagenet.pipeline import RESIZE_ON, Prefetcher, check_decoder, collate_for, make_dataset
from t7convert.imagenet.preprocess import INTERPOLATIONS
from t7convert.imagenet.published import (
    DEFAULT_TOLERANCE,
    Comparison,
    architecture_from_name,
    compare,
    known_architectures,
)

__all__ = ["evaluate", "EvaluationResult", "EvaluationReport", "identify_architecture", "resolve_device",
           "resolve_amp", "resolve_resize_on", "count_outputs", "scores_of", "combine_crops"]

PathLike = Union[str, "os.PathLike[str]"]
CROP = 224


@dataclass
class EvaluationResult:
    """Counts from one evaluation run; error rates are over the images that were read."""

    data_dir: str
    layout: str
    images: int                      # images evaluated (read and classified)
    top1_correct: int
    top5_correct: int
    crops: int
    interpolation: str
    device: str
    amp: Optional[str]               # autocast dtype (bf16, fp16) or None: float32 throughout
    seconds: float
    total_images: int                # images in the set (or the --limit subset)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[str] = field(default_factory=list)
    resize_on: str = "cpu"           # where the exact resize ran: "cpu" (workers) or "device"
    decode: str = "pillow"
    processes: int = 1               # torchrun ranks that shared the images

    @property
    def top1_error(self) -> float:
        return 100.0 * (1.0 - self.top1_correct / self.images) if self.images else float("nan")

    @property
    def top5_error(self) -> float:
        return 100.0 * (1.0 - self.top5_correct / self.images) if self.images else float("nan")

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data_dir, "layout": self.layout, "images": self.images,
            "total_images": self.total_images, "crops": self.crops, "interpolation": self.interpolation,
            "device": self.device, "amp": self.amp, "resize_on": self.resize_on, "decode": self.decode,
            "processes": self.processes, "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2) if self.seconds > 0 else None,
            "top1_correct": self.top1_correct, "top5_correct": self.top5_correct,
            "top1_error": self.top1_error, "top5_error": self.top5_error,
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
            "warnings": list(self.warnings),
        }


def resolve_device(device: Optional[str]) -> torch.device:
    """``None`` means CUDA when available, else CPU; an unavailable CUDA request is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise T7ConvertError(f"unknown device {device!r} (use cpu, cuda or cuda:N)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise T7ConvertError(f"device {device} requested but CUDA is not available here")
    return resolved


def scores_of(output: Any) -> torch.Tensor:
    """The ``N x classes`` scores a model returned (``N x classes x 1 x 1`` is flattened)."""
    if isinstance(output, (tuple, list)) and len(output) == 1:
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise T7ConvertError(f"the model returned {type(output).__name__}, not a tensor of class scores")
    if output.dim() == 4 and output.shape[2:] == (1, 1):
        output = output.flatten(1)
    if output.dim() != 2:
        raise T7ConvertError(f"the model returned shape {tuple(output.shape)}; expected N x classes")
    return output


def count_outputs(model: torch.nn.Module, device: torch.device) -> int:
    """Classes the model scores, from one forward pass on a blank image (so that a dataset that
    does not match is reported before the first real batch, not after an hour)."""
    with torch.no_grad():
        probe = torch.zeros(1, 3, CROP, CROP, device=device)
        return int(scores_of(model(probe)).shape[1])


def combine_crops(scores: torch.Tensor, crops: int) -> torch.Tensor:
    """Per-image scores from ``N*crops x classes`` crop scores: their sum, as fb.resnet.torch's
    ``computeScore`` does (not a vote, not an average of probabilities)."""
    if scores.shape[0] % crops:
        raise ValueError(f"{scores.shape[0]} rows of scores do not split into groups of {crops} crops")
    return scores.view(scores.shape[0] // crops, crops, -1).sum(dim=1)


@contextlib.contextmanager
def _exact_float32(device: torch.device, enabled: bool) -> Iterator[None]:
    """No TF32 on CUDA: Torch7 computed in true float32, and TF32 flips a few predictions."""
    if device.type != "cuda" or not enabled:
        yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _spread_subset(samples: list[Sample], limit: Optional[int]) -> list[Sample]:
    """``limit`` samples spread evenly over the set (a prefix would be the first few classes only)."""
    if limit is None or limit >= len(samples):
        return samples
    if limit < 1:
        raise T7ConvertError(f"--limit must be at least 1, got {limit}")
    return [samples[(i * len(samples)) // limit] for i in range(limit)]


def resolve_amp(amp: Union[bool, str, None], device: torch.device) -> Optional[str]:
    """``--amp`` as a dtype name: ``bf16``/``fp16``, ``True`` meaning fp16 on CUDA and bf16 on CPU."""
    if amp in (None, False, "", "none"):
        return None
    if amp is True:
        return "fp16" if device.type == "cuda" else "bf16"
    if amp not in _AMP_DTYPES:
        raise T7ConvertError(f"--amp must be one of {', '.join(_AMP_DTYPES)}, not {amp!r}")
    return str(amp)


_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_resize_on(resize_on: Optional[str], device: torch.device, interpolation: str) -> str:
    """Where the exact resize runs: on the device by default when it is CUDA, else in the workers."""
    if resize_on is None:
        return "device" if device.type == "cuda" and interpolation == "torch7" else "cpu"
    if resize_on not in RESIZE_ON:
        raise T7ConvertError(f"--resize-on must be one of {', '.join(RESIZE_ON)}, not {resize_on!r}")
    if resize_on == "device" and interpolation != "torch7":
        raise T7ConvertError("--resize-on device does Torch7's bicubic only; PIL's resize "
                             "(--interpolation pil) runs with --resize-on cpu")
    return resize_on


@dataclass
class _Counts:
    """Running top-1/top-5 hits, kept on the device so that a batch does not wait for the last one."""

    top1: Optional[torch.Tensor] = None
    top5: Optional[torch.Tensor] = None
    seen: int = 0

    def add(self, scores: torch.Tensor, labels: torch.Tensor, top_k: int) -> None:
        hits = scores.topk(top_k, dim=1).indices == labels.view(-1, 1)
        top1, top5 = hits[:, 0].sum(), hits.any(dim=1).sum()
        self.top1 = top1 if self.top1 is None else self.top1 + top1
        self.top5 = top5 if self.top5 is None else self.top5 + top5
        self.seen += labels.shape[0]

    def values(self) -> tuple[int, int]:  # synchronises with the device
        return (int(self.top1) if self.top1 is not None else 0, int(self.top5) if self.top5 is not None else 0)


def _workers_checked(batches: Any) -> Any:
    """``batches``, with a DataLoader worker that the system killed (for lack of memory, mostly) said in one
    line: torch raises a RuntimeError naming the worker and the signal."""
    try:
        yield from batches
    except RuntimeError as e:
        text = str(e)
        if "DataLoader worker" not in text:
            raise
        raise T7ConvertError(f"an image-reading worker ended abnormally ({text.splitlines()[0][:200]}); most "
                             "likely the system killed it for lack of memory: pass fewer --workers or a smaller "
                             "--batch-size") from None


def check_imagenet_model(model: torch.nn.Module) -> None:
    """The evaluation feeds fb.resnet.torch's ImageNet crops (3x224x224): a model whose data config says
    it takes anything else (a CIFAR net's 3x32x32, a vector, a table) is refused in one line naming what
    it takes, rather than scored on inputs it was never meant for. A module without one is trusted."""
    spec = (getattr(model, "data_config", None) or {}).get("input")
    if spec is not None and not (not spec.is_table and not spec.is_index and tuple(spec.shape) == (3, 224, 224)
                                 and spec.batched is not False):
        raise T7ConvertError(f"evaluate runs fb.resnet.torch's ImageNet validation (3x224x224 crops); this "
                             f"model takes {spec.describe()}: classify single images at its size with "
                             "`t7convert classify`, or check it with `t7convert parity`")


def evaluate(model: torch.nn.Module, data_dir: PathLike, *, ten_crop: bool = False,
             batch_size: Optional[int] = None, workers: Optional[int] = None, device: Optional[str] = None,
             amp: Union[bool, str, None] = None, channels_last: Optional[bool] = None,
             limit: Optional[int] = None, interpolation: str = "torch7", progress: bool = False,
             resize_on: Optional[str] = None, decode: str = "pillow") -> EvaluationResult:
    """Top-1/top-5 counts of ``model`` on the validation images under ``data_dir``.

    ``batch_size`` counts images (each is 10 crops with ``ten_crop``); defaults 64, or 8 with ten
    crops. ``channels_last`` defaults to on for CUDA. ``amp`` (``"bf16"``, ``"fp16"``, or ``True``:
    fp16 on CUDA, bf16 on CPU) runs the model under autocast, which is faster and no longer
    Torch7's arithmetic; the preprocessing stays exact float32 either way. ``resize_on`` is where
    the exact resize runs (:mod:`t7convert.imagenet.pipeline`): ``"device"`` (default on CUDA) or
    ``"cpu"`` (in the DataLoader workers). ``decode="nvjpeg"`` decodes JPEGs on the GPU
    (torchvision needed). Under torchrun each process evaluates its share of the images and
    every process returns the totals (:mod:`t7convert.imagenet.distributed`). The model is moved
    to the device and put in eval mode.
    """
    if interpolation not in INTERPOLATIONS:
        raise T7ConvertError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}")
    check_imagenet_model(model)
    world = world_from_environment(device)
    try:
        return _evaluate(model, data_dir, world, ten_crop=ten_crop, batch_size=batch_size, workers=workers,
                         device=world.device(device), amp=amp, channels_last=channels_last, limit=limit,
                         interpolation=interpolation, progress=progress and world.rank == 0,
                         resize_on=resize_on, decode=decode)
    finally:
        world.close()


def _evaluate(model: torch.nn.Module, data_dir: PathLike, world: World, *, ten_crop: bool,
              batch_size: Optional[int], workers: Optional[int], device: Optional[str],
              amp: Union[bool, str, None], channels_last: Optional[bool], limit: Optional[int],
              interpolation: str, progress: bool, resize_on: Optional[str], decode: str) -> EvaluationResult:
    dev = resolve_device(device)
    amp_name = resolve_amp(amp, dev)
    resize_on = resolve_resize_on(resize_on, dev, interpolation)
    check_decoder(decode, dev)
    if decode == "nvjpeg" and resize_on != "device":
        raise T7ConvertError("--decode nvjpeg leaves the images on the GPU: use it with --resize-on device")
    if channels_last is None:
        channels_last = dev.type == "cuda"
    crops = 10 if ten_crop else 1
    asked_batch_size = batch_size
    batch_size = batch_size or (8 if ten_crop else 64)
    if batch_size < 1:
        raise T7ConvertError(f"batch size must be at least 1, got {batch_size}")
    workers = min(16, os.cpu_count() or 1) if workers is None else workers

    model = model.to(dev).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    num_outputs = count_outputs(model, dev)
    dataset: ValidationSet = find_validation_set(data_dir, num_outputs)
    samples = _spread_subset(dataset.samples, limit)
    world.check_same_samples(samples)
    mine = shard(samples, world)
    warnings = list(dataset.warnings)
    if asked_batch_size and asked_batch_size > len(samples):
        warnings.append(f"batch size {batch_size} is larger than the {len(samples)} images; "
                        "all of them went in one batch")

    loader = DataLoader(make_dataset(mine, resize_on, decode, ten_crop, interpolation),
                        batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_for(resize_on), pin_memory=dev.type == "cuda",
                        persistent_workers=False)
    autocast = (torch.autocast(dev.type, dtype=_AMP_DTYPES[amp_name]) if amp_name
                else contextlib.nullcontext())
    top_k = min(5, num_outputs)
    counts = _Counts()
    unreadable: list[tuple[str, str]] = []

    bar = tqdm(total=len(mine), unit="img", disable=not progress, dynamic_ncols=True,
               desc=f"{'10-crop' if ten_crop else '1-crop'} {dev.type}"
                    + (f" x{world.size} ranks" if world.distributed else ""))
    start = time.perf_counter()
    shown = start
    with torch.inference_mode(), _exact_float32(dev, amp_name is None), bar:
        for batch in _workers_checked(Prefetcher(loader, dev, ten_crop)):
            unreadable.extend(batch.failures)
            if batch.images is not None:
                x = batch.images
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast:
                    scores = scores_of(model(x)).float()
                if crops > 1:
                    scores = combine_crops(scores, crops)
                counts.add(scores, batch.labels, top_k)
            bar.update(batch.count)
            if progress and counts.seen and time.perf_counter() - shown > 1.0:  # a sync at most once a second
                shown = time.perf_counter()
                top1, top5 = counts.values()
                bar.set_postfix_str(f"top-1 err {100 * (1 - top1 / counts.seen):.2f}%  top-5 err "
                                    f"{100 * (1 - top5 / counts.seen):.2f}%  unreadable {len(unreadable)}",
                                    refresh=False)
    top1, top5 = counts.values()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = world.longest(time.perf_counter() - start)
    seen, top1, top5 = world.sum_counts([counts.seen, top1, top5])
    position = {sample.path: i for i, sample in enumerate(samples)}  # listed in the set's order
    unreadable = sorted(world.gather_lists(unreadable), key=lambda failure: position.get(failure[0], -1))
    if seen == 0:
        path, reason = unreadable[0]
        raise DataError(f"{dataset.root}: none of the {len(samples)} images could be read "
                        f"(first: {path}: {reason})")

    return EvaluationResult(
        data_dir=dataset.root, layout=dataset.layout, images=seen, top1_correct=top1, top5_correct=top5,
        crops=crops, interpolation=interpolation, device=str(dev), amp=amp_name, seconds=seconds,
        total_images=len(samples), unreadable=unreadable, warnings=warnings, resize_on=resize_on,
        decode=decode, processes=world.size)


def identify_architecture(model: torch.nn.Module, model_path: Optional[PathLike] = None,
                          expect: Optional[str] = None) -> tuple[Optional[str], str]:
    """(architecture, how it was found) for picking the published row.

    ``expect`` wins and must name a published model; then what the converter recorded
    (``model.t7convert_info["architecture"]``); then the file name.
    """
    if expect:
        found = architecture_from_name(expect)
        if found is None:
            raise T7ConvertError(f"--expect {expect}: no published figures for that name; known: "
                                 f"{', '.join(known_architectures())}")
        return found, "--expect"
    info = getattr(model, "t7convert_info", None)
    recorded = info.get("architecture") if isinstance(info, dict) else None
    if recorded:
        found = architecture_from_name(str(recorded))
        if found:
            return found, "the converted model's record"
    if model_path is not None:
        found = architecture_from_name(Path(model_path).name)
        if found:
            return found, "the file name"
    return None, "unknown"


@dataclass
class EvaluationReport:
    """What ``t7convert evaluate`` prints and writes as JSON: the result against the published row."""

    model: str
    architecture_source: str
    result: EvaluationResult
    comparison: Comparison

    @classmethod
    def build(cls, model_name: str, architecture: Optional[str], architecture_source: str,
              result: EvaluationResult, tolerance: float = DEFAULT_TOLERANCE) -> "EvaluationReport":
        comparison = compare(architecture, result.crops, result.top1_error, result.top5_error,
                             result.images, tolerance)
        return cls(model_name, architecture_source, result, comparison)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "architecture_source": self.architecture_source,
                **self.result.to_dict(), "comparison": self.comparison.to_dict()}

    def table(self) -> str:
        r, c = self.result, self.comparison
        crop_text = "10 crops" if r.crops == 10 else "1 crop"
        lines = [
            f"model         {self.model}"
            + (f"  [{c.architecture}, from {self.architecture_source}]" if c.architecture else ""),
            f"data          {r.data_dir} ({_LAYOUTS.get(r.layout, r.layout)})",
            f"images        {r.images:,} evaluated of {r.total_images:,}, {crop_text}, "
            f"{'Torch7' if r.interpolation == 'torch7' else 'PIL'} bicubic"
            + (f", {len(r.unreadable)} unreadable" if r.unreadable else ""),
            f"device        {r.device}{f' (amp {r.amp})' if r.amp else ''}"
            + (f" x {r.processes} processes" if r.processes > 1 else "")
            + f", resize on {r.resize_on}, {r.decode} decode, {r.seconds:.1f} s, "
            f"{r.images_per_second:.1f} images/s",
            "",
            f"{'':14}{'measured':>10}{'published':>11}{'difference':>12}",
        ]
        row = c.row
        for label, measured, published, diff in (
                ("top-1 error", r.top1_error, row.top1 if row else None, c.top1_difference),
                ("top-5 error", r.top5_error, row.top5 if row else None, c.top5_difference)):
            lines.append(f"{label:14}{measured:>10.2f}{_fmt(published, '.2f'):>11}{_fmt(diff, '+.2f'):>12}")
        lines.append("")
        if row is not None:
            lines.append(f"published     {row.source}: \"{row.heading}\", row {row.model}")
            lines.append(f"              {row.url}")
            if row.note:
                lines.append(f"              note: {row.note}")
            for other in c.also_published:
                lines.append(f"also          {other.source}: top-1 {other.top1:g}"
                             + (f", top-5 {other.top5:g}" if other.top5 is not None else "")
                             + f" ({other.model})")
        lines.append(f"verdict       {c.verdict.upper()}: {c.reason}")
        for warning in r.warnings:
            lines.append(f"warning       {warning}")
        if r.unreadable:
            lines.append(f"unreadable    {len(r.unreadable)} image(s), left out of the error rates:")
            lines.extend(f"  {path}: {reason}" for path, reason in r.unreadable)
        return "\n".join(map(printable, lines))  # a name with a newline cannot forge a line


_LAYOUTS = {"class folders": "one folder per class, labels in sorted order",
            "flat": "ILSVRC2012_val_* images, labels from the ILSVRC2012 ground truth"}
"""How the table names a data set's layout, each said once whatever the folder is called."""


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)
