"""Reading any photo a user may have into an RGB tensor, and writing results.

Handles what real collections contain: EXIF rotation, ICC profiles (converted to
sRGB), grayscale, palette, alpha (composited on white), CMYK, 16-bit and float
images, animated files (first frame) and oversized images (refused before they
are decoded).  Anything unusable raises ImageError, whose message names the file,
what is wrong and what to do; nothing else escapes (Pillow's decompression-bomb
error included).
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, PngImagePlugin
from torch import Tensor

from .display import to_srgb, upright
from .geometry import scaled_size
from .io import atomic_write

# A truncated file is an error, not a half-grey picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# We check the pixel count ourselves, with a message that says what to do.
Image.MAX_IMAGE_PIXELS = None

DEFAULT_MAX_MEGAPIXELS = 200.0

_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_NOT_AN_IMAGE = "not an image Pillow can read"
_CONVERT = "convert it to PNG or JPEG or remove it"


class ImageError(ValueError):
    """An input image cannot be used; the message names the file and the fix.

    `reason` (what is wrong) and `action` (what to do) are the message's two parts,
    for tables such as results/inputs/rejected.tsv.
    """

    def __init__(self, message: str, reason: str = "", action: str = ""):
        super().__init__(message)
        self.reason = reason or message
        self.action = action


def _error(path: str | os.PathLike, reason: str, action: str) -> ImageError:
    return ImageError(f"{path}: {reason}; {action}", reason, action)


@dataclass
class Decoded:
    """What load_image reads, with what a person checking the inputs wants to know."""

    image: Tensor  # (3, H, W) float in [0, 1], at the requested long side (check_only: as decoded)
    width: int  # of the file as displayed (after EXIF rotation), before resizing
    height: int
    notes: list[str] = field(default_factory=list)  # e.g. "2 frames: the first is used"


def _bomb_error(path: str | os.PathLike, err: Exception) -> ImageError:
    return _error(
        path,
        f"Pillow refused it as a possible decompression bomb ({err})",
        "downscale it or remove it",
    )


def _check_entry(path: str | os.PathLike) -> None:
    """Refuse what is not a regular, non-empty file before Pillow touches it.

    A named pipe would block the run forever; a link loop or a missing target
    should say so rather than "file not found".
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise _error(
                path, f"broken symbolic link (to {os.readlink(path)})", "fix or remove the link"
            ) from None
        raise _error(path, "file not found", "check the path") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _error(path, "symbolic link loop", "fix or remove the link") from None
        raise _error(
            path, f"cannot be read ({err.strerror or err})", "fix permissions or remove the file"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise _error(path, "a folder, not a file", "move it out of the input folder")
    if not stat.S_ISREG(info.st_mode):
        raise _error(
            path,
            "not a regular file (a named pipe, device or socket)",
            "move it out of the input folder",
        )
    if info.st_size == 0:
        raise _error(path, f"{_NOT_AN_IMAGE}: empty file (0 bytes)", "re-copy or remove it")


_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG": "PNG",
    b"GIF8": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


def _sniff(path: str | os.PathLike) -> tuple[str, str]:
    """(what the file seems to be, what to do) for a file Pillow does not recognise."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})", "fix permissions or remove the file"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        return "empty file (0 bytes)", "re-copy or remove it"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return "an HTML page (a saved web page or a download error?)", "download the image again"
    if b"<svg" in text:
        return "SVG, a vector format", "render it to PNG first"
    if text.startswith(b"<?xml"):
        return "an XML document", _CONVERT
    if head.startswith(b"%PDF"):
        return "a PDF document", "export the picture as PNG or JPEG"
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("ascii", "replace").strip()
        return f"an ISO media file (brand {brand!r}: HEIC, AVIF or video)", _CONVERT
    kind = "WebP" if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None
    kind = kind or next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind:
        return f"starts like a {kind} file but is damaged or truncated", "re-export or remove it"
    if _looks_like_text(head):
        return "a text file, not image data", "remove it or move it out of the input folder"
    return f"an unknown format (starts with {head[:8].hex(' ')})", _CONVERT


def _looks_like_text(head: bytes) -> bool:
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return all(c.isprintable() or c in "\t\r\n\f" for c in text)
    return False


def open_checked(path: str | os.PathLike, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS):
    """Open (header only) and refuse images whose decoded size would be unreasonable."""
    _check_entry(path)
    try:
        image = Image.open(path)
    except Image.UnidentifiedImageError:
        what, action = _sniff(path)
        raise _error(path, f"{_NOT_AN_IMAGE}: {what}", action) from None
    except _BOMB as err:  # only if something turned Pillow's own limit back on
        raise _bomb_error(path, err) from None
    except OSError as err:
        if err.errno is not None:  # the disk or the file system, not the data
            raise _error(
                path, f"cannot be read ({err.strerror or err})", "check the disk or remove it"
            ) from None
        raise _error(
            path, f"the image header is damaged or truncated ({err})", "re-export or remove it"
        ) from None
    except Exception as err:  # plugins raise ValueError, struct.error, ... on odd headers
        raise _error(
            path, f"cannot be opened ({type(err).__name__}: {err})", "re-export or remove it"
        ) from None
    megapixels = image.width * image.height / 1e6
    if megapixels > max_megapixels:
        image.close()
        raise _error(
            path,
            f"{image.width}x{image.height} is {megapixels:.{0 if megapixels >= 10 else 2}f} "
            "megapixels, over the "
            f"limit of {max_megapixels:g} (max_input_megapixels)",
            "downscale it or raise the limit",
        )
    return image


def _to_float_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1], whatever the mode."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2)
    if mode == "F":
        gray = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(gray.max()) if gray.size else 1.0
        gray = gray / top if top > 1.0 else gray
        return np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2)
    if mode in ("P", "PA") or "A" in mode or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return rgb


# Modes that Image.reduce averages correctly (no alpha to premultiply, no palette).
_REDUCIBLE = ("L", "RGB", "CMYK", "I", "F")


def _shrink(image: Image.Image, long_side: int | None) -> Image.Image:
    """Box-reduce a big image to no less than twice `long_side` before float conversion.

    A 200-megapixel PNG would otherwise take several GB as float32.  The final
    antialiased resize does the rest, so the result barely changes.
    """
    if not long_side or image.mode not in _REDUCIBLE:
        return image
    factor = max(image.size) // (2 * long_side)
    return image.reduce(factor) if factor >= 2 else image


def decode(
    path: str | os.PathLike,
    long_side: int | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    check_only: bool = False,
) -> Decoded:
    """load_image, with the file's displayed size and notes on what was done to it.

    check_only (validation) decodes a JPEG at the smallest scale that still covers
    `long_side` and leaves `image` at the size it was decoded at, without the final
    resize: a 12-megapixel photo then costs a third of a full decode.  libjpeg's DCT
    scaling drops coefficients only after entropy-decoding all of them, so the whole
    stream is still read: a truncated or damaged file fails here as it would when
    loaded at any size.
    """
    notes: list[str] = []
    with open_checked(path, max_megapixels) as image:
        try:
            frames = getattr(image, "n_frames", 1)
            image.seek(0)  # animated GIF/APNG/WebP, multi-page TIFF: the first frame
            width, height = image.size
            # Phone photos are often MPO: a JPEG plus hidden preview or depth images.
            jpeg = image.format in ("JPEG", "MPO")
            if long_side and jpeg:
                # Let libjpeg decode at a reduced scale (1/2, 1/4 or 1/8) no smaller than
                # this: much faster for big photos.  Loading asks for long_side on both
                # sides, so that the final resize has more pixels to average; a check
                # needs no pixels beyond the image's size at long_side.
                height_at, width_at = scaled_size(height, width, long_side)
                image.draft("RGB", (width_at, height_at) if check_only else (long_side,) * 2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. palette transparency notices
                image.load()
                turned = upright(image, notes)  # before _shrink: TIFF keeps it in its tags
                if turned.size != image.size:
                    width, height = height, width
                image = to_srgb(_shrink(turned, long_side), notes)
                array = _to_float_rgb(image)
        except MemoryError:
            raise _error(
                path, "not enough memory to decode it", "downscale it or lower max_input_megapixels"
            ) from None
        except _BOMB as err:
            raise _bomb_error(path, err) from None
        except Exception as err:  # OSError, SyntaxError, ValueError, EOFError, struct.error...
            raise _error(
                path,
                f"the image data is damaged or truncated ({err or type(err).__name__})",
                "re-export or remove it",
            ) from None
    if frames > 1 and not jpeg:
        notes.insert(0, f"{frames} frames: the first is used")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    if long_side and not check_only:
        tensor = resize(tensor, scaled_size(height, width, long_side))
    return Decoded(tensor, width, height, notes)


def load_image(
    path: str | os.PathLike,
    long_side: int | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> Tensor:
    """Read an image as a (3, H, W) float tensor in [0, 1], optionally resized.

    Raises ImageError with the file name and the reason for anything unusable.
    """
    return decode(path, long_side, max_megapixels).image


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
