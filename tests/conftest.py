"""Shared fixtures: a randomly initialised VGG19 saved exactly as torchvision saves
its ImageNet checkpoint (the real weights cannot be downloaded here), and small
synthetic images."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torchvision import models

from nst import style_targets
from nst.backbones import build_backbone
from nst.catalog import network
from nst.plan import Pair
from nst.settings import PairSettings
from nst.shard import ShardRunner

REPO = Path(__file__).resolve().parent.parent
# The random-weight VGG19 of the mechanics tests is saved in torchvision's format.
VGG19_TV = network("vgg19", "torchvision")


def save_torchvision_checkpoint(
    model: torch.nn.Module, folder: Path, name: str, keep: str = ""
) -> Path:
    """Save a state dict as torch.hub names its files: `<name>-<sha256 prefix>.pth`
    (only the keys that start with `keep`)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.tmp"
    torch.save({k: v for k, v in model.state_dict().items() if k.startswith(keep)}, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"{name}-{digest[:8]}.pth"
    tmp.rename(path)
    return path


@pytest.fixture(scope="session")
def vgg19_file(tmp_path_factory) -> Path:
    """A random VGG19 in torchvision's state-dict format, its features only: the 80 MB
    that every job reads and hashes, not the 550 MB with the classifier, which a real
    file also holds (test_backbones loads one such file)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("weights")
    return save_torchvision_checkpoint(models.vgg19(), folder, "vgg19", keep="features.")


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


@pytest.fixture
def shard_setup(tmp_path, vgg19_file):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(size=40, steps=6, backbone="vgg19")
    config.update(weights={"vgg19": {"source": "torchvision"}})
    settings = PairSettings.from_config(config, VGG19_TV, vgg19_file.name)
    target_settings = settings.style_targets()
    net = build_backbone(VGG19_TV, vgg19_file, target_settings.style_layers)
    contents = [write_image(tmp_path / "content" / f"c{i}.png", 30, 40, seed=i) for i in range(3)]
    style = write_image(tmp_path / "style" / "s.png", 40, 40, seed=9)
    cache = tmp_path / "cache" / "s.safetensors"
    targets = style_targets.compute(
        net,
        style,
        target_settings.style_layers,
        target_settings.style_sizes,
        torch.device("cpu"),
    )
    style_targets.write(cache, targets, target_settings, style)
    pairs = [
        Pair(
            key=f"s/c{i}",
            content_name=c.name,
            style_name="s.png",
            content=str(c),
            styles=((str(style), str(cache), 1.0),),
            output=str(tmp_path / "out" / f"c{i}.png"),
            record=str(tmp_path / "rec" / f"c{i}.json"),
            overrides={},
        )
        for i, c in enumerate(contents)
    ]
    return settings, pairs, vgg19_file, cache


def runner(settings, weights, batch_size=1, lines=None):
    """A ShardRunner on the CPU with a progress line every 3 steps, logging into `lines`."""
    log = lines.append if lines is not None else lambda line: None
    return ShardRunner(settings, str(weights), batch_size=batch_size, progress_every=3, log=log)


@contextlib.contextmanager
def small_disk(folder: Path, free: int = 1024, size: int = 16 * 1024):
    """A tmpfs of `size` bytes mounted at `folder`, all but about `free` bytes taken by a
    file named "filler" (delete it to free the space); skips the test where mounting is
    not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        (folder / "filler").write_bytes(b"x" * (size - free))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# ---- Running the real workflow on a small work folder ---------------------------------


def write_config(workdir: Path, **changes) -> None:
    """workdir/config.yaml: the repository's config with `changes` applied."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(min_input_side=16)
    config.update(changes)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def update_config(workdir: Path, **changes) -> None:
    """Change keys of the work folder's current config."""
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config.update(changes)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def tiny_workflow(workdir: Path, weights: Path, contents: int = 3, styles: int = 2, **changes):
    """A work folder with small synthetic photos and styles, and a config that runs them
    with VGG19 (`weights`) at 32 px for a few steps."""
    for i in range(contents):
        write_image(workdir / "in" / "content" / f"photo {i}.png", 30, 40, seed=i)
    for i in range(styles):
        write_image(workdir / "in" / "style" / f"style{i}.jpg", 40, 40, seed=10 + i)
    settings = dict(
        content_dir="in/content",
        style_dir="in/style",
        backbone="vgg19",
        weights={"vgg19": {"source": "torchvision", "file": str(weights)}},
        size=32,
        steps=5,
        shard_size=2,
        log_every=5,
    )
    write_config(workdir, **{**settings, **changes})
    return workdir


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """This workflow's Snakemake on a work folder and its config.yaml.  --configfile comes
    first: it takes every word up to the next option."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--configfile",
        str(workdir / "config.yaml"),
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        *args,
    ]


# One thread: tiny images gain nothing from threads, and tests stay fast on a busy machine.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_snakemake(workdir: Path, *args: str, timeout: int = 600, check: bool = True):
    """Snakemake on the work folder with one core; fails the test if it fails and `check`."""
    command = snakemake_command(workdir, "--cores", "1", *args)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ONE_THREAD)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def planned(workdir: Path, *args: str) -> dict[str, int]:
    """Jobs a dry run would execute, by rule (empty when nothing is to be done)."""
    out = run_snakemake(workdir, "-n", *args)
    counts, table = {}, False
    for line in (out.stdout + out.stderr).splitlines():
        if line.startswith("job ") and "count" in line:
            table = True
        elif table and line.startswith("total"):
            break
        elif table and line.strip() and not line.startswith("-"):
            rule, count = line.split()
            counts[rule] = int(count)
    return counts
