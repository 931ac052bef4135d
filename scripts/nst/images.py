"""Reading any photo a user may have into an RGB tensor, and writing results.

Handles what real collections contain: EXIF rotation, ICC profiles (converted to
sRGB), grayscale, palette, alpha (composited on white), CMYK, 16-bit and float
images, animated files (first frame) and oversized images (refused before they
are decoded).
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageFile, ImageOps, PngImagePlugin
from torch import Tensor

from .io import atomic_write

# A truncated file is an error, not a half-grey picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# We check the pixel count ourselves, with a message that says what to do.
Image.MAX_IMAGE_PIXELS = None

DEFAULT_MAX_MEGAPIXELS = 200.0


class ImageError(ValueError):
    """An input image cannot be used; the message names the file and the fix."""


def open_checked(path: str | os.PathLike, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS):
    """Open (header only) and refuse images whose decoded size would be unreasonable."""
    try:
        image = Image.open(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except Image.UnidentifiedImageError:
        raise ImageError(
            f"{path}: not an image Pillow can read (empty, text, HTML or an unsupported "
            "format such as SVG); convert it to PNG or JPEG or remove it"
        ) from None
    except OSError as err:
        raise ImageError(f"{path}: cannot be read ({err})") from None
    megapixels = image.width * image.height / 1e6
    if megapixels > max_megapixels:
        image.close()
        raise ImageError(
            f"{path}: {image.width}x{image.height} is {megapixels:.0f} megapixels, over the "
            f"limit of {max_megapixels:g} (max_input_megapixels); downscale it or raise the limit"
        )
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert an embedded ICC profile to sRGB, so colours match what viewers show."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return image
    out_mode = "RGBA" if "A" in image.mode else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode=out_mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: use the pixel values as they are


def _to_float_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1], whatever the mode."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2)
    if mode == "F":
        gray = np.asarray(image, dtype=np.float32)
        top = float(np.nanmax(gray)) if gray.size else 1.0
        gray = np.nan_to_num(gray / top if top > 1.0 else gray)
        return np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2)
    if mode in ("P", "PA") or "A" in mode or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return rgb


def load_image(
    path: str | os.PathLike,
    long_side: int | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> Tensor:
    """Read an image as a (3, H, W) float tensor in [0, 1], optionally resized.

    Raises ImageError with the file name and the reason for anything unusable.
    """
    with open_checked(path, max_megapixels) as image:
        try:
            image.seek(0)  # animated GIF/APNG/WebP, multi-page TIFF: the first frame
            if long_side and image.format == "JPEG":
                # Let libjpeg decode at a reduced scale: much faster for big photos.
                image.draft("RGB", (long_side, long_side))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. palette transparency notices
                image.load()
                image = ImageOps.exif_transpose(image)
                image = _to_srgb(image)
                array = _to_float_rgb(image)
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageError(
                f"{path}: the image data is damaged or truncated ({err}); re-export or remove it"
            ) from None
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    if long_side:
        tensor = resize_long_side(tensor, long_side)
    return tensor


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) with the longer side equal to `long_side`, aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_long_side(image: Tensor, long_side: int) -> Tensor:
    """Antialiased bicubic resize of a (3, H, W) or (B, 3, H, W) tensor."""
    size = scaled_size(image.shape[-2], image.shape[-1], long_side)
    return resize(image, size)


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    batch = image if image.dim() == 4 else image[None]
    out = F.interpolate(batch, size=size, mode="bicubic", antialias=True, align_corners=False)
    out = out.clamp(0, 1)
    return out if image.dim() == 4 else out[0]


def save_png(image: Tensor, path: str | os.PathLike, text: dict[str, str] | None = None) -> None:
    """Write a (3, H, W) tensor in [0, 1] as an 8-bit PNG, atomically, with text chunks."""
    array = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    pil = Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), "RGB")
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value)
    with atomic_write(path) as handle:
        pil.save(handle, format="PNG", pnginfo=info, compress_level=6)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) after EXIF rotation, read from the header only."""
    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)
