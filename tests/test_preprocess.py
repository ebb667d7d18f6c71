"""fb.resnet.torch's validation preprocessing, checked against Torch7's own output and its C source.

The shared fixtures hold what real Torch7 computed; the always-run tests build their own images and
compare with a literal, pixel-by-pixel transcription of torch/image's ``scaleCubic_rowcol``.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import t7convert
from t7convert.imagenet import preprocess as pp

# normalised units. The issue asks for 1e-4 on lossless inputs; the transform reproduces image.c's float32
# operations, so it stays within float32 rounding (1e-6 leaves room for another CPU's vector units).
PNG_TOLERANCE = 1e-6
JPEG_TOLERANCE = 2e-2  # decoders may differ by a unit (1/255/0.225 = 0.017)


# --- against real Torch7 -------------------------------------------------------------------------

def _torch7_references(root: Path) -> list[tuple[Path, str, np.ndarray]]:
    found = []
    for ref in sorted((root / "torch7" / "preprocess").glob("*.ref.t7")):
        table = t7convert.read(ref)
        for key in ("val", "tencrop"):
            if key in table:
                found.append((ref.with_name(ref.name[: -len(".ref.t7")]), key, np.asarray(table[key])))
    return found


@pytest.mark.slow
def test_user_gets_torch7s_exact_tensors_for_every_shared_image(torch7_fixtures):
    references = _torch7_references(torch7_fixtures)
    assert references, "no preprocess references in the fixtures"
    report, too_far = [], []
    for image, key, want in references:
        got = pp.val_transform(ten_crop=key == "tencrop")(pp.load_image(image))
        assert tuple(got.shape) == want.shape, f"{image.name} {key}"
        diff = float((got - torch.from_numpy(want)).abs().max())
        tolerance = PNG_TOLERANCE if image.suffix == ".png" else JPEG_TOLERANCE
        report.append(f"{image.name}:{key} {diff:.3g}")
        if diff > tolerance:
            too_far.append(f"{image.name}:{key} differs by {diff:.3g} (> {tolerance})")
    print("max abs difference:", ", ".join(report))
    assert not too_far, "; ".join(too_far)


@pytest.mark.slow
def test_pil_resize_stays_available_and_shows_why_torch7s_is_needed(torch7_fixtures):
    image = torch7_fixtures / "torch7" / "preprocess" / "scene_500x375.png"
    want = torch.from_numpy(np.asarray(t7convert.read(str(image) + ".ref.t7")["val"]))
    loaded = pp.load_image(image)
    exact = pp.val_transform(interpolation="torch7")(loaded)
    with_pil = pp.val_transform(interpolation="pil")(loaded)
    assert float((exact - want).abs().max()) <= PNG_TOLERANCE
    assert float((with_pil - want).abs().max()) > 0.1  # PIL antialiases and uses half-pixel centres


# --- image.scale bicubic, against a literal transcription of the C loop ----------------------------

def _torch7_cubic_line(src: np.ndarray, dst_len: int) -> np.ndarray:
    """generic/image.c scaleCubic_rowcol for one float line, statement by statement (slow, clear)."""
    f32 = np.float32
    src_len = len(src)
    dst = np.zeros(dst_len, dtype=np.float32)
    if dst_len == src_len:
        return src.astype(np.float32)
    if src_len == 1:
        dst[:] = src[0]
        return dst
    scale = f32(src_len - 1) if dst_len == 1 else f32(src_len - 1) / f32(dst_len - 1)
    for di in range(dst_len - 1):
        si_f = f32(di) * scale
        si_i = int(si_f)
        si_f = f32(si_f - f32(si_i))
        p1, p2 = f32(src[si_i]), f32(src[si_i + 1])
        p0 = f32(src[si_i - 1]) if si_i > 0 else f32(f32(2) * p1 - p2)
        p3 = f32(src[si_i + 2]) if si_i + 2 < src_len else f32(f32(2) * p2 - p1)
        a0 = p1
        a1 = f32(p2 - p0)
        a2 = f32(f32(f32(f32(2) * p0 - f32(5) * p1) + f32(4) * p2) - p3)
        a3 = f32(f32(f32(3) * f32(p1 - p2) + p3) - p0)
        inner = f32(a1 + si_f * f32(a2 + si_f * a3))
        dst[di] = np.float32(np.float64(a0) + np.float64(0.5) * np.float64(si_f) * np.float64(inner))
    dst[dst_len - 1] = src[src_len - 1]
    return dst


def _torch7_scale(image: np.ndarray, width: int, height: int) -> np.ndarray:
    channels, src_h, _ = image.shape
    out = np.zeros((channels, height, width), dtype=np.float32)
    for k in range(channels):
        rows = np.stack([_torch7_cubic_line(image[k, j], width) for j in range(src_h)])  # rows first
        out[k] = np.stack([_torch7_cubic_line(rows[:, i], height) for i in range(width)], axis=1)
    return out


@pytest.mark.parametrize("src_hw, dst_wh", [
    ((9, 13), (21, 17)),   # enlarge both ways
    ((17, 23), (7, 5)),    # shrink (Torch7 does not antialias)
    ((11, 11), (11, 4)),   # width unchanged, height shrunk
    ((2, 6), (6, 1)),      # two source pixels; a single output row takes the last source row
    ((1, 5), (5, 3)),      # single source row is copied
])
def test_scale_is_torch7s_bicubic_bit_for_bit(src_hw, dst_wh):
    rng = np.random.default_rng(sum(src_hw) * 31 + sum(dst_wh))
    image = rng.random((3, *src_hw), dtype=np.float32)
    got = pp.scale_bicubic(torch.from_numpy(image), *dst_wh).numpy()
    want = _torch7_scale(image, *dst_wh)
    np.testing.assert_array_equal(got, want)


def test_scale_keeps_flat_images_flat_and_overshoots_at_edges_like_torch7():
    flat = torch.full((3, 40, 30), 0.3)
    assert torch.allclose(pp.scale_bicubic(flat, 77, 55), torch.tensor(0.3), atol=1e-6)
    step = torch.zeros(3, 8, 8)
    step[:, :, 4:] = 1.0
    enlarged = pp.scale_bicubic(step, 40, 8)
    assert enlarged.max() > 1.0 and enlarged.min() < 0.0  # float images are not clamped


@pytest.mark.parametrize("width, height, expected", [
    (500, 375, (341, 256)),   # 500/375*256 = 341.33, truncated
    (333, 500, (256, 384)),   # 500/333*256 = 384.38
    (1000, 257, (996, 256)),
    (200, 150, (341, 256)),   # enlarged
    (256, 256, None),         # already the size: returned as it is
    (256, 700, None),
    (300, 300, (256, 256)),
])
def test_scale_256_sizes_follow_fb_resnet_torch(width, height, expected):
    assert pp.scaled_size(width, height, 256) == expected


# --- crops and normalisation ---------------------------------------------------------------------

def _coordinates(width: int, height: int) -> torch.Tensor:
    """A 3-channel image whose pixel (y, x) holds y in channel 0 and x in channel 1."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    return torch.stack([ys, xs, torch.zeros_like(xs)])


def test_center_crop_puts_the_odd_pixel_of_margin_first_like_ceil():
    crop = pp.center_crop(_coordinates(341, 256), 224)
    assert (int(crop[0, 0, 0]), int(crop[1, 0, 0])) == (16, 59)  # ceil(32/2), ceil(117/2)
    assert tuple(crop.shape) == (3, 224, 224)


def test_ten_crop_comes_in_fb_resnet_torch_order():
    width, height, size = 300, 260, 224
    crops = pp.ten_crop(_coordinates(width, height), size)
    origins = [(int(c[0, 0, 0]), int(c[1, 0, 0])) for c in crops]
    centre = (18, 38)  # ceil((260-224)/2), ceil((300-224)/2)
    plain = [centre, (0, 0), (0, width - size), (height - size, 0), (height - size, width - size)]
    # in the flipped image, column x holds the original column width-1-x
    flipped = [(y, width - 1 - x) for y, x in plain]
    assert origins == plain + flipped
    assert torch.equal(crops[5], pp.center_crop(torch.flip(_coordinates(width, height), dims=[-1]), size))


def test_color_normalize_uses_fb_resnet_torch_mean_and_std():
    image = torch.stack([torch.full((2, 2), v) for v in (0.485, 0.456 + 0.224, 0.406 - 0.225)])
    out = pp.color_normalize(image)
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.0, 1.0, -1.0]), atol=1e-6)


def test_val_transform_shapes_and_bad_interpolation():
    image = torch.rand(3, 300, 400)
    assert tuple(pp.val_transform()(image).shape) == (3, 224, 224)
    assert tuple(pp.val_transform(ten_crop=True)(image).shape) == (10, 3, 224, 224)
    with pytest.raises(ValueError, match="interpolation"):
        pp.val_transform(interpolation="nearest")


# --- image.load(path, 3, 'float') ----------------------------------------------------------------

def _save(tmp_path: Path, name: str, image: Image.Image, **kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: list[bytes]) -> bytes:
    """A PNG written by hand, each row with the Sub filter (so unfiltering is exercised)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    bpp = channels * bit_depth // 8
    raw = b""
    for row in rows:
        filtered = bytes((row[i] - (row[i - bpp] if i >= bpp else 0)) & 0xFF for i in range(len(row)))
        raw += b"\x01" + filtered
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def test_grey_images_become_three_equal_channels(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    for name in ("grey.png", "grey.jpg"):
        loaded = pp.load_image(_save(tmp_path, name, Image.fromarray(grey, "L"), quality=100))
        assert tuple(loaded.shape) == (3, 3, 4)
        assert torch.equal(loaded[0], loaded[1]) and torch.equal(loaded[1], loaded[2])
    png = pp.load_image(tmp_path / "grey.png")
    assert torch.equal(png[0], torch.from_numpy(grey.astype(np.float32)) * np.float32(1 / 255))


def test_one_bit_png_expands_to_0_and_1(tmp_path):
    bits = Image.fromarray(np.array([[0, 255, 0]], dtype=np.uint8)).convert("1")
    loaded = pp.load_image(_save(tmp_path, "bits.png", bits))
    assert loaded[0, 0].tolist() == [0.0, 1.0, 0.0]


def test_rgba_png_drops_alpha_without_compositing(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 0  # fully transparent red stays red
    loaded = pp.load_image(_save(tmp_path, "rgba.png", Image.fromarray(rgba, "RGBA")))
    assert loaded[:, 0, 0].tolist() == [1.0, 0.0, 0.0]


def test_grey_alpha_png_is_refused_as_torch7_did(tmp_path):
    path = _save(tmp_path, "ga.png", Image.fromarray(np.zeros((2, 2, 2), np.uint8), "LA"))
    with pytest.raises(t7convert.T7ConvertError, match=r"ga\.png.*grey\+alpha"):
        pp.load_image(path)


def test_palette_png_with_transparency_is_misread_exactly_as_torch7_did(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    palette.putdata([0, 1])
    plain = pp.load_image(_save(tmp_path, "p.png", palette))
    assert (plain[:, 0, 1] * 255).round().tolist() == [40, 50, 60]
    shifted = pp.load_image(_save(tmp_path, "pt.png", palette, transparency=0))
    # libpng gives R G B A per pixel: 10 20 30 0 | 40 50 60 255; Torch7 reads 3 bytes per pixel
    assert (shifted[:, 0, :] * 255).round().T.tolist() == [[10, 20, 30], [0, 40, 50]]


def test_sixteen_bit_pngs_keep_all_sixteen_bits(tmp_path):
    rgb = np.array([[[0x1234, 0xFFFF, 0x0001], [0x8000, 0x00FF, 0xABCD]]], dtype=">u2")
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png(2, 1, 16, 2, [rgb[0].tobytes()]))
    loaded = pp.load_image(path)
    expected = torch.from_numpy(rgb[0].astype(np.float32).T.copy()) * np.float32(1 / 65535)
    assert torch.equal(loaded[:, 0, :], expected)

    grey = np.array([[0x0102, 0xFEDC]], dtype=">u2")
    path = tmp_path / "grey16.png"
    path.write_bytes(_png(2, 1, 16, 0, [grey[0].tobytes()]))
    assert (pp.load_image(path)[0, 0] * 65535).round().tolist() == [0x0102, 0xFEDC]


def test_cmyk_jpeg_keeps_the_stored_cmy_like_libjpeg(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (255, 0, 0, 0))  # Pillow writes Adobe (inverted) CMYK
    loaded = pp.load_image(_save(tmp_path, "cmyk.jpg", cmyk, quality=100))
    stored = 255 - np.asarray(Image.open(tmp_path / "cmyk.jpg"))[0, 0, :3]
    assert (loaded[:, 0, 0] * 255).round().tolist() == stored.astype(float).tolist()


def test_ppm_and_pgm_follow_torch7s_reader(tmp_path):
    (tmp_path / "a.ppm").write_bytes(b"P6\n# comment\n2 1\n255\n" + bytes([255, 0, 51, 0, 102, 255]))
    assert (pp.load_image(tmp_path / "a.ppm")[:, 0, 0] * 255).round().tolist() == [255, 0, 51]
    (tmp_path / "b.pgm").write_bytes(b"P2 2 1 15 15 5")  # text, rescaled by 255*c//maxval
    assert (pp.load_image(tmp_path / "b.pgm")[0, 0] * 255).round().tolist() == [255, 85]


def test_extension_does_not_matter_the_bytes_do(tmp_path):
    path = _save(tmp_path, "really_a_png.JPEG", Image.new("RGB", (3, 3), (255, 0, 0)), format="PNG")
    assert pp.load_image(path)[:, 1, 1].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("name, content, message", [
    ("broken.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 40, "cannot decode"),
    ("picture.bmp", None, "not a JPEG, PNG or PPM"),
    ("empty.png", b"", "empty file"),
    ("missing.jpg", "absent", "cannot read"),
])
def test_unreadable_images_are_reported_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        Image.new("RGB", (4, 4)).save(path, format="BMP")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(t7convert.T7ConvertError, match=message) as caught:
        pp.load_image(path)
    assert name in str(caught.value)


def test_the_transforms_are_reachable_as_t7convert_preprocess():
    """``from t7convert import preprocess`` (the name the README and older scripts use) is the package's."""
    from t7convert import preprocess
    from t7convert.imagenet import preprocess as where_it_lives

    assert preprocess is where_it_lives
