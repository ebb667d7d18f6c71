"""From image files to the model's input batches, with the exact transform on the CPU or on the device.

``resize_on="cpu"``: each DataLoader worker runs the whole transform (:class:`ValTransform`) and
the batch arrives ready. ``resize_on="device"``: workers only decode (Pillow, as :func:`load_image`
does) to the integer samples; a batch is packed into ONE flat uint8 buffer (pinned when the device
is CUDA), copied with one non-blocking transfer, unpacked into images and scaled to [0, 1] as
``image.load`` does, then resized, cropped and normalised by
:func:`t7convert.imagenet.preprocess.torch_resize.val_transform_batch`.

Photos come in many sizes and the resize matrices depend on the size, so a batch is bucketed by
size on the device: the images of one size go through two batched matmuls together, each other
size through its own pair (ImageNet val has a few dominant sizes, 500x375 and 375x500 above all).
No padding: no pixel outside an image is ever multiplied.

``decode="nvjpeg"`` (CUDA with torchvision) sends the JPEG bytes instead and decodes them on the
GPU with ``torchvision.io.decode_jpeg``. Its IDCT is not libjpeg-turbo's: samples can differ by one
unit (1/255, 0.017 in normalised units), which is within check 06's JPEG tolerance but no longer
Torch7's pixels exactly; PNG, PPM, grey-alpha and CMYK files are still decoded by Pillow in the
workers, and a JPEG the GPU cannot decode falls back to Pillow.

:class:`Prefetcher` prepares batch k+1 on a side CUDA stream while the model runs batch k.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from t7convert.common.errors import T7ConvertError
from t7convert.common.inputs import open_regular
from t7convert.imagenet.datasets import Sample
from t7convert.imagenet.preprocess import load_image, val_transform
from t7convert.imagenet.preprocess.image_load import MAX_ASPECT, MAX_PIXELS, load_samples, rgb_from_samples
from t7convert.imagenet.preprocess.torch_resize import val_transform_batch

__all__ = ["RESIZE_ON", "DECODERS", "Prepared", "Prefetcher", "make_dataset", "collate_for",
           "check_decoder"]

RESIZE_ON = ("cpu", "device")
DECODERS = ("pillow", "nvjpeg")
_JPEG_MAGIC = b"\xff\xd8\xff"

Item = tuple[Any, int, str, Optional[str]]  # (payload, label, path, error)


def _describe(error: Exception) -> str:
    if isinstance(error, T7ConvertError):
        return getattr(error, "reason", None) or str(error)
    return f"{type(error).__name__}: {error}"


class _Images(Dataset):
    """One sample per item; a failure becomes a record, not an exception (a 50,000-image run must
    not die on one corrupt file)."""

    def __init__(self, samples: list[Sample], load: Callable[[str], Any]) -> None:
        self.samples = samples
        self.load = load

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Item:
        sample = self.samples[index]
        try:
            return self.load(sample.path), sample.label, sample.path, None
        except Exception as e:  # noqa: BLE001 - a decoder bug on one file must not end the run either
            return None, sample.label, sample.path, _describe(e)


class _Transformed:
    """CPU path: the whole exact transform in the worker (picklable for worker processes)."""

    def __init__(self, ten_crop: bool, interpolation: str) -> None:
        self.transform = val_transform(ten_crop=ten_crop, interpolation=interpolation)

    def __call__(self, path: str) -> torch.Tensor:
        return self.transform(load_image(path))


def _decoded(path: str) -> torch.Tensor:
    """Device path: ``H x W x C`` uint8 samples (C = 1 or 3), or, for the rare 16-bit image, the
    exact ``3 x H x W`` float32 image (``image.load``'s scaling done here)."""
    samples, max_value = load_samples(path)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    if samples.dtype != np.uint8:
        return rgb_from_samples(torch.from_numpy(samples.astype(np.float32)), max_value)
    if samples.shape[2] == 4:
        samples = samples[:, :, :3]  # todepth drops alpha; no need to copy it to the device
    return torch.from_numpy(np.require(samples, requirements=["C", "W"]))  # Pillow's arrays are read-only


@dataclass
class _JpegBytes:
    data: torch.Tensor  # the file's bytes, for torchvision.io.decode_jpeg


#: a JPEG's bytes handed to nvjpeg whole: larger ones are decoded (and refused) on the Pillow path
MAX_FILE = 1 << 28


def _bytes_or_decoded(path: str) -> Any:
    """nvjpeg path: the bytes of a grey or RGB JPEG; anything else decoded as on the Pillow path."""
    try:
        with open_regular(path) as f:
            data = f.read(MAX_FILE + 1)
    except OSError:
        return _decoded(path)  # which says, in the failures, why the file cannot be read
    if data.startswith(_JPEG_MAGIC) and len(data) <= MAX_FILE:
        try:
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                mode, size = im.mode, im.size
        except Exception:  # noqa: BLE001 - Pillow's decode below reports the problem
            mode, size = None, (0, 0)
        if mode in ("L", "RGB") and size[0] * size[1] <= MAX_PIXELS \
                and max(size) <= MAX_ASPECT * min(size):
            return _JpegBytes(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    return _decoded(path)


def make_dataset(samples: list[Sample], resize_on: str, decode: str, ten_crop: bool,
                 interpolation: str) -> Dataset:
    if resize_on == "cpu":
        return _Images(samples, _Transformed(ten_crop, interpolation))
    return _Images(samples, _bytes_or_decoded if decode == "nvjpeg" else _decoded)


@dataclass
class _Batch:
    """What a worker sends: ready crops (CPU path) or packed samples (device path), plus failures."""

    labels: torch.Tensor
    paths: list[str]
    failures: list[tuple[str, str]]
    images: Optional[torch.Tensor] = None            # CPU path: N x 3 x 224 x 224 (or N x 10 x ...)
    packed: Optional[torch.Tensor] = None            # device path: all uint8 images, flattened
    shapes: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # per image: kind, shape
    others: list[Any] = field(default_factory=list)  # float images and JPEG bytes, in order

    def pin_memory(self) -> "_Batch":  # DataLoader(pin_memory=True) calls this on custom batches
        self.labels = self.labels.pin_memory()
        if self.images is not None:
            self.images = self.images.pin_memory()
        if self.packed is not None:
            self.packed = self.packed.pin_memory()
        self.others = [o.pin_memory() if isinstance(o, torch.Tensor) else o for o in self.others]
        return self


def _split(items: list[Item]) -> tuple[list[Item], list[tuple[str, str]]]:
    return ([item for item in items if item[3] is None],
            [(path, error) for _, _, path, error in items if error is not None])


def _collate_ready(items: list[Item]) -> _Batch:
    good, failures = _split(items)
    labels = torch.tensor([label for _, label, _, _ in good], dtype=torch.int64)
    images = torch.stack([x for x, _, _, _ in good]) if good else None
    return _Batch(labels, [p for _, _, p, _ in good], failures, images=images)


def _collate_samples(items: list[Item]) -> _Batch:
    good, failures = _split(items)
    shapes: list[tuple[str, tuple[int, ...]]] = []
    flat, others = [], []
    for payload, _, _, _ in good:
        if isinstance(payload, _JpegBytes):
            shapes.append(("jpeg", ()))
            others.append(payload.data)
        elif payload.dtype == torch.uint8:
            shapes.append(("uint8", tuple(payload.shape)))
            flat.append(payload.reshape(-1))
        else:
            shapes.append(("float", tuple(payload.shape)))
            others.append(payload)
    labels = torch.tensor([label for _, label, _, _ in good], dtype=torch.int64)
    packed = torch.cat(flat) if flat else None
    return _Batch(labels, [p for _, _, p, _ in good], failures, packed=packed, shapes=shapes, others=others)


def collate_for(resize_on: str) -> Callable[[list[Item]], _Batch]:
    return _collate_ready if resize_on == "cpu" else _collate_samples


def check_decoder(decode: str, device: torch.device) -> None:
    """``nvjpeg`` needs CUDA and torchvision; say so before any image is read."""
    if decode not in DECODERS:
        raise T7ConvertError(f"decode must be one of {', '.join(DECODERS)}, not {decode!r}")
    if decode != "nvjpeg":
        return
    if device.type != "cuda":
        raise T7ConvertError("--decode nvjpeg decodes on a CUDA device; this run is on "
                             f"{device} (use --decode pillow)")
    try:
        import torchvision.io  # noqa: F401
    except Exception as e:  # noqa: BLE001 - ImportError, or a torchvision built for another torch
        raise T7ConvertError(f"--decode nvjpeg needs torchvision (torchvision.io.decode_jpeg), which cannot "
                             f"be imported here ({type(e).__name__}: {e}); use --decode pillow") from None


def _decode_jpegs(data: list[torch.Tensor], device: torch.device) -> list[Optional[torch.Tensor]]:
    """GPU decodes (``C x H x W`` uint8), ``None`` where nvjpeg failed; one batched call when all succeed."""
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return list(decode_jpeg(data, mode=ImageReadMode.UNCHANGED, device=device))
    except RuntimeError:
        decoded: list[Optional[torch.Tensor]] = []
        for one in data:
            try:
                decoded.append(decode_jpeg(one, mode=ImageReadMode.UNCHANGED, device=device))
            except RuntimeError:
                decoded.append(None)
        return decoded


@dataclass
class Prepared:
    """A batch on the device: model input, labels, and the images that could not be read."""

    images: Optional[torch.Tensor]
    labels: torch.Tensor
    failures: list[tuple[str, str]]
    count: int  # images of the batch, read or not


def _unpack(batch: _Batch, device: torch.device) -> tuple[list[torch.Tensor], list[int], list[tuple[str, str]]]:
    """Float ``3 x H x W`` images on ``device``, the positions they came from, and GPU decode failures."""
    packed = batch.packed.to(device, non_blocking=True) if batch.packed is not None else None
    others = iter(batch.others)
    jpeg_slots = [i for i, (kind, _) in enumerate(batch.shapes) if kind == "jpeg"]
    jpegs = iter(_decode_jpegs([o for o in batch.others if not o.is_floating_point()], device)
                 if jpeg_slots else [])
    images, kept, failures = [], [], []
    offset = 0
    for i, (kind, shape) in enumerate(batch.shapes):
        if kind == "uint8":
            size = int(np.prod(shape))
            images.append(rgb_from_samples(packed[offset:offset + size].view(shape), 255))
            offset += size
        elif kind == "float":
            images.append(next(others).to(device, non_blocking=True))
        else:
            next(others)
            chw = next(jpegs)
            if chw is None:  # nvjpeg refused it: Pillow's decode, and its verdict
                try:
                    images.append(load_image(batch.paths[i]).to(device))
                except Exception as e:  # noqa: BLE001
                    failures.append((batch.paths[i], _describe(e)))
                    continue
            else:
                images.append(rgb_from_samples(chw.permute(1, 2, 0), 255))
        kept.append(i)
    return images, kept, failures


def _transform_buckets(images: list[torch.Tensor], ten_crop: bool) -> torch.Tensor:
    """The exact transform of differently sized images: one batched resize per size, results in order."""
    buckets: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        buckets.setdefault(tuple(image.shape[-2:]), []).append(i)
    out: Optional[torch.Tensor] = None
    for positions in buckets.values():
        done = val_transform_batch(torch.stack([images[i] for i in positions]), ten_crop=ten_crop)
        if out is None:
            out = done.new_empty((len(images), *done.shape[1:]))
        out[torch.tensor(positions, device=done.device)] = done
    assert out is not None
    return out


def prepare(batch: _Batch, device: torch.device, ten_crop: bool) -> Prepared:
    """The batch as model input on ``device`` (``N*crops x 3 x 224 x 224``), labels on ``device``."""
    count = len(batch.paths) + len(batch.failures)
    failures = list(batch.failures)
    if batch.images is not None or not batch.shapes:
        images = batch.images.to(device, non_blocking=True) if batch.images is not None else None
        labels = batch.labels
    else:
        decoded, kept, gpu_failures = _unpack(batch, device)
        failures.extend(gpu_failures)
        images = _transform_buckets(decoded, ten_crop) if decoded else None
        labels = batch.labels[kept] if len(kept) != len(batch.paths) else batch.labels
    if images is not None:
        images = images.reshape(-1, *images.shape[-3:])
    return Prepared(images, labels.to(device, non_blocking=True), failures, count)


class Prefetcher:
    """Iterates prepared batches, preparing the next one while the caller uses the current one.

    On CUDA the copy and the device transform of batch k+1 are issued on a side stream before batch
    k is handed out, so they overlap with the model's forward pass on the default stream; the
    default stream waits for the side stream only when it takes the batch.
    """

    def __init__(self, batches: Iterable[_Batch], device: torch.device, ten_crop: bool) -> None:
        self.batches = batches
        self.device = device
        self.ten_crop = ten_crop
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def _prepare(self, batch: _Batch) -> Prepared:
        if self.stream is None:
            return prepare(batch, self.device, self.ten_crop)
        with torch.cuda.stream(self.stream):
            return prepare(batch, self.device, self.ten_crop)

    def _hand_over(self, prepared: Prepared) -> Prepared:
        if self.stream is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(self.stream)
            for tensor in (prepared.images, prepared.labels):
                if tensor is not None:
                    tensor.record_stream(current)  # the allocator must not reuse them too early
        return prepared

    def __iter__(self) -> Iterator[Prepared]:
        upcoming: Optional[Prepared] = None
        for batch in self.batches:
            ready = self._prepare(batch)
            if upcoming is not None:
                yield self._hand_over(upcoming)
            upcoming = ready
        if upcoming is not None:
            yield self._hand_over(upcoming)
