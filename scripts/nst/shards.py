"""Stable assignment of pairs to shards (content-defined chunking), by batch shape.

A job optimises same-shape pairs together (nst.batches), so a shard holds pairs of
one *batch group* only (content shape at the working size, and the stages), and all
pairs of one content (its styles) sit side by side: a job decodes each photo once,
its batches fill whatever the mix of aspect ratios in the collection, and a new
photo lands in one shard, not one per style.

Within a group, contents are placed on a ring in the order of a hash of their key.
A content with k pairs starts a new shard with probability k / size (its second
hash decides), the shard being named after it; every other content joins the
shard of the nearest start before it (wrapping around).  Shards then hold about
`size` pairs on average, and adding or removing a photo changes only the shard it
falls into (or splits one shard where the new photo is itself a start): every other
shard keeps its name and its pairs, so Snakemake reruns nothing else.  Unusually
long runs between starts are cut into near-equal parts so that no job is much
longer than 2 x size pairs; that only ever touches the long run itself.  Groups
with fewer pairs than a shard (odd crops) are chunked together the same way, so that
rare shapes do not make a job each.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple


class Member(NamedTuple):
    key: str  # the pair's key, unique in a run
    content: str  # its content image's key
    group: str  # its batch group: pairs batch together only within one


def _hashes(text: str) -> tuple[int, int]:
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")


def assign_shards(members: Iterable[Member], size: int) -> dict[str, list[str]]:
    """Shard name -> pair keys (in ring order).  Names are 16 hex digits (-N when cut)."""
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for member in set(members):
        groups[member.group][member.content].append(member.key)
    if size <= 1:
        keys = (key for contents in groups.values() for keys in contents.values() for key in keys)
        return {f"{_hashes(key)[0]:016x}": [key] for key in keys}
    # Groups too small to fill a shard (odd crops, rare sizes) share shards: one job
    # for many of them, not one each, though their batches stay small.
    shared: dict[str, list[str]] = {}
    shards: dict[str, list[str]] = {}
    for group, contents in groups.items():
        if sum(len(keys) for keys in contents.values()) < size:
            shared.update({f"{group}\0{content}": keys for content, keys in contents.items()})
        else:
            shards.update(_chunk(group, contents, size))
    shards.update(_chunk("", shared, size))
    return shards


def _chunk(group: str, contents: dict[str, list[str]], size: int) -> dict[str, list[str]]:
    # The group is part of the hash: one photo in two groups (a sheet giving some of its
    # pairs other steps) starts differently named shards in each.
    if not contents:
        return {}
    ring = sorted(
        (_hashes(f"{group}\0{content}"), sorted(keys)) for content, keys in contents.items()
    )
    starts = [i for i, ((_, h2), keys) in enumerate(ring) if h2 % size < len(keys)]
    if not starts:  # a group smaller than a shard, mostly: one shard named after it
        return _split(f"{_hashes(group)[0]:016x}", [k for _, keys in ring for k in keys], size)
    shards: dict[str, list[str]] = {}
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else starts[0] + len(ring)
        members = [key for i in range(start, end) for key in ring[i % len(ring)][1]]
        shards.update(_split(f"{ring[start][0][0]:016x}", members, size))
    return shards


def _split(name: str, members: list[str], size: int) -> dict[str, list[str]]:
    if len(members) <= 2 * size:
        return {name: members}
    parts = math.ceil(len(members) / size)
    step = len(members) / parts
    return {f"{name}-{p}": members[round(p * step) : round((p + 1) * step)] for p in range(parts)}
