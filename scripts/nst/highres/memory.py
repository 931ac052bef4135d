"""How large a tile fits: from a memory budget, or from the device's free memory.

Two kinds of memory: the image-sized buffers of a scale (the image, its gradient,
Adam's two moments, the content at this scale and at full size, the upscaled
start and a temporary), 12 bytes per pixel each; and one tile's autograd graph,
which grows with the tile's pixels like the network's activations.  The second
is estimated from a probe forward at a small size (every layer's output up to
the deepest one used), times a factor measured on the CPU (bench/highres.py).
"""

from __future__ import annotations

import psutil
import torch

from ..backbones.base import FeatureExtractor
from ..resources import HIGHRES_IMAGE_BUFFERS as IMAGE_BUFFERS

# Peak tile memory over the probe's activation bytes: the graph saves most layer
# outputs, backward holds gradients of the largest ones, and the content tile's own
# forward and the allocator's slack come on top.
TILE_FACTOR = 2.0
MIN_TILE = 128
TILE_MULTIPLE = 32


def free_memory(device: torch.device) -> int:
    """Bytes free on a CUDA device, or available host memory for the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return int(psutil.virtual_memory().available)


def activation_bytes_per_pixel(net: FeatureExtractor, layers: list[str], probe: int = 64) -> float:
    """Bytes of all layer outputs up to the deepest of `layers`, per input pixel."""
    device = next(net.buffers()).device
    deepest = max(net.layer_names.index(name) for name in layers)
    with torch.no_grad():
        probe_image = torch.zeros(1, 3, probe, probe, device=device)
        features = net(probe_image, net.layer_names[: deepest + 1])
    return sum(f.numel() * f.element_size() for f in features.values()) / probe**2


def image_bytes(pixels: int, batch: int = 1) -> int:
    """The image-sized buffers of one scale."""
    return IMAGE_BUFFERS * batch * 3 * 4 * pixels


def tile_for_budget(
    budget: float, pixels: int, bytes_per_pixel: float, batch: int = 1, shared: bool = True
) -> int:
    """The largest tile side (a multiple of 32 px) whose graph fits in `budget` bytes next
    to the image buffers (when those are on the same device: `shared`)."""
    room = budget - (image_bytes(pixels, batch) if shared else 0)
    per_tile_pixel = batch * bytes_per_pixel * TILE_FACTOR
    side = int((room / per_tile_pixel) ** 0.5) if room > 0 else 0
    side = side // TILE_MULTIPLE * TILE_MULTIPLE
    if side < MIN_TILE:
        raise MemoryError(
            f"{budget / 2**30:.1f} GiB cannot hold a {MIN_TILE} px tile next to a "
            f"{pixels / 1e6:.1f} megapixel image ({image_bytes(pixels, batch) / 2**30:.1f} GiB "
            "of image buffers); raise the memory budget or lower the size"
        )
    return side
