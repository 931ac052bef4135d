"""Reading the image files real collections contain, and writing results atomically."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from conftest import pattern_image
from nst.images import ImageError, image_size, load_image, resize_long_side, save_png


def rgb(h=30, w=40):
    return pattern_image(h, w, seed=1)


def test_rgb_png_roundtrip(tmp_path):
    Image.fromarray(rgb()).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.shape == (3, 30, 40) and image.dtype == torch.float32
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy() * 255, rgb(), atol=1e-3)


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "YCbCr", "I;16", "I", "F"])
def test_modes_become_rgb(tmp_path, mode):
    source = Image.fromarray(rgb())
    if mode == "I;16":
        image = Image.fromarray(np.asarray(source.convert("L"), dtype=np.uint16) * 257)
        assert image.mode == "I;16"
    elif mode == "F":
        image = Image.fromarray(np.asarray(source.convert("L"), dtype=np.float32) / 255)
    else:
        image = source.convert(mode)
    suffix = ".tif" if mode in ("F", "CMYK", "I;16", "I", "YCbCr") else ".png"
    image.save(tmp_path / f"x{suffix}")
    out = load_image(tmp_path / f"x{suffix}")
    assert out.shape == (3, 30, 40) and 0 <= out.min() and out.max() <= 1
    if mode in ("L", "I;16", "F"):  # grayscale keeps its values
        gray = np.asarray(source.convert("L"), dtype=np.float32) / 255
        np.testing.assert_allclose(out[0].numpy(), gray, atol=2e-3)
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[:, 5:, 3] = 255  # ... opaque on the right half, transparent on the left
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgba, "RGBA").convert("LA").save(tmp_path / "la.png")
    out = load_image(tmp_path / "a.png")
    assert torch.allclose(out[:, :, :5], torch.ones(3, 10, 5))  # white
    assert torch.allclose(out[:, :, 5:], torch.tensor([1.0, 0, 0]).view(3, 1, 1).expand(3, 10, 5))
    assert torch.allclose(load_image(tmp_path / "la.png")[:, :, :5], torch.ones(3, 10, 5))


def test_palette_with_transparency(tmp_path):
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    image.paste(1, (4, 0, 8, 8))
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    out = load_image(tmp_path / "p.png")
    assert torch.allclose(out[:, :, :4], torch.ones(3, 8, 4))  # transparent -> white
    assert torch.allclose(out[:, 0, 6], torch.tensor([0.0, 1.0, 0.0]))


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(rgb(30, 40))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert image_size(tmp_path / "r.jpg") == (40, 30)
    assert load_image(tmp_path / "r.jpg").shape == (3, 40, 30)


def test_16_bit_rgb_png(tmp_path):
    # Pillow writes no 16-bit RGB PNG, so build one: IHDR bit depth 16, colour type 2.
    pixels = (np.random.default_rng(0).random((6, 5, 3)) * 65535).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 6, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    (tmp_path / "deep.png").write_bytes(png)
    out = load_image(tmp_path / "deep.png")
    assert out.shape == (3, 6, 5)
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), pixels / 65535, atol=1 / 255)


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    out = load_image(tmp_path / "a.gif")
    assert out[0].mean() > 0.9 and out[2].mean() < 0.1


def test_truncated_jpeg_is_an_error(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(rgb(64, 64)).save(buffer, "JPEG")
    (tmp_path / "t.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="t.jpg: the image data is damaged or truncated"):
        load_image(tmp_path / "t.jpg")


@pytest.mark.parametrize("content", [b"", b"hello, not an image", b"<html><body>404</body></html>"])
def test_non_images_are_errors(tmp_path, content):
    (tmp_path / "x.jpg").write_bytes(content)
    with pytest.raises(ImageError, match="x.jpg: not an image Pillow can read"):
        load_image(tmp_path / "x.jpg")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # A 30000 x 30000 PNG header with almost no data: refused from the header alone.
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + chunk(b"IEND", b"")
    )
    (tmp_path / "bomb.png").write_bytes(png)
    with pytest.raises(ImageError, match="30000x30000 is 900 megapixels, over the limit of 200"):
        load_image(tmp_path / "bomb.png")


def test_resize_keeps_the_aspect_ratio(tmp_path):
    Image.fromarray(rgb(300, 451)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", long_side=128).shape == (3, 85, 128)
    assert resize_long_side(torch.rand(2, 3, 50, 20), 100).shape == (2, 3, 100, 40)


def test_save_png_is_atomic_and_keeps_metadata(tmp_path):
    image = torch.rand(3, 12, 16)
    save_png(image, tmp_path / "out" / "a.png", {"nst:fingerprint": "abc"})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    with Image.open(tmp_path / "out" / "a.png") as png:
        assert png.text["nst:fingerprint"] == "abc"
    assert torch.allclose(load_image(tmp_path / "out" / "a.png"), image, atol=0.5 / 255 + 1e-6)


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    save_png(torch.zeros(3, 4, 4), tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "save", broken_save, raising=False)
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="No space left"):
        save_png(torch.ones(3, 4, 4), tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_stale_temporaries_of_given_paths_are_removed(tmp_path):
    from nst.io import remove_stale_parts

    (tmp_path / ".a.png.x1y2z3.part").write_bytes(b"half")
    (tmp_path / ".b.png.q9w8e7.part").write_bytes(b"another job's")
    (tmp_path / "a.png").write_bytes(b"done")
    assert remove_stale_parts([tmp_path / "a.png", tmp_path / "missing" / "c.png"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.png.q9w8e7.part", "a.png"]
