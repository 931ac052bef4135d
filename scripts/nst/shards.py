"""Stable assignment of pairs to shards (content-defined chunking).

Pairs are placed on a ring in the order of a hash of their key.  A pair whose
second hash is divisible by `size` starts a new shard, named after it; every
other pair joins the shard of the nearest boundary before it (wrapping around).
Shards then hold `size` pairs on average, and adding or removing a pair changes
only the shard it falls into (or splits one shard where the new pair is itself a
boundary): every other shard keeps its name and its pairs, so Snakemake reruns
nothing else.  Unusually long runs between boundaries are cut into near-equal
parts so that no job is much longer than 2 x size pairs; that only ever touches
the long run itself.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable


def _hashes(key: str) -> tuple[int, int]:
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")


def assign_shards(keys: Iterable[str], size: int) -> dict[str, list[str]]:
    """Shard name -> pair keys (in ring order).  Names are short hex strings."""
    ring = sorted((_hashes(key), key) for key in set(keys))
    if not ring:
        return {}
    if size <= 1:
        return {f"{h:016x}": [key] for (h, _), key in ring}
    starts = [i for i, ((_, h2), _) in enumerate(ring) if h2 % size == 0]
    if not starts:
        return _split("0" * 16, [key for _, key in ring], size)
    shards: dict[str, list[str]] = {}
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else starts[0] + len(ring)
        members = [ring[i % len(ring)][1] for i in range(start, end)]
        shards.update(_split(f"{ring[start][0][0]:016x}", members, size))
    return shards


def _split(name: str, members: list[str], size: int) -> dict[str, list[str]]:
    if len(members) <= 2 * size:
        return {name: members}
    parts = math.ceil(len(members) / size)
    step = len(members) / parts
    return {f"{name}-{p}": members[round(p * step) : round((p + 1) * step)] for p in range(parts)}
