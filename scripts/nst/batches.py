"""Which pending pairs of a job are optimised together: equal keys, batch_size at most."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

T = TypeVar("T")


def plan_batches(
    items: Iterable[T], key: Callable[[T], Hashable], batch_size: int
) -> list[list[T]]:
    """Items grouped by key (groups in order of first appearance, items in their order)
    and cut into chunks of at most batch_size.  A group of n items makes ceil(n /
    batch_size) batches, all full but the last."""
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    size = max(1, batch_size)
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]
