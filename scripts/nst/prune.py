"""What no current pair owns: the results of inputs that are gone (a photo deleted, a
style replaced or dropped, a sheet row removed), found from the plan, listed, and
removed only when asked (workflow/rules/prune.smk).

Owned: every planned pair's image and record (nst.plan.result_paths), every planned
style's cache, every style set's file and every shard's manifest.  Anything else in
those folders is not (temporaries left by killed writers included); nothing outside
them is ever touched (the gallery clears its own caches; logs are left).  Removing
also forgets the keys of names that are gone (nst.keys), whose results went with them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .keys import KeyBook
from .plan import (
    plan_folder,
    read_index,
    read_shard_keys,
    result_paths,
    style_cache_path,
    style_set_path,
)

# variants/<name>/ holds a variant's stylized/ and records/ (nst.plan.result_paths).
FOLDERS = ("stylized", "records", "variants", "cache/style_targets", "cache/style_sets", "shards")


def owned(results: str) -> set[str]:
    """Every path the current plan (results/plan/) gives a pair, style or shard."""
    index = read_index(f"{plan_folder(results)}/index.json")
    keys = [key for shard in read_shard_keys(results).values() for key in shard]
    paths = {path for key in keys for path in result_paths(results, key)}
    paths |= {style_cache_path(results, style) for style in index.styles}
    paths |= {style_set_path(results, name) for name in index.style_sets}
    return paths | {f"{results}/shards/{shard}.tsv" for shard in index.shards}


def unowned(results: str | os.PathLike) -> list[str]:
    """The files in the result folders that the current plan does not own, sorted."""
    results = str(Path(results))  # joined as nst.plan joins its paths
    own = owned(results)
    found = []
    for folder in FOLDERS:
        for parent, _, files in os.walk(f"{results}/{folder}"):
            found += [path for name in files if (path := f"{parent}/{name}") not in own]
    return sorted(found)


def size_of(paths: Iterable[str]) -> int:
    return sum(os.lstat(path).st_size for path in paths)


def remove(paths: Iterable[str], results: str | os.PathLike) -> int:
    """Delete these files, then the folders of stylized/, records/ and variants/ left
    empty; returns how many files were deleted (one already gone is not an error)."""
    removed = 0
    for path in paths:
        try:
            os.unlink(path)
            removed += 1
        except FileNotFoundError:
            pass
    for folder in ("stylized", "records"):  # per style, one level
        for style in Path(results, folder).glob("*/"):
            if not any(style.iterdir()):
                style.rmdir()
    for parent, _, _ in os.walk(Path(results, "variants"), topdown=False):
        if not os.listdir(parent):
            os.rmdir(parent)  # a variant's style folder, then the variant, once empty
    return removed


def forget_gone_names(book: KeyBook, results: str, listed: dict[str, Iterable[str]]) -> int:
    """Forget the keys of files no longer listed (role -> paths in its folder) and of
    blends no current pair uses; returns how many names were forgotten."""
    # "style/content", or "variant/style/content"
    styles = {
        key.rsplit("/", 2)[-2] for shard in read_shard_keys(results).values() for key in shard
    }
    blends = [name for name, key in book.entries["blend"].items() if key in styles]
    gone = book.keep_only("blend", blends)
    for role, paths in listed.items():
        gone += book.keep_only(role, {Path(path).name for path in paths})
    return len(gone)
