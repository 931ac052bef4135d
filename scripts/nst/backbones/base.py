"""A frozen CNN as an ordered list of named layers.

Every backbone (VGG, ResNet, EfficientNet) is turned into a `FeatureExtractor`:
the input is an RGB batch in [0, 1], normalised inside, and `forward` returns the
activations of the requested layers by name.  Only the prefix up to the deepest
requested layer is kept, and no parameter requires a gradient: style transfer
optimises the input pixels, never the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FeatureExtractor(nn.Module):
    def __init__(
        self,
        layers: Sequence[tuple[str, nn.Module]],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ):
        super().__init__()
        names = [name for name, _ in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate layer names in {names}")
        self.layer_names: list[str] = names
        self.layers = nn.ModuleList(module for _, module in layers)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
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
        out = FeatureExtractor(pairs, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        out.mean.copy_(self.mean)
        out.std.copy_(self.std)
        return out

    def forward(self, image: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
        wanted = set(layers)
        self.check_layers(wanted)
        out: dict[str, Tensor] = {}
        previous = None
        x = ((image - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
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
