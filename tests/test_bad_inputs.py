"""The bad-input matrix: every odd file a years-old photo folder holds gets a clear outcome.

Each case goes through nst.validate.check_file (what rejected.tsv / accepted.tsv say)
and, for accepted files, nst.images (what the pair jobs see).  The builders here are
shared with tests/test_bad_inputs_workflow.py, which runs many of them at once.
"""

from __future__ import annotations

import io
import os
import re
import signal
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import pattern_image, write_image
from nst import images
from nst.images import ImageError, load_image, open_checked
from nst.pairs import SheetError, image_keys, read_sheet
from nst.validate import IGNORED, Limits, Verdict, check_file, validate

LIMITS = Limits(size=32, min_side=16, max_megapixels=200)


# ---- builders ---------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, extra: bytes = b"", data: bytes | None = None) -> bytes:
    """An 8-bit RGB PNG with the given header size (the data may not match it)."""
    if data is None:
        data = b"".join(b"\x00" + b"\x80" * 3 * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + extra
        + png_chunk(b"IDAT", zlib.compress(data))
        + png_chunk(b"IEND", b"")
    )


def jpeg_bytes(height: int = 48, width: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pattern_image(height, width, seed=3)).save(buffer, "JPEG")
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def symlink(path: Path, target: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)
    return path


def loop(path: Path) -> Path:
    symlink(path, path.name + ".other")
    symlink(path.with_name(path.name + ".other"), path.name)
    return path


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>\n'
HTML = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body></body></html>\n"

# name -> (builder, the reason rejected.tsv gives, as a regular expression)
BAD = {
    "zero bytes.jpg": (lambda p: write(p, b""), r"empty file \(0 bytes\)"),
    "truncated.jpg": (
        lambda p: write(p, jpeg_bytes()[: len(jpeg_bytes()) // 2]),
        r"image data is damaged or truncated",
    ),
    "header only.jpg": (
        lambda p: write(p, b"\xff\xd8\xff\xe0 truncated"),
        r"(header is damaged or truncated|starts like a JPEG file but is damaged)",
    ),
    "notes.jpg": (lambda p: write(p, b"shopping list\nmilk, eggs\n"), r"a text file, not image"),
    "download.png": (lambda p: write(p, HTML), r"an HTML page"),
    "drawing.svg": (lambda p: write(p, SVG), r"SVG is a vector format"),
    "drawing as.png": (lambda p: write(p, SVG), r"not an image Pillow can read: SVG"),
    "bomb.png": (
        lambda p: write(p, png_bytes(30000, 30000, data=b"\x00" * 100)),
        r"30000x30000 is 900 megapixels, over the limit of 200 \(max_input_megapixels\)",
    ),
    "text bomb.png": (
        # a compressed text chunk that inflates past Pillow's MAX_TEXT_CHUNK
        lambda p: write(
            p, png_bytes(4, 4, png_chunk(b"zTXt", b"C\0\0" + zlib.compress(b"A" * (4 << 20))))
        ),
        r"cannot be opened \(ValueError: Decompressed data too large",
    ),
    "thin.png": (
        lambda p: write_image(p, 4, 200),
        r"200x4: at 32 px its short side is 1 px, below min_input_side=16",
    ),
    "readme.txt": (lambda p: write(p, b"hello"), r"not an image file name \(\.txt\)"),
    "IMG_0001.HEIC": (lambda p: write(p, b"\0\0\0\x18ftypheic"), r"HEIC/HEIF photos"),
    "broken link.jpg": (
        lambda p: symlink(p, "gone.jpg"),
        r"broken symbolic link \(to gone.jpg\)",
    ),
    "loop.jpg": (loop, r"symbolic link loop"),
    "pipe.jpg": (fifo, r"not a regular file \(a named pipe, device or socket\)"),
}

IGNORED_FILES = {
    ".DS_Store": b"\0\0\0\1Bud1\0\0",
    "._holiday.jpg": b"\0\5\26\7\0\2\0\0Mac OS X",
    "Thumbs.db": b"\xd0\xcf\x11\xe0",
}


def make_bad(folder: Path, names=None) -> dict[str, str]:
    """Write the BAD files (all, or `names`) into folder; name -> expected reason."""
    out = {}
    for name in names or BAD:
        builder, reason = BAD[name]
        builder(folder / name)
        out[name] = reason
    return out


@pytest.fixture(autouse=True)
def no_hang():
    """A file that blocks (a named pipe) must fail the test, not hang the run."""
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("timed out: blocked?"))
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# ---- rejected files -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_is_rejected_with_a_specific_reason(tmp_path, name):
    reason = make_bad(tmp_path, [name])[name]
    verdict = check_file(tmp_path / name, "content", LIMITS)
    assert not verdict.ok and not verdict.ignored
    assert verdict.path == str(tmp_path / name) and verdict.role == "content"
    assert verdict.width == verdict.height == 0
    assert re.search(reason, verdict.reason), verdict.reason
    assert verdict.action and verdict.action != IGNORED
    assert str(tmp_path) not in verdict.reason  # the path is its own column


@pytest.mark.parametrize(
    "name",
    [n for n in BAD if n.endswith((".jpg", ".png")) and n not in ("thin.png", "loop.jpg")],
)
def test_load_image_raises_image_error_naming_the_file(tmp_path, name):
    make_bad(tmp_path, [name])
    with pytest.raises(ImageError) as caught:
        load_image(tmp_path / name, long_side=32)
    assert str(caught.value).startswith(f"{tmp_path / name}: {caught.value.reason}; ")


def test_broken_links_and_loops_are_errors_of_load_image_too(tmp_path):
    make_bad(tmp_path, ["broken link.jpg", "loop.jpg"])
    with pytest.raises(ImageError, match="broken symbolic link"):
        load_image(tmp_path / "broken link.jpg")
    with pytest.raises(ImageError, match="symbolic link loop"):
        load_image(tmp_path / "loop.jpg")
    with pytest.raises(ImageError, match="a folder, not a file"):
        load_image(tmp_path)


def test_file_names_that_are_not_utf8_are_rejected(tmp_path):
    path = write_image(tmp_path / os.fsdecode(b"caf\xe9.png"))
    verdict = check_file(path, "content", LIMITS)
    assert not verdict.ok and "not valid UTF-8" in verdict.reason


@pytest.mark.parametrize("name", list(IGNORED_FILES))
def test_hidden_and_system_files_are_ignored_not_errors(tmp_path, name):
    write(tmp_path / name, IGNORED_FILES[name])
    verdict = check_file(tmp_path / name, "style", LIMITS)
    assert not verdict.ok and verdict.ignored and verdict.action == IGNORED
    assert verdict.reason in ("hidden file", "system file")


def test_megapixel_limit_is_the_configured_one(tmp_path):
    write_image(tmp_path / "a.png", 100, 100)
    assert check_file(tmp_path / "a.png", "content", LIMITS).ok
    verdict = check_file(tmp_path / "a.png", "content", Limits(32, 16, 0.005))
    assert not verdict.ok
    assert verdict.reason == (
        "100x100 is 0.01 megapixels, over the limit of 0.005 (max_input_megapixels)"
    )
    assert verdict.action == "downscale it or raise the limit"


def test_pillows_own_limit_is_off_and_its_bomb_errors_never_escape(tmp_path, monkeypatch):
    assert Image.MAX_IMAGE_PIXELS is None  # nst.images turns it off; we apply our own
    write_image(tmp_path / "a.png", 48, 64)  # 3072 pixels
    # Should something turn Pillow's limit back on, its refusal is a rejection, not a crash.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # error above 2000 pixels
    with pytest.raises(ImageError, match="Pillow refused it as a possible decompression bomb"):
        open_checked(tmp_path / "a.png")
    verdict = check_file(tmp_path / "a.png", "content", LIMITS)
    assert not verdict.ok and "decompression bomb" in verdict.reason
    # Between the limit and twice it Pillow warns; with warnings as errors, still a rejection.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        verdict = check_file(tmp_path / "a.png", "content", LIMITS)
    assert not verdict.ok and "decompression bomb" in verdict.reason
    # An animated GIF checks each frame's size while seeking: the same holds there.
    frames = [Image.new("RGB", (64, 48), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert check_file(tmp_path / "a.gif", "content", LIMITS).ok


def test_an_unexpected_error_rejects_only_that_file(tmp_path, monkeypatch):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    real = images.decode

    def flaky(path, *args, **kwargs):
        if Path(path).name == "b.png":
            raise KeyError("surprise")
        return real(path, *args, **kwargs)

    monkeypatch.setattr("nst.validate.decode", flaky)
    verdicts = validate({"content": sorted(tmp_path.glob("*.png"))}, LIMITS, tmp_path / "c.json")
    assert [v.ok for v in verdicts] == [True, False, True]
    assert verdicts[1].reason == "unexpected error while reading it (KeyError: 'surprise')"


def test_whole_matrix_in_one_validate_call_with_cache(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    expected = make_bad(folder)
    for name, data in IGNORED_FILES.items():
        write(folder / name, data)
    write_image(folder / "good.png")
    files = sorted(folder.iterdir())
    cache = tmp_path / "cache.json"
    verdicts = {Path(v.path).name: v for v in validate({"content": files}, LIMITS, cache, 2)}
    assert set(verdicts) == {*expected, *IGNORED_FILES, "good.png", "loop.jpg.other"}
    assert [n for n, v in verdicts.items() if v.ok] == ["good.png"]
    assert {n for n, v in verdicts.items() if v.ignored} == set(IGNORED_FILES)
    # Second pass: verdicts come from the cache (same answers, nothing decoded).
    monkeypatch.setattr("nst.validate.decode", lambda *a, **k: pytest.fail("decoded again"))
    again = validate({"content": files}, LIMITS, cache, 2)
    assert {Path(v.path).name: v for v in again} == verdicts
    monkeypatch.undo()
    # A cache written by an older version is not trusted.
    cache.write_text('{"limits": "32:16:200", "files": {}}')
    assert validate({"content": files}, LIMITS, cache) == list(verdicts.values())


# ---- styles with nothing to transfer ---------------------------------------------------


def flat(path: Path, size: tuple[int, int], colour=(40, 120, 200), **options) -> Path:
    Image.new("RGB", size, colour).save(path, **options)
    return path


@pytest.mark.parametrize(
    "name, make, reason",
    [
        ("dot.png", lambda p: flat(p, (1, 1)), r"^1x1: a style image needs at least 16 px"),
        ("few.png", lambda p: write_image(p, 3, 5), r"^5x3: a style image needs at least 16"),
        ("15 high.png", lambda p: write_image(p, 15, 20), r"^20x15: .* at least 16 px"),
        ("flat.png", lambda p: flat(p, (64, 48)), r"single flat colour \(RGB 40, 120, 200\)"),
        ("flat.jpg", lambda p: flat(p, (64, 48), quality=50), r"single flat colour"),
        (
            "flat gray 16-bit.png",
            lambda p: Image.new("I;16", (40, 40), 30000).save(p) or p,
            r"single flat colour",
        ),
    ],
)
def test_styles_with_no_texture_are_rejected_with_the_reason(tmp_path, name, make, reason):
    path = make(tmp_path / name)
    verdict = check_file(path, "style", LIMITS)
    assert not verdict.ok and not verdict.ignored
    assert re.search(reason, verdict.reason), verdict.reason
    assert "style image" in verdict.action
    # The same file is a usable content: a flat or tiny photo can still be painted over.
    assert check_file(path, "content", LIMITS).ok


def test_small_or_nearly_flat_styles_with_some_texture_are_accepted(tmp_path):
    assert check_file(write_image(tmp_path / "16.png", 16, 16), "style", LIMITS).ok
    ramp = np.tile(np.linspace(100, 110, 64, dtype=np.uint8), (48, 1))  # a faint gradient
    Image.fromarray(np.stack([ramp] * 3, axis=-1)).save(tmp_path / "ramp.png")
    assert check_file(tmp_path / "ramp.png", "style", LIMITS).ok
    two = np.full((48, 64, 3), 80, np.uint8)
    two[:, 32:] = (80, 80, 90)  # one channel differs on one half: not a single colour
    Image.fromarray(two).save(tmp_path / "two.png")
    assert check_file(tmp_path / "two.png", "style", LIMITS).ok


# ---- accepted files: every mode loads as the right RGB --------------------------------


def rgb_source() -> Image.Image:
    return Image.fromarray(pattern_image(48, 64, seed=5))


def as_rgb(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).numpy()


def white_composite(rgba: Image.Image) -> np.ndarray:
    rgba = np.asarray(rgba.convert("RGBA"), dtype=np.float32) / 255
    return rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])


def _mode_cases():
    src = rgb_source()
    gray = src.convert("L")
    alpha = Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1)))
    rgba = src.copy()
    rgba.putalpha(alpha)
    la = gray.copy()
    la.putalpha(alpha)
    gray_f = np.asarray(gray, dtype=np.float32) / 255
    return {
        # name: (image to save, expected (H, W, 3) in [0, 1], tolerance)
        "gray.png": (gray, np.repeat(gray_f[..., None], 3, 2), 1e-6),
        "palette.png": (src.quantize(64), np.asarray(src.quantize(64).convert("RGB")) / 255, 1e-6),
        "rgba.png": (rgba, white_composite(rgba), 1 / 255),  # 8-bit compositing
        "la.png": (la, white_composite(la), 1 / 255),
        "cmyk.tif": (
            src.convert("CMYK"),
            np.asarray(src.convert("CMYK").convert("RGB")) / 255,
            1e-6,
        ),
        "cmyk.jpg": (src.convert("CMYK"), np.asarray(src) / 255, 0.2),
        "gray16.png": (
            Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257),
            np.repeat(gray_f[..., None], 3, 2),
            1e-6,
        ),
        "gray16.tif": (
            Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257),
            np.repeat(gray_f[..., None], 3, 2),
            1e-6,
        ),
        "float.tif": (Image.fromarray(gray_f), np.repeat(gray_f[..., None], 3, 2), 1e-6),
        "float 0-255.tif": (
            Image.fromarray(gray_f * 255 / gray_f.max()),
            np.repeat((gray_f / gray_f.max())[..., None], 3, 2),
            1e-5,
        ),
    }


MODE_CASES = list(_mode_cases())


def tiff_rgb16(pixels: np.ndarray) -> bytes:
    """An uncompressed 16-bit RGB TIFF (Pillow cannot write one)."""
    height, width, _ = pixels.shape
    data = pixels.astype("<u2").tobytes()
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, 0), (259, 3, 1, 1)]
    tags += [(262, 3, 1, 2), (273, 4, 1, 0), (277, 3, 1, 3), (278, 4, 1, height)]
    tags += [(279, 4, 1, len(data)), (284, 3, 1, 1)]
    ifd_size = 2 + 12 * len(tags) + 4
    bits_at = 8 + ifd_size
    data_at = bits_at + 6
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        value = {258: bits_at, 273: data_at}.get(tag, value)
        packed = (
            struct.pack("<HH", value, 0) if kind == 3 and count == 1 else struct.pack("<I", value)
        )
        out += struct.pack("<HHI", tag, kind, count) + packed
    return out + struct.pack("<I", 0) + struct.pack("<3H", 16, 16, 16) + data


@pytest.mark.parametrize("name", MODE_CASES)
def test_every_mode_is_accepted_and_loads_as_rgb(tmp_path, name):
    image, expected, tolerance = _mode_cases()[name]
    image.save(tmp_path / name)
    verdict = check_file(tmp_path / name, "content", LIMITS)
    assert verdict.ok and (verdict.width, verdict.height) == (64, 48) and verdict.reason == ""
    out = load_image(tmp_path / name)
    assert out.shape == (3, 48, 64) and out.dtype == torch.float32
    if name == "cmyk.jpg":  # lossy: only the picture, not the exact values
        assert np.abs(as_rgb(out) - expected).mean() < 0.05
    else:
        np.testing.assert_allclose(as_rgb(out), expected, atol=tolerance + 1e-6)
    assert load_image(tmp_path / name, long_side=32).shape == (3, 24, 32)


def test_16_bit_rgb_tiff_is_accepted(tmp_path):
    pixels = (np.random.default_rng(0).random((48, 64, 3)) * 65535).astype(np.uint16)
    write(tmp_path / "deep.tif", tiff_rgb16(pixels))
    assert check_file(tmp_path / "deep.tif", "content", LIMITS).ok
    out = load_image(tmp_path / "deep.tif")
    np.testing.assert_allclose(as_rgb(out), (pixels >> 8) / 255, atol=1e-6)


@pytest.mark.parametrize("name", ["anim.gif", "anim.png", "anim.webp"])
def test_animated_files_use_the_first_frame_and_say_so(tmp_path, name):
    frames = [Image.new("RGB", (64, 48), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=100)
    # A content: as a style, a flat first frame would be rejected (no texture to transfer).
    verdict = check_file(tmp_path / name, "content", LIMITS)
    assert verdict.ok and verdict.reason == "3 frames: the first is used"
    out = load_image(tmp_path / name)
    assert out[0].mean() > 0.95 and out[1].mean() < 0.05 and out[2].mean() < 0.05


def test_exif_rotation_is_applied_and_the_size_is_reported_after_it(tmp_path):
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[:8, :8] = 255  # a white mark in the stored top-left corner
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    image.save(tmp_path / "portrait.jpg", exif=exif.tobytes(), quality=95)
    verdict = check_file(tmp_path / "portrait.jpg", "content", LIMITS)
    assert verdict.ok and (verdict.width, verdict.height) == (48, 64)
    out = load_image(tmp_path / "portrait.jpg")
    assert out.shape == (3, 64, 48)
    assert out[:, :8, -8:].mean() > 0.9 and out[:, :8, :8].mean() < 0.1  # now top-right
    assert load_image(tmp_path / "portrait.jpg", long_side=32).shape == (3, 32, 24)


def test_big_rotated_tiff_keeps_its_orientation_when_reduced(tmp_path):
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:20, :20] = 255  # stored top-left
    Image.fromarray(pixels).save(tmp_path / "scan.tif", tiffinfo={0x0112: 6})
    verdict = check_file(tmp_path / "scan.tif", "content", LIMITS)  # 200 // 64: reduced 3x
    assert verdict.ok and (verdict.width, verdict.height) == (100, 200)
    out = load_image(tmp_path / "scan.tif", long_side=32)
    assert out.shape == (3, 32, 16) and out[:, :2, -2:].mean() > 0.9


def test_phone_mpo_jpeg_is_a_jpeg_not_an_animation(tmp_path):
    image = Image.fromarray(pattern_image(48, 64, seed=4))
    preview = image.resize((32, 24))
    image.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[preview])
    with Image.open(tmp_path / "phone.jpg") as opened:
        assert opened.format == "MPO" and opened.n_frames == 2
    verdict = check_file(tmp_path / "phone.jpg", "content", LIMITS)
    assert verdict.ok and verdict.reason == "" and (verdict.width, verdict.height) == (64, 48)


def test_big_images_are_reduced_before_conversion_without_changing_the_result(tmp_path):
    image = Image.fromarray(pattern_image(750, 1001, seed=2))
    image.save(tmp_path / "big.png")
    small = load_image(tmp_path / "big.png", long_side=100)
    assert small.shape == (3, 75, 100)  # 1001 // 200: reduced 5x first
    direct = images.resize(load_image(tmp_path / "big.png"), (75, 100))
    assert (small - direct).abs().mean() < 0.01


# ---- ICC profiles ---------------------------------------------------------------------


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_))
        + ascii_
        + struct.pack(">IIHB", 0, 0, 0, 0)
        + b"\0" * 67
    )


def icc_profile(space: bytes, tags: dict[bytes, bytes]) -> bytes:
    """A minimal ICC v2 display profile (matrix/TRC), built byte by byte (works offline)."""
    table, data = b"", b""
    start = 128 + 4 + 12 * len(tags)
    for signature, body in tags.items():
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", start + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", start + len(data))
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntr"
        + space
        + b"XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 28
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


D50 = (0.9642, 1.0, 0.8249)
SRGB_RED, SRGB_GREEN, SRGB_BLUE = (
    (0.4360747, 0.2225045, 0.0139322),
    (0.3850649, 0.7168786, 0.0971045),
    (0.1430804, 0.0606169, 0.7141733),
)
# An RGB space whose "red" is sRGB's blue and vice versa: the conversion must swap them.
SWAPPED = icc_profile(
    b"RGB ",
    {
        b"desc": _desc("swapped red-blue"),
        b"wtpt": _xyz(*D50),
        b"rXYZ": _xyz(*SRGB_BLUE),
        b"gXYZ": _xyz(*SRGB_GREEN),
        b"bXYZ": _xyz(*SRGB_RED),
        **{trc: _curve(2.2) for trc in (b"rTRC", b"gTRC", b"bTRC")},
    },
)
LINEAR_GRAY = icc_profile(
    b"GRAY", {b"desc": _desc("linear gray"), b"wtpt": _xyz(*D50), b"kTRC": _curve(1.0)}
)
PATCHES = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)]


def patches(mode: str = "RGB") -> Image.Image:
    """Four 16x16 patches side by side: red, green, blue, grey."""
    image = Image.new(mode, (64, 32))
    for i, colour in enumerate(PATCHES):
        image.paste(colour if mode == "RGB" else (*colour, 255), (16 * i, 0, 16 * i + 16, 32))
    return image


def patch_colours(image: torch.Tensor) -> np.ndarray:
    return np.array(
        [(image[:, 4:12, 16 * i + 4 : 16 * i + 12] * 255).mean((1, 2)).tolist() for i in range(4)]
    )


@pytest.mark.parametrize("name", ["swapped.png", "swapped.jpg", "swapped.tif", "swapped rgba.png"])
def test_icc_profiles_are_converted_to_srgb(tmp_path, name):
    image = patches("RGBA" if "rgba" in name else "RGB")
    options = {"quality": 98, "subsampling": 0} if name.endswith(".jpg") else {}
    image.save(tmp_path / name, icc_profile=SWAPPED, **options)
    verdict = check_file(tmp_path / name, "style", LIMITS)
    assert verdict.ok
    assert verdict.reason == "colours converted from ICC profile 'swapped red-blue' to sRGB"
    colours = patch_colours(load_image(tmp_path / name))
    # Raw values would be red, green, blue, grey; in sRGB red and blue trade places.
    expected = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (129, 129, 129)]
    np.testing.assert_allclose(colours, expected, atol=4)


def test_icc_gray_profile_and_alpha(tmp_path):
    gray = Image.new("L", (32, 16), 128)
    gray.save(tmp_path / "g.png", icc_profile=LINEAR_GRAY)
    out = load_image(tmp_path / "g.png")
    # Linear 0.5 is sRGB 188, not the stored 128.
    assert abs(float(out.mean()) * 255 - 188) < 1.5
    la = Image.new("LA", (32, 16), (128, 0))  # transparent on the left
    la.paste((128, 255), (16, 0, 32, 16))
    la.save(tmp_path / "la.png", icc_profile=LINEAR_GRAY)
    out = load_image(tmp_path / "la.png")
    assert torch.allclose(out[:, :, :16], torch.ones(3, 16, 16))  # transparent: white
    assert abs(float(out[:, :, 16:].mean()) * 255 - 188) < 1.5


def test_a_broken_or_mismatched_icc_profile_keeps_the_values_and_says_so(tmp_path):
    patches().save(tmp_path / "broken.png", icc_profile=b"garbage, not a profile")
    Image.new("L", (32, 16), 128).save(tmp_path / "mismatch.png", icc_profile=SWAPPED)
    for name in ("broken.png", "mismatch.png"):
        verdict = check_file(tmp_path / name, "content", LIMITS)
        assert verdict.ok and verdict.reason.startswith("embedded ICC profile not usable")
        assert verdict.reason.endswith("colours used as stored")
    np.testing.assert_allclose(
        patch_colours(load_image(tmp_path / "broken.png")), PATCHES, atol=0.01
    )


# ---- file names ------------------------------------------------------------------------

NASTY_NAMES = [
    "my holiday photo.png",
    "ümlaut café.jpg",
    'it\'s "quoted".png',
    "$(touch PWNED).png",
    "`touch PWNED`; rm -rf x.png",
    "-rf.png",
    "--help.png",
    "new\nline.png",
    "a.jpg",
    "a.png",
    "A.png",
]


def test_nasty_names_are_accepted_and_get_distinct_keys(tmp_path):
    paths = [write_image(tmp_path / name, seed=i) for i, name in enumerate(NASTY_NAMES)]
    for path in paths:
        assert check_file(path, "content", LIMITS).ok, path.name
    keys = image_keys(paths)
    assert len({k.casefold() for k in keys.values()}) == len(paths)
    assert keys[tmp_path / "a.jpg"] == "a_jpg" and keys[tmp_path / "A.png"] == "A_png"
    assert keys[tmp_path / "a.png"] == "a_png_2"  # a.png and A.png differ only by case
    assert keys[tmp_path / "$(touch PWNED).png"] == "$(touch PWNED)"
    assert not (tmp_path / "PWNED").exists()


def test_keys_never_collide_even_across_unicode_forms_and_suffixed_names(tmp_path):
    names = ["café.png", "cafe\u0301.png", "a.jpg", "a.png", "a_jpg.png", "x.JPG", "X.jpg"]
    keys = image_keys([tmp_path / n for n in names])
    assert len({k.casefold() for k in keys.values()}) == len(names)
    assert image_keys(reversed([tmp_path / n for n in names])) == keys  # order-independent


def test_symlink_to_a_file_is_accepted(tmp_path):
    write_image(tmp_path / "real.png")
    symlink(tmp_path / "link.png", "real.png")
    verdict = check_file(tmp_path / "link.png", "content", LIMITS)
    assert verdict.ok and verdict.path == str(tmp_path / "link.png")


# ---- pairs sheet -----------------------------------------------------------------------


@pytest.fixture
def folders(tmp_path):
    for name in ("cat.png", "dog.png"):
        write_image(tmp_path / "content" / name)
    for name in ("wave.png", "starry.png"):
        write_image(tmp_path / "style" / name)
    write_image(tmp_path / "secret.png")
    (tmp_path / "content" / "sub").mkdir()
    write_image(tmp_path / "content" / "sub" / "x.png")
    return tmp_path, tmp_path / "content", tmp_path / "style"


SHEET_PROBLEMS = {
    "unknown.png\twave.png": r"row \d+: .*content/unknown.png does not exist",
    "cat.png\tnope.png": r"row \d+: .*style/nope.png does not exist",
    "../secret.png\twave.png": r"row \d+: '../secret.png': give a file name inside",
    "cat.png\t../secret.png": r"row \d+: '../secret.png': give a file name inside",
    "cat.png\t{secret}": r"row \d+: '/.*secret.png': give a file name inside",
    "sub/x.png\twave.png": r"row \d+: 'sub/x.png': only files directly in",
    "cat.png\twave.png:0+starry.png": r"blend weight of 'wave.png' must be a positive number",
    "cat.png\twave.png:x+starry.png": r"blend weight 'x' of 'wave.png' is not a number",
    "cat.png\twave.png:nan+starry.png": r"blend weight of 'wave.png' must be a positive",
    "dog.png\twave.png\tlots": r"style_weight 'lots' is not a number",
    "dog.png\twave.png\t-1": r"style_weight must be a non-negative number",
    "dog.png\twave.png\tinf": r"style_weight must be a non-negative number",
}


@pytest.mark.parametrize("row", list(SHEET_PROBLEMS))
def test_sheet_problems_are_sheet_errors(folders, row):
    root, content, style = folders
    sheet = root / "pairs.tsv"
    sheet.write_text("content\tstyle\tstyle_weight\n" + row.format(secret=root / "secret.png"))
    with pytest.raises(SheetError, match=SHEET_PROBLEMS[row]):
        read_sheet(sheet, content, style)


def test_duplicate_rows_including_equal_blends(folders):
    root, content, style = folders
    sheet = root / "pairs.tsv"
    sheet.write_text(
        "content\tstyle\n"
        "cat.png\twave.png\n"
        "dog.png\twave.png:1+starry.png:1\n"
        "cat.png\twave.png\n"
        "dog.png\twave.png:2+starry.png:2\n"
        "cat.png\twave.png:0.33331+starry.png:0.66669\n"
        "cat.png\twave.png:0.33332+starry.png:0.66668\n"
    )
    with pytest.raises(SheetError) as caught:
        read_sheet(sheet, content, style)
    message = str(caught.value)
    assert "row 4: duplicates row 2" in message and "row 5: duplicates row 3" in message
    assert "row 7: duplicates row 6" in message  # the same output name (weights to 3 digits)


def test_sheet_saved_by_a_spreadsheet_with_a_bom(folders):
    root, content, style = folders
    sheet = root / "pairs.tsv"
    sheet.write_bytes("content\tstyle\r\ncat.png\twave.png\r\n".encode("utf-8-sig"))
    assert [p.content.name for p in read_sheet(sheet, content, style)] == ["cat.png"]


def test_verdict_fields_are_what_the_tables_hold():
    fields = list(Verdict.__dataclass_fields__)
    assert fields == ["path", "role", "ok", "width", "height", "reason", "action", "ignored"]
