"""Shards: every pair exactly once, bounded size, and stable when the collection grows."""

from nst.shards import assign_shards

KEYS = [f"style{s}/photo{c}" for s in range(10) for c in range(500)]


def test_every_pair_is_in_exactly_one_shard():
    shards = assign_shards(KEYS, 16)
    members = [key for group in shards.values() for key in group]
    assert sorted(members) == sorted(KEYS)


def test_shard_sizes_average_near_the_target_and_are_bounded():
    shards = assign_shards(KEYS, 16)
    sizes = [len(g) for g in shards.values()]
    assert max(sizes) <= 32
    assert 8 <= len(KEYS) / len(shards) <= 20


def test_adding_a_photo_changes_only_the_shards_it_lands_in():
    before = assign_shards(KEYS, 16)
    after = assign_shards(KEYS + [f"style{s}/new" for s in range(10)], 16)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    # Ten new pairs touch at most a handful of shards each (the one they join, or a
    # long run that gets re-cut); every other shard keeps its name and pairs.
    assert len(changed) <= 30
    assert len(changed) < len(before) / 5


def test_assignment_does_not_depend_on_input_order():
    assert assign_shards(KEYS, 16) == assign_shards(list(reversed(KEYS)), 16)


def test_shard_size_one_gives_one_pair_per_shard():
    shards = assign_shards(KEYS[:50], 1)
    assert len(shards) == 50 and all(len(g) == 1 for g in shards.values())


def test_small_collections_and_empty():
    assert assign_shards([], 8) == {}
    shards = assign_shards(["a/b", "a/c"], 64)
    assert sorted(k for g in shards.values() for k in g) == ["a/b", "a/c"]
