"""What a pair leaves behind: its image, its record and its summary row.

A record (JSON) holds the result's fingerprint (everything that changes the image),
the image's size in bytes, the summary row and the loss curve.  A later job keeps a
result whose record matches the fingerprint it would make and whose image is still
complete, so reruns redo exactly what changed.  The image is written before the
record, each atomically, so a record always describes a complete image.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .io import canonical_json, sha256_file, write_json
from .row import SummaryRow
from .settings import PairSettings

if TYPE_CHECKING:
    from torch import Tensor

    from .plan import Pair


def fingerprint(
    settings: PairSettings, seed: int, content_sha: str, styles: Sequence[tuple[str, float]]
) -> str:
    """Identity of a result: everything that changes the image, and nothing else."""
    init = settings.init
    init_sha = sha256_file(init) if init not in ("content", "noise") else init
    payload = {
        "settings": {**settings.to_params(), "init": init_sha},
        "seed": seed,
        "content": content_sha,
        "styles": [list(s) for s in styles],
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def finished_row(pair: Pair, fp: str) -> SummaryRow | None:
    """The summary row of a complete result with this fingerprint, or None."""
    try:
        record = json.loads(Path(pair.record).read_text())
        size = os.stat(pair.output).st_size
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("row"), dict):
        return None  # damaged by hand: made again
    if record.get("fingerprint") != fp or record.get("image_bytes", size) != size:
        return None  # other settings or inputs, or an image truncated or replaced since
    # Names come from this run (a record may predate a column or a renamed file).
    names = dict(pair=pair.key, content=pair.content_name, style=pair.style_name)
    try:
        return SummaryRow.from_dict({**record["row"], **names, "output": pair.output})
    except TypeError:
        return None  # a row without a required column: damaged by hand, made again


def save_png(image: Tensor, path: str, text: Mapping[str, str]) -> None:
    """nst.images.save_png, imported when an image is written: importing this module
    costs no torch (about 2 s per job)."""
    from .images import save_png as save

    save(image, path, dict(text))


def write_result(
    pair: Pair, image: Tensor, fp: str, settings: PairSettings, row: SummaryRow, curve: Mapping
) -> None:
    """The image, then its record (each atomic)."""
    save_png(
        image,
        pair.output,
        {"nst:fingerprint": fp, "nst:settings": canonical_json(settings.to_params())},
    )
    write_json(
        pair.record,
        {
            "fingerprint": fp,
            "image_bytes": os.stat(pair.output).st_size,
            "row": row.to_dict(),
            "history": dict(curve),
        },
    )
