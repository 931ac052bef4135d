"""Shared fixtures: a randomly initialised VGG19 saved exactly as torchvision saves
its ImageNet checkpoint (the real weights cannot be downloaded here), and small
synthetic images."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import models

REPO = Path(__file__).resolve().parent.parent


def save_torchvision_checkpoint(model: torch.nn.Module, folder: Path, name: str) -> Path:
    """Save a state dict as torch.hub names its files: `<name>-<sha256 prefix>.pth`."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.tmp"
    torch.save(model.state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"{name}-{digest[:8]}.pth"
    tmp.rename(path)
    return path


@pytest.fixture(scope="session")
def vgg19_file(tmp_path_factory) -> Path:
    """A random VGG19 (features and classifier) in torchvision's state-dict format."""
    torch.manual_seed(0)
    return save_torchvision_checkpoint(models.vgg19(), tmp_path_factory.mktemp("weights"), "vgg19")


def pattern_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth colourful test picture (uint8 RGB): gradients plus a few blobs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 6, 2).tolist() + [rng.uniform(0, 6.3)]
        channels.append(0.5 + 0.5 * np.sin(2 * np.pi * (fx * x + fy * y) + phase))
    image = np.stack(channels, axis=-1)
    image += rng.normal(0, 0.05, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def write_image(path: Path, height: int = 48, width: int = 64, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pattern_image(height, width, seed)).save(path)
    return path
