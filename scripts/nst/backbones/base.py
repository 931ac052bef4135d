"""A frozen CNN as an ordered list of named layers.

Every backbone (VGG, ResNet, EfficientNet) is turned into a `FeatureExtractor`:
the input is an RGB batch in [0, 1], normalised inside as the network's weights
expect (`catalog.InputNorm`: channel order, scale, mean, std), and `forward` returns the
activations of the requested layers by name.  Only the prefix up to the deepest
requested layer is kept, and no parameter requires a gradient: style transfer
optimises the input pixels, never the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from ..catalog import IMAGENET, InputNorm

Layers = list[tuple[str, nn.Module]]


class FeatureExtractor(nn.Module):
    def __init__(self, layers: Sequence[tuple[str, nn.Module]], norm: InputNorm = IMAGENET):
        super().__init__()
        names = [name for name, _ in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate layer names in {names}")
        self.layer_names: list[str] = names
        self.layers = nn.ModuleList(module for _, module in layers)
        self.norm = norm
        # x * scale - mean, divided by std, as one multiply-add: (x * scale / std) - mean / std.
        std = torch.tensor(norm.std).view(1, 3, 1, 1)
        self.register_buffer("gain", norm.scale / std)
        self.register_buffer("offset", torch.tensor(norm.mean).view(1, 3, 1, 1) / std)
        self.requires_grad_(False)
        self.eval()
        # Pixel-major activations: oneDNN and cuDNN convolve them without reordering
        # (about 15% of a VGG19 step at 512 px on CPU), and pooling is much faster.
        self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> FeatureExtractor:
        # Batch-norm statistics must stay frozen: always evaluate in eval mode.
        return super().train(False)

    def check_layers(self, names: Iterable[str]) -> None:
        unknown = [name for name in names if name not in self.layer_names]
        if unknown:
            raise KeyError(
                f"unknown layer(s) {', '.join(unknown)}; this backbone has: "
                + ", ".join(self.layer_names)
            )

    def truncated(self, keep: Iterable[str]) -> FeatureExtractor:
        """A copy holding only the layers up to the deepest one in `keep`."""
        keep = list(keep)
        self.check_layers(keep)
        last = max(self.layer_names.index(name) for name in keep)
        pairs = list(zip(self.layer_names, self.layers))[: last + 1]
        return FeatureExtractor(pairs, self.norm)

    def normalise(self, image: Tensor) -> Tensor:
        """The network's input for a [0, 1] RGB batch."""
        if self.norm.bgr:
            image = image.flip(1)
        return torch.addcmul(-self.offset, image, self.gain)

    def forward(self, image: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
        wanted = set(layers)
        self.check_layers(wanted)
        out: dict[str, Tensor] = {}
        previous = None
        x = self.normalise(image).contiguous(memory_format=torch.channels_last)
        for name, layer in zip(self.layer_names, self.layers):
            # A ReLU may overwrite its input unless that input is a returned feature:
            # one activation-sized buffer less to allocate and write per layer.
            if isinstance(layer, nn.ReLU) and x is not out.get(previous):
                x = torch.relu_(x)
            else:
                x = layer(x)
            previous = name
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out
