"""Results listed as done whose image or record is gone (deleted by hand, say): their
shards are dated back so that Snakemake reruns them, and their jobs make only what is
missing (the rest is kept by fingerprint, nst.results)."""

from __future__ import annotations

import os
from collections.abc import Collection

from .plan import manifest_folder, manifest_path, read_shard_keys, result_paths
from .tsv import read_rows


def _names(folder: str) -> set[str]:
    try:
        return {entry.name for entry in os.scandir(folder)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _ok_pairs(manifest: str) -> set[str]:
    return {row["pair"] for row in read_rows(manifest) if row["status"] == "ok"}


def missing_results(results: str | os.PathLike) -> dict[str, list[str]]:
    """Shard -> the pairs its manifest lists as done whose image or record is gone
    (deleted by hand, say).  Cheap at a million pairs: one os.scandir per output folder
    (not a stat per file); the plan's pair keys are read only if some shard has run,
    and only the manifests of shards with something missing (normally those with
    failed pairs)."""
    results = str(results)
    manifests = _names(manifest_folder(results))
    if not manifests:
        return {}  # nothing has run: nothing can be missing
    shards = read_shard_keys(results)
    listed: dict[str, set[str]] = {}

    def exists(path: str) -> bool:
        folder, _, name = path.rpartition("/")
        if folder not in listed:
            listed[folder] = _names(folder)
        return name in listed[folder]

    found = {}
    for shard, keys in shards.items():
        if os.path.basename(manifest_path(results, shard)) not in manifests:
            continue  # not run yet: it runs anyway
        gone = [key for key in keys if not all(map(exists, result_paths(results, key)))]
        if gone:
            done = _ok_pairs(manifest_path(results, shard))
            gone = [key for key in gone if key in done]
        if gone:
            found[shard] = gone
    return found


def mark_out_of_date(results: str | os.PathLike, shards: Collection[str]) -> None:
    """Date these shards' manifests back to 1970: older than their inputs, so Snakemake
    reruns them (whose jobs keep every pair that is still complete) and what follows."""
    for shard in shards:
        os.utime(manifest_path(results, shard), ns=(0, 0))
