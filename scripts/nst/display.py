"""An image as it is meant to be seen: upright (EXIF) and in sRGB (ICC), Pillow only.

Shared by the optimiser's image loader (nst.images) and the gallery's thumbnails
(nst.gallery.thumbs, which stays torch-free so that the gallery job starts fast),
so that both see the same orientation and colours.
"""

from __future__ import annotations

import io

from PIL import Image, ImageCms, ImageOps


def upright(image: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """The image turned as its EXIF orientation says; as stored (noted) if that is unreadable."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # damaged EXIF: keep the stored orientation
        if notes is not None:
            notes.append("EXIF orientation unreadable: not applied")
        return image


def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def to_srgb(image: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """Convert an embedded ICC profile to sRGB, so colours match what viewers show.

    Alpha is kept aside and put back; a profile that cannot be used (damaged, or
    for another colour space than the pixels') leaves the values as stored, noted.
    """
    notes = [] if notes is None else notes
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    if image.mode in ("P", "PA"):
        alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if alpha else "RGB")
    if image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        notes.append(f"ICC profile not applied to a {image.mode} image: colours used as stored")
        return image
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    colour = image.convert(image.mode[:-1]) if alpha is not None else image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = (ImageCms.getProfileDescription(source) or "").strip()
        out = ImageCms.profileToProfile(colour, source, _srgb_profile(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as err:
        notes.append(f"embedded ICC profile not usable ({err}): colours used as stored")
        return image
    if alpha is not None:
        out.putalpha(alpha)
    if "srgb" not in name.lower():
        notes.append(f"colours converted from ICC profile {name or 'without a name'!r} to sRGB")
    return out
