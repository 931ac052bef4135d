"""The run plan: every pair with its paths, the shards, and the styles to cache.

Made by the plan_shards job after input validation, from the accepted images (a pure
function of the config and the file listing), and written to results/plan/:
  shards/<shard>.json  each shard's pairs: the input of its job, rewritten only when
                       they change, so that Snakemake reruns exactly the shards whose
                       pairs changed;
  index.json           per shard its style set and steps, the caches of each style set,
                       and the style images: all that planning the jobs needs (a
                       cluster job reads nothing else);
  pairs.json           per shard its pair keys, for the check for deleted results.
A shard job writes its manifest (manifest_path: a summary row per pair, nst.row).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from .geometry import scaled_size
from .io import atomic_write, file_signature, write_json
from .keys import KeyBook
from .pairs import (
    PairSpec,
    Styles,
    all_combinations,
    image_keys,
    list_files,
    pair_style_key,
    read_sheet,
    style_name,
)
from .shards import Member, assign_shards
from .style_settings import read_style_settings
from .variants import Variant, from_params


@dataclass(frozen=True)
class Pair:
    """One content x style pair as the plan hands it to a job (plain JSON: _pair)."""

    key: str  # "style/content", unique in a run
    content_name: str
    style_name: str
    content: str  # content image path
    styles: tuple[tuple[str, str, float], ...]  # (style image, cache file, blend weight)
    output: str
    record: str
    overrides: Mapping
    mask: str | None = None  # a label image (nst.masks); then `styles` are its regions' all
    # per colour of the mask ("rrggbb"), the styles there (image, cache, weight), or none
    regions: tuple[tuple[str, tuple[tuple[str, str, float], ...]], ...] = ()
    variant: str | None = None  # the variant that makes it (nst.variants), if any

    @property
    def seed_key(self) -> str:
        """"style/content": what the pair's own seed derives from, the same in every variant."""
        return self.key if self.variant is None else self.key.partition("/")[2]

    @classmethod
    def from_dict(cls, data: Mapping) -> Pair:
        styles = tuple((s, c, float(w)) for s, c, w in data["styles"])
        regions = tuple(
            (colour, tuple((s, c, float(w)) for s, c, w in blend))
            for colour, blend in data.get("regions", ())
        )
        overrides = dict(data.get("overrides", {}))
        return cls(**{**data, "styles": styles, "overrides": overrides, "regions": regions})


@dataclass(frozen=True)
class Plan:
    pairs: dict[str, dict]  # pair key -> Pair fields (plain JSON)
    shards: dict[str, list[str]]  # shard name -> pair keys
    styles: dict[str, str]  # style key -> style image, for every style some pair uses
    skipped: list[str]  # sheet rows left out because they name a rejected file

    def shard_pairs(self, shard: str) -> list[dict]:
        return [self.pairs[key] for key in self.shards[shard]]


@dataclass(frozen=True)
class ShardEntry:
    style_set: str  # the name of the set of style target files its pairs use
    # [sheet steps override or None, pairs]: the shard's work, under the current settings
    steps: list[tuple[int | None, int]]


@dataclass(frozen=True)
class PlanIndex:
    shards: dict[str, ShardEntry]
    style_sets: dict[str, list[str]]  # style set name -> its style target files
    styles: dict[str, str]
    skipped: list[str]


def plan_folder(results: str | os.PathLike) -> str:
    return f"{results}/plan"


def shard_plan_path(results: str | os.PathLike, shard: str) -> str:
    return f"{plan_folder(results)}/shards/{shard}.json"


def manifest_folder(results: str | os.PathLike) -> str:
    return f"{results}/shards"


def manifest_path(results: str | os.PathLike, shard: str) -> str:
    """A shard job's output: a summary row per pair (nst.row)."""
    return f"{manifest_folder(results)}/{shard}.tsv"


def result_paths(results: str, key: str) -> tuple[str, str]:
    """A pair's image and record.  A variant's pair (key "variant/style/content",
    nst.variants) keeps its results in that variant's own folder."""
    variant = pair_variant(key)
    if variant:
        results, key = variant_folder(results, variant), key.partition("/")[2]
    return f"{results}/stylized/{key}.png", f"{results}/records/{key}.json"


def pair_variant(key: str) -> str:
    """The variant of a pair key: "" for "style/content" (keys never contain "/")."""
    return key.partition("/")[0] if key.count("/") == 2 else ""


def variant_folder(results: str | os.PathLike, variant: str) -> str:
    return f"{results}/variants/{variant}"


def candidates(config: Mapping) -> dict[str, list[str]]:
    """All files in the input folders (validation decides which are usable)."""
    return {
        "content": list_files(config["content_dir"]),
        "style": list_files(config["style_dir"]),
    }


def make_plan(
    config: Mapping,
    accepted: Mapping[Path, tuple[int, int]],
    shard_size: int,
    size: int,
    book: KeyBook | None = None,
) -> Plan:
    """The pairs of the accepted files (path -> width, height as validated), in shards of
    about `shard_size` pairs that batch together (nst.shards) at the working `size`.
    Nothing else of the settings (but the per-pair ones of the styles table and the
    variants, which the shard files carry): changing them reruns the pair jobs, not the
    plan.  Keys come from `book` (nst.keys), which gives new names theirs."""
    results = str(Path(config["results"]))  # normalised once; joined as strings below
    found = {role: [Path(p) for p in files] for role, files in candidates(config).items()}
    book = book or KeyBook()
    keys = {**book.files("content", found["content"]), **book.files("style", found["style"])}
    if config.get("pairs"):
        folders = [Path(config[key]) for key in ("content_dir", "style_dir")]
        masks = config.get("mask_dir")  # the schema's default; absent in a hand-made config
        specs = read_sheet(config["pairs"], *folders, Path(masks) if masks else None)
        keys.update(image_keys({spec.mask for spec in specs if spec.mask}))
    else:
        specs = all_combinations(found["content"], found["style"])
    if config.get("style_settings"):  # settings per style, under the sheet's per pair
        table = read_style_settings(config["style_settings"], Path(config["style_dir"]))
        specs = table.apply(specs)
    variants = from_params(config.get("variants") or []) or [None]
    usable, skipped = [], []
    for spec in specs:
        if spec.content in accepted and all(p in accepted for p, _ in spec.styles):
            usable.append(spec)
        else:
            skipped.append(f"{spec.content.name} x {'+'.join(p.name for p, _ in spec.styles)}")
    pairs, styles, members = {}, {}, []
    for spec in usable:
        if spec.mask is None and len(spec.styles) == 1:
            style = keys[spec.styles[0][0]]
        else:  # a blend or a mask: its own folder, kept apart from style files (nst.keys)
            style = book.blend(style_name(spec), pair_style_key(spec, keys))
        for path, _ in spec.styles:
            styles[keys[path]] = str(path)
        for variant in variants:
            if variant is not None and not variant.includes(spec.content.name):
                continue
            pair = _pair(spec, keys, style, results, variant)
            pairs[pair["key"]] = pair
            group = batch_group(accepted[spec.content], size, pair["overrides"].get("steps"))
            members.append(Member(pair["key"], keys[spec.content], group))
    # Without a sheet every combination of accepted files is made: nothing is "skipped".
    skipped = skipped if config.get("pairs") else []
    return Plan(pairs, assign_shards(members, shard_size), styles, skipped)


def batch_group(width_height: tuple[int, int], size: int, steps: int | None = None) -> str:
    """What pairs must share to be optimised in one batch: the content's shape at the
    working size, and the stages (the same for all but a sheet's `steps`).  Jobs group by
    the shapes and stages they load, so a wrong guess here only makes a batch smaller,
    never a result different."""
    height, width = scaled_size(width_height[1], width_height[0], size)
    return f"{width}x{height}" + ("" if steps is None else f":{steps} steps")


def style_cache_path(results: Path | str, key: str) -> str:
    return f"{results}/cache/style_targets/{key}.safetensors"


# A shard job depends on one style set file, not on each of its style caches: at a
# million pairs, Snakemake's bookkeeping per input file is most of its planning time.
# Shards of every content x style share one set (all the styles).
def style_set_path(results: Path | str, name: str) -> str:
    return f"{results}/cache/style_sets/{name}.json"


def style_set_name(caches: Collection[str]) -> str:
    return hashlib.blake2b("\0".join(sorted(caches)).encode(), digest_size=8).hexdigest()


# Called once per pair (100,000 in a big run): plain string joins, not pathlib, which
# costs more than everything else here.
def _pair(
    spec: PairSpec, keys: Mapping[Path, str], style: str, results: str, variant: Variant | None
) -> dict:
    key = f"{style}/{keys[spec.content]}"
    key = key if variant is None else f"{variant.name}/{key}"
    output, record = result_paths(results, key)
    pair = {
        "key": key,
        "content_name": spec.content.name,
        "style_name": style_name(spec),
        "content": str(spec.content),
        "styles": _entries(spec.styles, keys, results),
        "output": output,
        "record": record,
        "overrides": dict(spec.overrides),
    }
    if variant is not None:  # absent without variants: plans read as before them
        pair["overrides"].update(variant.changes)
        pair["variant"] = variant.name
    if spec.mask is None:
        return pair  # no mask keys: a plan made before masks existed reads the same
    pair["mask"] = str(spec.mask)
    pair["regions"] = [[colour, _entries(styles, keys, results)] for colour, styles in spec.regions]
    return pair


def _entries(styles: Styles, keys: Mapping[Path, str], results: str) -> list[list]:
    """A blend as the plan writes it: [image, its cache, weight] per style (Pair reads it)."""
    return [[str(p), style_cache_path(results, keys[p]), round(w, 6)] for p, w in styles]


def write_plan(plan: Plan, results: str | os.PathLike) -> int:
    """Write the plan to results/plan/ (module docstring); returns how many shard files
    were (re)written.  A shard file whose pairs are unchanged keeps its date, and the
    files of shards no longer planned are removed."""
    folder = Path(plan_folder(results))
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    written, signatures = 0, {}
    for shard in plan.shards:
        pairs = plan.shard_pairs(shard)
        # The photos' signatures: a photo edited or replaced changes its shard's file,
        # so the shard reruns (its pairs redo what the new photo changes).
        # A mask likewise.
        files = [path for pair in pairs for path in (pair["content"], pair.get("mask")) if path]
        for path in files:
            if path not in signatures:
                signatures[path] = file_signature(path)
        contents = {path: signatures[path] for path in files}
        text = json.dumps({"pairs": pairs, "contents": contents}, sort_keys=True)
        path = Path(shard_plan_path(results, shard))
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except OSError:
            pass  # not there yet
        with atomic_write(path, "w") as handle:
            handle.write(text)
        written += 1
    for old in (folder / "shards").glob("*.json"):
        if old.stem not in plan.shards:
            old.unlink()
    caches = {
        shard: sorted({cache for key in keys for _, cache, _ in plan.pairs[key]["styles"]})
        for shard, keys in plan.shards.items()
    }
    sets = {shard: style_set_name(files) for shard, files in caches.items()}
    write_json(folder / "pairs.json", plan.shards)
    write_json(
        folder / "index.json",
        {
            "shards": {
                shard: {"style_set": sets[shard], "steps": _steps(plan.shard_pairs(shard))}
                for shard in plan.shards
            },
            "style_sets": {sets[shard]: files for shard, files in caches.items()},
            "styles": plan.styles,
            "skipped": plan.skipped,
        },
    )
    return written


def _steps(pairs: list[dict]) -> list[tuple[int | None, int]]:
    counts = Counter(pair["overrides"].get("steps") for pair in pairs)
    return sorted(counts.items(), key=lambda item: (item[0] is not None, item[0] or 0))


def read_index(path: str | os.PathLike) -> PlanIndex:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    shards = {
        name: ShardEntry(entry["style_set"], [tuple(item) for item in entry["steps"]])
        for name, entry in data["shards"].items()
    }
    return PlanIndex(shards, data["style_sets"], data["styles"], data["skipped"])


def read_shard_plan(path: str | os.PathLike) -> list[Pair]:
    """A shard's pairs, as its job reads them."""
    return [Pair.from_dict(p) for p in json.loads(Path(path).read_text(encoding="utf-8"))["pairs"]]


def read_shard_keys(results: str | os.PathLike) -> dict[str, list[str]]:
    return json.loads(Path(plan_folder(results), "pairs.json").read_text(encoding="utf-8"))
