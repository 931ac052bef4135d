"""Shards: every pair exactly once, bounded size, one batch shape each, and stable
when the collection grows."""

from collections import Counter

from nst.shards import Member, assign_shards

SHAPES = ["384x288", "384x256", "216x384"]


def collection(contents=500, styles=10, extra=()):
    """Pairs of `contents` photos (shapes in turn) x `styles`, plus `extra` photos."""
    names = [f"photo{c}" for c in range(contents)] + list(extra)
    return [
        Member(f"style{s}/{name}", name, SHAPES[i % len(SHAPES)])
        for i, name in enumerate(names)
        for s in range(styles)
    ]


MEMBERS = collection()
GROUP = {m.key: m.group for m in MEMBERS}


def test_every_pair_is_in_exactly_one_shard():
    shards = assign_shards(MEMBERS, 16)
    members = [key for keys in shards.values() for key in keys]
    assert sorted(members) == sorted(m.key for m in MEMBERS)


def test_shard_sizes_average_near_the_target_and_are_bounded():
    for size in (16, 64):
        shards = assign_shards(MEMBERS, size)
        sizes = [len(keys) for keys in shards.values()]
        assert max(sizes) <= 2 * size
        assert size / 2 <= len(MEMBERS) / len(shards) <= 1.5 * size


def test_a_shard_holds_one_batch_shape_and_a_photo_stays_in_one_shard():
    shards = assign_shards(MEMBERS, 64)
    assert all(len({GROUP[key] for key in keys}) == 1 for keys in shards.values())
    shard_of = Counter()
    for keys in shards.values():
        for content in {key.split("/")[1] for key in keys}:
            shard_of[content] += 1
    # Only where a long run is cut in parts does a photo's styles straddle two shards.
    assert sum(n > 1 for n in shard_of.values()) <= len(shards) // 4


def test_adding_a_photo_changes_only_the_shard_it_lands_in():
    before = assign_shards(MEMBERS, 64)
    after = assign_shards(collection(extra=["new"]), 64)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    # Its ten pairs join one shard (a start splits one into two; a cut run re-cuts).
    assert len(changed) <= 3
    new = [name for name, keys in after.items() if any(k.endswith("/new") for k in keys)]
    assert len(new) == 1


def test_small_groups_share_shards_instead_of_making_a_job_each():
    odd = [
        Member(f"style{s}/crop{c}", f"crop{c}", f"{300 + c}x384")
        for c in range(40)
        for s in range(3)
    ]
    shards = assign_shards(odd, 64)
    assert len(shards) <= 4
    assert sorted(k for keys in shards.values() for k in keys) == sorted(m.key for m in odd)


def test_assignment_does_not_depend_on_input_order():
    assert assign_shards(MEMBERS, 16) == assign_shards(list(reversed(MEMBERS)), 16)


def test_shard_size_one_gives_one_pair_per_shard():
    shards = assign_shards(MEMBERS[:50], 1)
    assert len(shards) == 50 and all(len(keys) == 1 for keys in shards.values())


def test_more_styles_than_a_shard_holds_cuts_a_photo_in_parts():
    shards = assign_shards(collection(contents=6, styles=10), 4)
    assert max(len(keys) for keys in shards.values()) <= 8
    assert len(shards) >= 6


def test_small_collections_and_empty():
    assert assign_shards([], 8) == {}
    two = [Member("a/b", "b", "g"), Member("a/c", "c", "g")]
    shards = assign_shards(two, 64)
    assert sorted(k for keys in shards.values() for k in keys) == ["a/b", "a/c"]
    assert all(len(name) == 16 for name in shards)
