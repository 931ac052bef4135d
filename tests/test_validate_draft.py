"""Validation decodes JPEGs at a reduced DCT scale (draft mode) to keep up with big
photo collections: it must still reject every damaged file that a full decode rejects,
and accept files with the size and orientation that the pair jobs then load."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from conftest import pattern_image
from nst.images import ImageError, decode, load_image, resize, scaled_size
from nst.validate import Limits, check_file

LIMITS = Limits(size=96, min_side=16, max_megapixels=200)


def photo_jpeg(height: int, width: int, progressive: bool = False, exif=None) -> bytes:
    """A JPEG with a photo's noise, so that its entropy-coded data is not trivial."""
    rng = np.random.default_rng(5)
    noise = rng.integers(-20, 21, size=(height, width, 3))
    pixels = np.clip(pattern_image(height, width, seed=3) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    extra = {"exif": exif.tobytes()} if exif is not None else {}
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, progressive=progressive, **extra)
    return buffer.getvalue()


def loads(path, long_side=None) -> bool:
    try:
        load_image(path, long_side)
    except ImageError:
        return False
    return True


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_a_jpeg_cut_anywhere_is_rejected_as_a_full_decode_rejects_it(tmp_path, progressive):
    data = photo_jpeg(384, 512, progressive)  # checked at 1/8 scale
    path = tmp_path / "cut.jpg"
    cuts = [*range(0, len(data), len(data) // 50), *range(len(data) - 4, len(data) + 1)]
    for cut in cuts:
        path.write_bytes(data[:cut])
        verdict = check_file(path, "content", LIMITS)
        # A full decode, and the pair job's load at the working size, agree with it.
        assert verdict.ok == loads(path) == loads(path, LIMITS.size), (cut, verdict)
        assert verdict.ok == (cut == len(data)), (cut, verdict)  # even a missing EOI


def test_a_big_photo_is_checked_at_an_eighth_of_its_size(tmp_path):
    (tmp_path / "big.jpg").write_bytes(photo_jpeg(768, 1024))
    checked = decode(tmp_path / "big.jpg", LIMITS.size, check_only=True)
    assert (checked.width, checked.height) == (1024, 768)
    assert checked.image.shape == (3, 96, 128)  # 1/8 scale: 128 x 96 covers 96 x 72
    assert load_image(tmp_path / "big.jpg", LIMITS.size).shape == (3, 72, 96)


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_rotated_photo_is_checked_and_loaded_the_same_way_up(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation  # stored landscape, shown portrait
    path = tmp_path / "portrait.jpg"
    path.write_bytes(photo_jpeg(768, 1024, exif=exif))
    verdict = check_file(path, "content", LIMITS)
    assert verdict.ok and (verdict.width, verdict.height) == (768, 1024)
    checked = decode(path, LIMITS.size, check_only=True).image
    loaded = load_image(path, LIMITS.size)
    assert loaded.shape[-2:] == scaled_size(verdict.height, verdict.width, LIMITS.size)
    assert checked.shape == (3, 128, 96)  # upright too
    assert (resize(checked, loaded.shape[-2:]) - loaded).abs().mean() < 0.03  # same picture


def test_truncated_images_stay_errors_whatever_the_jobs_import():
    import nst.quality  # noqa: F401  (every module that reads input images)
    import nst.shard  # noqa: F401
    import nst.style_targets  # noqa: F401

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
