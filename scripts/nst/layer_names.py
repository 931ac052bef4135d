"""The named layers of each backbone, known without building it (no torch, no weights):
what content_layers and style_layers may name, checked before any job (nst.preflight).

The backbone modules (nst.backbones) name the layers they build from the network's
structure; tests/test_preflight.py builds each one and checks that these match.
"""

from __future__ import annotations


def _vgg(convs_per_block: tuple[int, ...]) -> tuple[str, ...]:
    names: list[str] = []
    for block, convs in enumerate(convs_per_block, 1):
        for index in range(1, convs + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return tuple(names)


def _blocks(prefix: str, blocks_per_stage: tuple[int, ...], first: int) -> tuple[str, ...]:
    return tuple(
        f"{prefix}{stage}_{index}"
        for stage, blocks in enumerate(blocks_per_stage, first)
        for index in range(blocks)
    )


LAYER_NAMES: dict[str, tuple[str, ...]] = {
    "vgg19": _vgg((2, 2, 4, 4, 4)),
    "vgg16": _vgg((2, 2, 3, 3, 3)),
    "resnet50": ("conv1", "pool1", *_blocks("layer", (3, 4, 6, 3), 1)),
    "efficientnet_lite0": ("stem", *_blocks("block", (1, 2, 2, 3, 3, 4, 1), 0), "head"),
}
