"""``image.load(path, 3, 'float')`` as torch/image did it: the pixels fb.resnet.torch started from.

Torch7 decoded with libjpeg/libpng and then applied its own rules (torch/image ``init.lua``
``todepth``/``processPNG``, ``generic/png.c``, ``generic/jpeg.c``, ``generic/ppm.c``). Pillow does the
decoding here; the rules are reproduced on top of it:

* the format comes from the file's first bytes (JPEG, PNG, PPM/PGM), not its extension;
* samples are multiplied by ``float32(1/255)`` (``1/65535`` for 16-bit PNG), in float32 as Torch7 did;
* one channel (grey JPEG, grey PNG at any bit depth, PGM) is copied to R, G and B;
* RGBA PNG: the alpha channel is dropped, not composited;
* grey+alpha PNG: Torch7 refuses it (``image loaded has wrong #channels``), and so do we;
* palette PNG: expanded to RGB; with a ``tRNS`` chunk libpng expands to RGBA while Torch7 still reads
  three bytes per pixel, so the colours are shifted along each row. We reproduce that, because
  it is what the published models were evaluated on had such a file occurred;
* 16-bit PNG keeps all 16 bits (Pillow alone would truncate RGB to 8 bits);
* CMYK JPEG: libjpeg hands over C, M, Y, K as stored (Adobe files store them inverted) and Torch7
  keeps the first three; Pillow inverts Adobe CMYK on decoding, so we undo that;
* PPM/PGM: bytes are divided by 255 whatever the header's maximum value (ASCII files are first
  rescaled to 0..255 with integer division), as ``generic/ppm.c`` does.

Anything else (BMP, GIF, ...) is refused: Torch7's ``image.load`` could not read it either.
"""
from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from t7convert.common.errors import T7ConvertError
from t7convert.common.inputs import open_regular

__all__ = ["load_image", "load_samples", "rgb_from_samples", "ImageLoadError"]

PathLike = Union[str, "os.PathLike[str]"]

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types (IHDR byte 9)
_GREY, _RGB, _PALETTE, _GREY_ALPHA, _RGBA = 0, 2, 3, 4, 6


#: an image's pixels (8192 x 8192) and the ratio of its sides, checked from its header before it is decoded:
#: a 138-byte 20000x1 PNG resized to a shorter side of 256 is 5,120,000 x 256 pixels (15.7 GB of floats)
MAX_PIXELS = 1 << 26
MAX_ASPECT = 64


def check_image_size(path: PathLike, width: int, height: int) -> None:
    """Refuse, before decoding, an image too large, or too long for its width, to resize within bounds."""
    if width < 1 or height < 1:
        raise ImageLoadError(path, f"a {width}x{height} image has no pixels")
    if width * height > MAX_PIXELS or max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageLoadError(path, f"is {width}x{height} pixels: t7convert reads images of at most {MAX_PIXELS:,} "
                                   f"pixels whose long side is at most {MAX_ASPECT} times the short one")


class ImageLoadError(T7ConvertError):
    """An image Torch7's ``image.load(path, 3, 'float')`` would not have produced pixels from."""

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def load_image(path: PathLike) -> torch.Tensor:
    """The ``3 x H x W`` float32 tensor, values in [0, 1], that ``image.load(path, 3, 'float')`` gave.

    Raises :class:`ImageLoadError` (a :class:`t7convert.T7ConvertError`) naming the file when it
    cannot be read or decoded, or is a kind Torch7 refused.
    """
    samples, max_value = load_samples(path)
    return _to_float_rgb(samples, max_value)


def load_samples(path: PathLike) -> tuple[np.ndarray, int]:
    """The decoded integer samples (``H x W`` or ``H x W x C``) and their maximum, before Torch7's
    scaling to [0, 1] (:func:`rgb_from_samples`): what a DataLoader worker hands to the device.

    Raises :class:`ImageLoadError` as :func:`load_image` does.
    """
    path = Path(path)
    try:
        with open_regular(path) as f:
            head = f.read(64)
    except OSError as e:
        raise ImageLoadError(path, f"cannot read: {e.strerror or e}") from None

    try:
        if head.startswith(_JPEG_MAGIC):
            samples, max_value = _decode_jpeg(path)
        elif head.startswith(_PNG_MAGIC):
            samples, max_value = _decode_png(path, head)
        elif head[:2] in (b"P2", b"P3", b"P5", b"P6"):
            samples, max_value = _decode_ppm(path)
        elif not head:
            raise ImageLoadError(path, "empty file")
        else:
            raise ImageLoadError(path, "not a JPEG, PNG or PPM/PGM file (the formats Torch7's image.load "
                                       "reads)")
    except ImageLoadError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, struct.error,
            Image.DecompressionBombError) as e:
        raise ImageLoadError(path, f"cannot decode: {e}") from None
    return samples, max_value


def _to_float_rgb(samples: np.ndarray, max_value: int) -> torch.Tensor:
    """``img:mul(1/MAXVAL)`` then ``todepth(img, 3)`` from HxW or HxWxC integer samples."""
    if samples.ndim == 2:
        samples = samples[:, :, None]
    return rgb_from_samples(torch.from_numpy(np.ascontiguousarray(samples).astype(np.float32, copy=False)),
                            max_value)


def rgb_from_samples(hwc: torch.Tensor, max_value: int) -> torch.Tensor:
    """``3 x H x W`` float32 from ``H x W x C`` samples (any dtype, any device), as ``image.load`` scales."""
    chw = hwc.to(torch.float32).permute(2, 0, 1)
    # Torch7 multiplies by the float32 reciprocal rather than dividing: the last bit agrees this way.
    chw = chw * torch.tensor(1.0 / max_value, dtype=torch.float32, device=chw.device)
    if chw.shape[0] == 1:
        chw = chw.expand(3, -1, -1)
    elif chw.shape[0] == 4:
        chw = chw[:3]
    elif chw.shape[0] != 3:
        raise AssertionError(f"unexpected channel count {chw.shape[0]}")  # decoders above never do this
    return chw.contiguous()


def _open_pillow(path: Path) -> Image.Image:
    """The image with its header read (its size checked), not yet decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(path)
    try:
        check_image_size(path, *im.size)
    except ImageLoadError:
        im.close()
        raise
    return im


def _decode_jpeg(path: Path) -> tuple[np.ndarray, int]:
    with _open_pillow(path) as im:
        im.load()
        if im.mode in ("L", "RGB"):
            return np.asarray(im), 255
        if im.mode == "CMYK":
            # Pillow decoded with rawmode "CMYK;I" (inverted); libjpeg gave Torch7 the stored values.
            return 255 - np.asarray(im)[:, :, :3], 255
        raise ImageLoadError(path, f"JPEG with unsupported colour mode {im.mode}")


def _decode_png(path: Path, head: bytes) -> tuple[np.ndarray, int]:
    # Bit depth and colour type from IHDR (which PNG requires first): Pillow's mode hides both
    # (it opens grey+alpha 16-bit as RGBA and truncates 16-bit RGB to 8 bits).
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ImageLoadError(path, "corrupt PNG header (no IHDR chunk)")
    bit_depth, colour_type = head[24], head[25]
    if colour_type == _GREY_ALPHA:
        raise ImageLoadError(path, "grey+alpha PNG: Torch7's image.load(path, 3) refuses these "
                                   "('image loaded has wrong #channels')")
    if colour_type not in (_GREY, _RGB, _PALETTE, _RGBA):
        raise ImageLoadError(path, f"unknown PNG colour type {colour_type}")

    if bit_depth == 16 and colour_type in (_RGB, _RGBA):
        return _decode_png_rgb16(path), 65535

    with _open_pillow(path) as im:
        im.load()
        if colour_type == _GREY:
            if bit_depth == 16:
                return np.asarray(im).astype(np.uint16), 65535
            return np.asarray(im.convert("L")), 255  # 1, 2, 4 bits expand to 0..255 as libpng does
        if colour_type == _PALETTE:
            if "transparency" in im.info:
                return _torch7_reads_rgba_as_rgb(np.asarray(im.convert("RGBA"))), 255
            return np.asarray(im.convert("RGB")), 255
        return np.asarray(im), 255  # 8-bit RGB or RGBA


def _torch7_reads_rgba_as_rgb(rgba: np.ndarray) -> np.ndarray:
    """What ``generic/png.c`` makes of a palette PNG with transparency.

    libpng expands it to 4 bytes per pixel, but Torch7 had decided on 3 channels from the colour
    type and reads ``row[x*3 + k]``: the first 3*W bytes of each RGBA row, taken as RGB triples.
    """
    height, width, _ = rgba.shape
    return rgba.reshape(height, width * 4)[:, : width * 3].reshape(height, width, 3)


def _decode_png_rgb16(path: Path) -> np.ndarray:
    """All 16 bits of a 16-bit RGB(A) PNG.

    Pillow has no 48/64-bit RGB mode: its unpacker keeps the high byte of each big-endian sample.
    Decoding a second time with the little-endian unpacker keeps the other byte; together they are
    the exact samples. (The PNG unfiltering happens before unpacking, so both passes see the same
    bytes.)
    """
    halves = []
    for rawmode_suffix in ("16B", "16L"):
        with _open_pillow(path) as im:
            tile = im.tile[0] if len(im.tile) == 1 else None
            expected = f"{im.mode};16B"
            # Pillow >= 11 gives named tuples (codec, extents, offset, args); older ones plain tuples
            args = tile[3] if tile is not None and len(tile) >= 4 else None
            if args != expected:
                raise ImageLoadError(path, "16-bit PNG that this Pillow version cannot decode to 16 bits")
            im.tile = [type(tile)((*tile[:3], f"{im.mode};{rawmode_suffix}", *tile[4:]))
                       if not hasattr(tile, "_replace") else tile._replace(args=f"{im.mode};{rawmode_suffix}")]
            im.load()
            halves.append(np.asarray(im).astype(np.uint16))
    high, low = halves
    return (high << 8) | low


def _decode_ppm(path: Path) -> tuple[np.ndarray, int]:
    """``generic/ppm.c``: P5/P6 raw bytes (16-bit samples little-endian, as it reads them), P2/P3 text."""
    data = path.read_bytes()
    magic = data[1:2]
    pos = 2
    numbers = []
    for _ in range(3):  # width, height, maxval; whitespace, commas and comments in between
        while pos < len(data) and data[pos:pos + 1] in b" ,\t\n\r#":
            if data[pos:pos + 1] == b"#":
                while pos < len(data) and data[pos:pos + 1] not in b"\n\r":
                    pos += 1
            pos += 1
        start = pos
        while pos < len(data) and data[pos:pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise ImageLoadError(path, "corrupt PPM/PGM header")
        numbers.append(int(data[start:pos]))
    width, height, max_value = numbers
    check_image_size(path, width, height)
    pos += 1  # the single whitespace character after the maximum value
    channels = 3 if magic in (b"3", b"6") else 1
    count = width * height * channels
    if magic in (b"5", b"6"):
        sample_bytes = 2 if max_value > 255 else 1
        raw = data[pos:pos + count * sample_bytes]
        if len(raw) < count * sample_bytes:
            raise ImageLoadError(path, "corrupted file or read error (PPM/PGM data too short)")
        samples = np.frombuffer(raw, dtype="<u2" if sample_bytes == 2 else np.uint8)
    else:
        values = np.array(data[pos:].split()[:count], dtype=np.int64)
        if values.size < count or max_value <= 0:
            raise ImageLoadError(path, "corrupted file or read error (PPM/PGM data too short)")
        samples = (255 * values // max_value).astype(np.uint8)  # C: r[i] = 255*c / D into a byte
    return samples.reshape(height, width, channels), 255
