"""Extract the sample paintings of data/style/ from Debian's gcompris-qt-data package.

    apt-get install gcompris-qt-data          # once; the package is architecture-independent
    .venv/bin/python data/fetch_samples.py    # writes data/style/*.png, prints their sha256

The paintings are stored in a Qt resource bundle (data/rcc.py reads it) as WebP; each is
decoded and written as PNG, so the pixels are the bundle's exactly.  What each file is,
its licence and the sha256 of what ships are in data/SOURCES.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from rcc import Bundle  # noqa: E402

PACKAGE = "gcompris-qt-data"
BUNDLES = Path("/usr/share/gcompris-qt/rcc")
FOLDER = "gcompris/src/activities/details/resource/image"
# Output name -> (bundle, path inside it).  Both are marked public domain in the
# folder's README (data/SOURCES.md quotes it).
PAINTINGS = {
    "cafe_terrace_at_night.png": ("details.rcc", f"{FOLDER}/Gogh4_background.webp"),
    "church_at_auvers.png": ("details.rcc", f"{FOLDER}/Eglise_dAuvers-sur-Oise_background.webp"),
}


def package_version() -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", PACKAGE], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract(out: Path, bundles: Path = BUNDLES) -> dict[str, tuple[str, str]]:
    """Write every painting into `out`; name -> (sha256 in the bundle, of the PNG)."""
    if not bundles.is_dir():
        raise SystemExit(f"{bundles} is missing: install it with `apt-get install {PACKAGE}`")
    out.mkdir(parents=True, exist_ok=True)
    opened: dict[str, Bundle] = {}
    hashes = {}
    for name, (bundle, path) in PAINTINGS.items():
        if bundle not in opened:
            opened[bundle] = Bundle(bundles / bundle)
        raw = opened[bundle].read(path)
        with Image.open(io.BytesIO(raw)) as picture:
            picture.convert("RGB").save(out / name, optimize=True)
        hashes[name] = (sha256(raw), sha256((out / name).read_bytes()))
    return hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "style", help="default: data/style")
    args = parser.parse_args()
    print(f"{PACKAGE} {package_version()}")
    for name, (source, shipped) in extract(args.out).items():
        print(f"{args.out / name}: bundle sha256 {source}, png sha256 {shipped}")


if __name__ == "__main__":
    main()
