"""How full a GPU job's batches are on a realistic mix of aspect ratios.

    .venv/bin/python bench/batch_fill.py [--contents 5000] [--styles 10] [--batch-size 8]
                                         [--odd 0.0] [--shard-sizes 16 64 auto]

A synthetic collection (40% 4:3, 25% 3:2, 15% 16:9, 10% 1:1 and 10% portrait
versions, camera-sized; --odd: that share of freely cropped photos instead) is planned
by the workflow's own code (nst.plan.make_plan, from placeholder files and the sizes
validation would report), and each shard is cut into batches by the job's own rule
(nst.batches.plan_batches).  Prints, per shard size, `batch fill: N%`: the mean images
per batch over the batch size.  `auto` is the size a GPU job gets by default.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from nst import resources  # noqa: E402
from nst.batches import plan_batches  # noqa: E402
from nst.catalog import resolve_backbone  # noqa: E402
from nst.plan import batch_group, make_plan  # noqa: E402
from nst.settings import PairSettings  # noqa: E402

# (width, height) of common cameras and phones, and each ratio's share of the photos.
MIX = [
    ([(4000, 3000), (4032, 3024), (2048, 1536)], 0.40),  # 4:3
    ([(6000, 4000), (5472, 3648)], 0.25),  # 3:2
    ([(3840, 2160), (1920, 1080)], 0.15),  # 16:9
    ([(3000, 3000), (1080, 1080)], 0.10),  # 1:1
    ([(3000, 4000), (4000, 6000), (2160, 3840)], 0.10),  # portraits
]


def photo_size(rng: random.Random, odd: float) -> tuple[int, int]:
    if rng.random() < odd:  # a free crop: any ratio between 1:2 and 2:1
        return rng.randint(1500, 4000), rng.randint(1500, 4000)
    sizes = rng.choices([sizes for sizes, _ in MIX], [share for _, share in MIX])[0]
    return rng.choice(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contents", type=int, default=5000)
    parser.add_argument("--styles", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--odd", type=float, default=0.0, help="share of freely cropped photos")
    parser.add_argument("--shard-sizes", nargs="+", default=["16", "64", "auto"])
    args = parser.parse_args()

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    net = resolve_backbone(config["backbone"], config["weights"])
    settings = PairSettings.from_config(config, net.network, net.file.name)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        accepted = {}
        for role, count in (("content", args.contents), ("style", args.styles)):
            folder = Path(tmp) / role
            folder.mkdir()
            for i in range(count):
                path = folder / f"{role}{i:05d}.jpg"
                path.touch()  # planning lists the folders; it never opens a file
                accepted[path] = photo_size(rng, args.odd) if role == "content" else (512, 512)
        config.update(content_dir=str(Path(tmp) / "content"), style_dir=str(Path(tmp) / "style"))
        gpu_auto = resources.pairs_per_job(
            config["job_minutes"],
            resources.megapixel_steps([settings.stages]),
            resources.expected_seconds_per_megapixel_step(gpus=1, threads=2),
        )
        print(
            f"{args.contents} contents x {args.styles} styles, batch size {args.batch_size}, "
            f"{args.odd:.0%} odd crops; {config['size']} px, {config['steps']} steps"
        )
        for shard_size in args.shard_sizes:
            size = gpu_auto if shard_size == "auto" else int(shard_size)
            plan = make_plan(config, accepted, size, settings.size)
            # What a job batches by: the shape it loads each content at, and the stages.
            group = {
                key: batch_group(accepted[Path(pair["content"])], settings.size)
                for key, pair in plan.pairs.items()
            }
            batches = [
                batch
                for keys in plan.shards.values()
                for batch in plan_batches(keys, group.__getitem__, args.batch_size)
            ]
            fill = sum(len(batch) for batch in batches) / (len(batches) * args.batch_size)
            print(
                f"shard_size {shard_size} ({size}): {len(plan.shards)} shards, "
                f"{len(batches)} batches, batch fill: {100 * fill:.1f}%"
            )


if __name__ == "__main__":
    main()
