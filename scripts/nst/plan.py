"""The run plan: every pair with its paths, the shards, and the styles to cache.

Built by the workflow after input validation, from the accepted images.  Pure
function of the config and the file listing, cheap enough for 100,000 pairs.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from .geometry import scaled_size
from .pairs import PairSpec, all_combinations, image_keys, list_files, read_sheet, style_key
from .settings import PairSettings
from .shards import Member, assign_shards


@dataclass(frozen=True)
class Plan:
    pairs: dict[str, dict]  # pair key -> nst.shard.Pair fields (plain JSON for params)
    shards: dict[str, list[str]]  # shard name -> pair keys
    styles: dict[str, str]  # style key -> style image, for every style some pair uses
    skipped: list[str]  # sheet rows left out because they name a rejected file

    def shard_pairs(self, shard: str) -> list[dict]:
        return [self.pairs[key] for key in self.shards[shard]]


def candidates(config: Mapping) -> dict[str, list[Path]]:
    """All files in the input folders (validation decides which are usable)."""
    return {
        "content": list_files(config["content_dir"]),
        "style": list_files(config["style_dir"]),
    }


def make_plan(
    config: Mapping,
    accepted: Mapping[Path, tuple[int, int]],
    shard_size: int,
    settings: PairSettings,
) -> Plan:
    """The pairs of the accepted files (path -> width, height as validated), in shards of
    about `shard_size` pairs that batch together (nst.shards)."""
    results = str(Path(config["results"]))  # normalised once; joined as strings below
    found = candidates(config)
    keys = {**image_keys(found["content"]), **image_keys(found["style"])}
    if config.get("pairs"):
        specs = read_sheet(config["pairs"], Path(config["content_dir"]), Path(config["style_dir"]))
    else:
        specs = all_combinations(found["content"], found["style"])
    usable, skipped = [], []
    for spec in specs:
        if spec.content in accepted and all(p in accepted for p, _ in spec.styles):
            usable.append(spec)
        else:
            skipped.append(f"{spec.content.name} x {'+'.join(p.name for p, _ in spec.styles)}")
    pairs, styles, members = {}, {}, []
    stages = {}  # per steps override: with_overrides is too slow to call per pair
    for spec in usable:
        pair = _pair(spec, keys, results)
        pairs[pair["key"]] = pair
        for path, _ in spec.styles:
            styles[keys[path]] = str(path)
        steps = pair["overrides"].get("steps")
        if steps not in stages:
            stages[steps] = settings.with_overrides(pair["overrides"]).stages
        group = batch_group(accepted[spec.content], settings.size, stages[steps])
        members.append(Member(pair["key"], keys[spec.content], group))
    # Without a sheet every combination of accepted files is made: nothing is "skipped".
    skipped = skipped if config.get("pairs") else []
    return Plan(pairs, assign_shards(members, shard_size), styles, skipped)


def batch_group(
    width_height: tuple[int, int], size: int, stages: tuple[tuple[int, int], ...]
) -> str:
    """What pairs must share to be optimised in one batch: the content's shape at the
    working size, and the stages.  (Jobs group by the shapes they load, so a wrong
    guess here only makes a batch smaller, never a result different.)"""
    height, width = scaled_size(width_height[1], width_height[0], size)
    return f"{width}x{height}:" + ",".join(f"{side}/{steps}" for side, steps in stages)


def style_cache_path(results: Path | str, key: str) -> str:
    return f"{results}/cache/style_targets/{key}.safetensors"


# Called once per pair (100,000 in a big run): plain string joins, not pathlib, which
# costs more than everything else here.
def _pair(spec: PairSpec, keys: Mapping[Path, str], results: str) -> dict:
    content, style = keys[spec.content], style_key(spec.styles, keys)
    return {
        "key": f"{style}/{content}",
        "content_name": spec.content.name,
        "style_name": spec.styles[0][0].name
        if len(spec.styles) == 1
        else "+".join(f"{p.name}:{w:.3g}" for p, w in spec.styles),
        "content": str(spec.content),
        "styles": [
            [str(p), style_cache_path(results, keys[p]), round(w, 6)] for p, w in spec.styles
        ],
        "output": f"{results}/stylized/{style}/{content}.png",
        "record": f"{results}/records/{style}/{content}.json",
        "overrides": dict(spec.overrides),
    }


def _names(folder: str) -> set[str]:
    try:
        return {entry.name for entry in os.scandir(folder)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _ok_pairs(manifest: str) -> set[str]:
    with open(manifest, newline="", encoding="utf-8") as handle:
        return {r["pair"] for r in csv.DictReader(handle, delimiter="\t") if r["status"] == "ok"}


def missing_results(plan: Plan, results: str | os.PathLike) -> dict[str, list[str]]:
    """Shard -> the pairs its manifest lists as done whose image or record is gone
    (deleted by hand, say).  Cheap at a million pairs: one os.scandir per output folder
    (not a stat per file), and only the manifests of shards with something missing are
    read (normally those with failed pairs)."""
    shards = f"{results}/shards"
    manifests = _names(shards)
    listed: dict[str, set[str]] = {}

    def exists(path: str) -> bool:
        folder, _, name = path.rpartition("/")
        if folder not in listed:
            listed[folder] = _names(folder)
        return name in listed[folder]

    found = {}
    for shard, keys in plan.shards.items():
        if f"{shard}.tsv" not in manifests:
            continue  # not run yet: it runs anyway
        pairs = [plan.pairs[key] for key in keys]
        gone = [p["key"] for p in pairs if not (exists(p["output"]) and exists(p["record"]))]
        if gone:
            done = _ok_pairs(f"{shards}/{shard}.tsv")
            gone = [key for key in gone if key in done]
        if gone:
            found[shard] = gone
    return found


def mark_out_of_date(results: str | os.PathLike, shards: Collection[str]) -> None:
    """Date these shards' manifests back to 1970: older than their inputs, so Snakemake
    reruns them (whose jobs keep every pair that is still complete) and what follows."""
    for shard in shards:
        os.utime(f"{results}/shards/{shard}.tsv", ns=(0, 0))
