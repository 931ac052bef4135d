"""The high-resolution mode (nst.highres): memory, speed, seams and quality.

    .venv/bin/python bench/highres.py --steps 2 --quality-steps 30

On one pair (the central square of chelsea x ihc from data/extra/, the original VGG19 and
its default loss weights), prints:

0. with --margins: how far the tiles' summed Grams are from the whole image's at
   --quality-size for each context margin (what the receptive field needs);
1. per output size (--sizes, default 2048 and 4096), each in a fresh subprocess:
   the peak RSS (the child's own ru_maxrss), the time per megapixel-step of the
   final scale's passes, and the seam score on that scale's tile borders (of the
   last pass, and of all its passes); the base stage is the whole image at
   --base-size with --base-steps L-BFGS steps, then --steps passes per scale;
2. at --quality-size (1024) from one shared base (cached in bench/out, so that
   --runs can measure one run per invocation): the exact (untiled) style, content
   and total loss of the result refined tiled (--quality-tile) against refined
   untiled (one tile, the same Adam schedule), and the seam scores of the tiled
   result (and with --runs naive, of a tiling without overlap, margin or shift);
3. the tile the memory model picks for a 6 GB budget at the largest size.

Writes a 100% crop across tile borders of the largest result, and the whole result
downscaled, to bench/out/highres_*.png.  --threads defaults to 1: on a shared
2-core machine a second thread spins against the other jobs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from nst import style_targets  # noqa: E402
from nst.backbones import build_backbone  # noqa: E402
from nst.catalog import network  # noqa: E402
from nst.descent import optimize  # noqa: E402
from nst.highres import (  # noqa: E402
    HighresSettings,
    Problem,
    activation_bytes_per_pixel,
    gram_sweep,
    pass_grid,
    refine,
    scale_sizes,
    seam_score,
    tile_edges,
    tile_for_budget,
)
from nst.highres.memory import TILE_FACTOR, image_bytes  # noqa: E402
from nst.highres.tiled import layer_strides, style_terms  # noqa: E402
from nst.images import load_image, resize, resize_long_side, save_png  # noqa: E402
from nst.losses import LossWeights, gatys_loss, gram_matrix  # noqa: E402
from nst.method import Method  # noqa: E402
from nst.runtime import tune_allocator  # noqa: E402
from nst.stages import Refinement, Stage, Watcher  # noqa: E402
from nst.stylize import stylize  # noqa: E402

OUT = REPO / "bench" / "out"
CONTENT = REPO / "data" / "content" / "chelsea.png"
STYLE = REPO / "data" / "extra" / "style" / "ihc.jpg"
GB = 1e9


def load_content(size: int) -> torch.Tensor:
    """The photo's central square at `size` px: a square is the most pixels per long side."""
    photo = load_image(CONTENT)
    side = min(photo.shape[-2:])
    top, left = (photo.shape[-2] - side) // 2, (photo.shape[-1] - side) // 2
    return resize(photo[:, top : top + side, left : left + side], (size, size))[None]


def setup(args):
    info = network(args.backbone)
    net = build_backbone(info, info.default_file(), [*info.content_layers, *info.style_layers])
    ones = torch.ones(1)
    weights = LossWeights(ones, ones * info.style_weight, ones * info.tv_weight)
    method = Method(info.content_layers, info.style_layers, steps=args.base_steps)
    # The style at its own size (512 px here): a style image has no detail beyond it.
    style_size = max(load_image(STYLE).shape[-2:])
    grams = style_targets.compute(net, STYLE, list(info.style_layers), [style_size], "cpu")
    grams = {key.split("/")[1]: value[None] for key, value in grams.items()}
    return info, net, weights, method, grams


def borders(height, width, tile, overlap, passes, align, shift=True, first_pass=0):
    """(rows, cols) of the last pass's tile borders and of all passes' at one scale (whose
    first pass is pass `first_pass` of the sequence, as in nst.highres.refine_scales)."""
    grids = [
        pass_grid(height, width, tile, overlap, first_pass + k, shift, align=align)
        for k in range(passes)
    ]
    rows, cols = set(), set()
    for grid in grids:
        r, c = tile_edges(grid)
        rows |= r
        cols |= c
    return tile_edges(grids[-1]), (rows, cols)


def child(args) -> None:
    """One size, in this process: prints a JSON line with the figures."""
    info, net, weights, method, grams = setup(args)
    content = load_content(args.child)
    settings = HighresSettings(
        tile=args.tile,
        overlap=args.overlap,
        margin=args.margin,
        base_size=args.base_size,
        steps=args.steps,
        learning_rate=args.lr,
    )
    stamps = Stamps()
    started = time.perf_counter()
    result = stylize(
        net,
        content,
        [Stage(min(args.base_size, args.child), method, grams)],
        weights,
        watcher=stamps,
        refinement=Refinement(settings, lambda size: grams),
    )
    seconds = time.perf_counter() - started
    image = result.image[0]
    height, width = image.shape[-2:]
    final = stamps.last_stage
    # Between the final scale's progress calls: needs two passes (--steps 1 is for memory).
    per_pass = (final[-1] - final[0]) / (len(final) - 1) if len(final) > 1 else None
    scale = len(scale_sizes(args.base_size, args.child, settings.scale_factor)) - 1
    align = max(layer_strides(net, method.layers).values())
    last, union = borders(
        height, width, args.tile, args.overlap, args.steps, align, True, scale * (args.steps + 1)
    )
    if args.crop:
        save_crop(image, last, args.child)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    print(
        json.dumps(
            {
                "size": args.child,
                "hw": [height, width],
                "peak_rss": peak,
                "seconds": seconds,
                "per_pass": per_pass,
                "mp_step": per_pass and per_pass / (height * width / 1e6),
                "seam_last": seam_score(image, *last, align),
                "seam_all": seam_score(image, *union, align),
                "final": result.final[0].tolist(),
            }
        )
    )


class Stamps(Watcher):
    """The time of every step (pass) of the last stage (scale)."""

    every = 1

    def __init__(self):
        self.last_stage: list[float] = []

    def start(self, stage, stages, hw, steps, tile) -> None:
        self.last = stage == stages - 1

    def progress(self, stage, step, terms) -> None:
        if self.last:
            self.last_stage.append(time.perf_counter())


def save_crop(image, edges, size, side=768) -> None:
    """A 100% crop centred on a crossing of the last pass's tile borders, and the whole."""
    rows, cols = (sorted(e) for e in edges)
    height, width = image.shape[-2:]
    r, c = rows[len(rows) // 2], cols[len(cols) // 2]
    top = min(max(0, r - side // 2), height - side)
    left = min(max(0, c - side // 2), width - side)
    OUT.mkdir(parents=True, exist_ok=True)
    save_png(image[:, top : top + side, left : left + side], OUT / f"highres_{size}_crop.png")
    save_png(resize_long_side(image, 1024), OUT / f"highres_{size}_whole.png")
    print(f"crop rows {top}-{top + side}, cols {left}-{left + side}", file=sys.stderr)


def exact_terms(net, info, image, content, grams, weights) -> list[float]:
    """The whole image's content, style, TV and total loss, untiled (it fits at 1024)."""
    with torch.no_grad():
        targets = net(content, list(info.content_layers))
        features = net(image, sorted({*info.content_layers, *info.style_layers}))
        terms = gatys_loss(
            image,
            features,
            targets,
            grams,
            info.content_layers,
            info.style_layers,
            weights,
        )
    return [float(terms.content), float(terms.style), float(terms.tv), float(terms.total)]


def shared_base(args, net, grams, weights, method, content) -> torch.Tensor:
    """The base stage's image, cached in bench/out so that the runs can be measured in
    separate invocations (each within a share of the machine) from the same start."""
    path = OUT / f"highres_base_{args.quality_size}_{args.base_size}_{args.base_steps}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    base_content = resize_long_side(content, args.base_size)
    started = time.perf_counter()
    base = optimize(net, base_content, grams, weights, method, base_content).image
    print(
        f"base {args.base_size} px, {args.base_steps} L-BFGS steps: "
        f"{time.perf_counter() - started:.0f} s"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(base, path)
    return base


def quality(args) -> None:
    info, net, weights, method, grams = setup(args)
    size = args.quality_size
    content = load_content(size)
    base = shared_base(args, net, grams, weights, method, content)
    height, width = content.shape[-2:]
    problem = Problem(net, content, grams, weights, info.content_layers, info.style_layers)
    margin = HighresSettings(overlap=args.overlap, margin=args.margin).context
    align = problem.align
    runs = {
        "untiled": (max(height, width), args.overlap, True, 0),
        "tiled": (args.quality_tile, args.overlap, True, margin),
        "naive": (args.quality_tile, 0, False, 0),
    }
    names = {
        "untiled": "untiled",
        "tiled": f"tiled {args.quality_tile} px",
        "naive": "naive tiles (no overlap, no shift)",
    }
    results = {}
    for run in args.runs:
        tile, overlap, shift, context = runs[run]
        name = names[run]
        saved = OUT / f"highres_{size}_{run}.png"
        started = time.perf_counter()
        if args.reuse and saved.exists() and record(args, run).exists():
            # An earlier invocation's result (the PNG: 8-bit) and its exact terms.
            out, terms = load_image(saved)[None], json.loads(record(args, run).read_text())
        else:
            x = resize(base, (height, width)).contiguous()
            steps = args.quality_steps
            out = refine(
                problem, x, steps, tile, overlap, args.lr, shift, on_pass(name, started), context
            ).image
            terms = exact_terms(net, info, out, content, grams, weights)
            save_png(out[0], saved)
            record(args, run).write_text(json.dumps(terms))
        seconds = time.perf_counter() - started
        # The seams of the tiled run's grids, on this run's result: the untiled result's
        # score there is the reference (what the network's own pattern gives).
        tiled = args.quality_tile, args.overlap if shift else 0
        last, union = borders(height, width, *tiled, args.quality_steps, align, shift)
        results[run] = terms
        print(
            f"{size} px {name}: content {terms[0]:.4g}, style {terms[1]:.4g}, "
            f"total {terms[3]:.4g}; seam score on the {args.quality_tile} px borders "
            f"(last pass) {seam_score(out, *last, align):.3f}, (all passes) "
            f"{seam_score(out, *union, align):.3f}, against all lines "
            f"{seam_score(out, *last):.3f}; {seconds:.0f} s"
        )
    # The untiled reference may come from an earlier invocation with the same settings.
    untiled = record(args, "untiled")
    if "untiled" not in results and untiled.exists():
        results["untiled"] = json.loads(untiled.read_text())
    reference = results.get("untiled")
    for run, terms in results.items():
        if run != "untiled" and reference is not None:
            change = [f"{a / b - 1:+.1%}" if b else "-" for a, b in zip(terms, reference)]
            print(
                f"{names[run]} against untiled: content {change[0]}, style {change[1]}, "
                f"total {change[3]}"
            )


def on_pass(name: str, started: float):
    """A progress line per pass on stderr (a run can take minutes on a shared CPU)."""

    def report(step: int, terms: torch.Tensor) -> None:
        elapsed = time.perf_counter() - started
        print(
            f"{name} pass {step}: total {float(terms[0, 3]):.4g}, {elapsed:.0f} s", file=sys.stderr
        )

    return report


def record(args, run: str) -> Path:
    """Where a quality run's exact terms are kept (for a later invocation's comparison)."""
    return OUT / (
        f"highres_{args.quality_size}_{run}_{args.base_size}_{args.base_steps}"
        f"_{args.quality_steps}_{args.lr:g}.json"
    )


def field(args) -> None:
    """How much context a tile needs: at --quality-size, the shared base upscaled (a
    stylised picture), the relative error of the tiles' summed Grams and of the style
    loss against the whole image's, per margin (overlap at least twice the margin)."""
    info, net, weights, method, grams = setup(args)
    size = args.quality_size
    content = load_content(size)
    x = resize(shared_base(args, net, grams, weights, method, content), (size, size))
    problem = Problem(net, content, grams, weights, info.content_layers, info.style_layers)
    with torch.no_grad():
        whole = {k: gram_matrix(v) for k, v in net(x, list(info.style_layers)).items()}
    exact, _ = style_terms(problem, whole)
    for margin in args.margins:
        overlap = max(args.overlap, 2 * margin)
        grid = pass_grid(
            size, size, args.quality_tile, overlap, 1, margin=margin, align=problem.align
        )
        tiled = gram_sweep(problem, x, grid).image_grams()
        errors = ", ".join(
            f"{name} {float((tiled[name] - g).norm() / g.norm()):.2%}" for name, g in whole.items()
        )
        style, _ = style_terms(problem, tiled)
        print(
            f"margin {margin} px (overlap {overlap}, {len(grid)} tiles of {args.quality_tile} px "
            f"at {size} px): Gram error {errors}; style loss {float(style / exact - 1):+.2%}"
        )


def memory_model(args) -> None:
    info, net, *_ = setup(args)
    per_pixel = activation_bytes_per_pixel(net, sorted({*info.content_layers, *info.style_layers}))
    size = max(args.sizes)
    pixels = size * size
    tile = tile_for_budget(6 * GB, pixels, per_pixel)
    predicted = image_bytes(pixels) + TILE_FACTOR * per_pixel * args.tile**2
    print(
        f"memory model: {per_pixel / 1e3:.1f} kB of activations per tile pixel; a 6 GB "
        f"budget at {size} px gives {tile} px tiles; predicted peak with {args.tile} px "
        f"tiles {predicted / GB:.2f} GB (plus the process's own)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2048, 4096])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=HighresSettings.overlap)
    parser.add_argument("--margin", type=int, help="default: overlap / 4")
    parser.add_argument(
        "--margins",
        type=int,
        nargs="*",
        default=[],
        help="print how far the tiles' Grams are from the image's at each margin",
    )
    parser.add_argument("--base-size", type=int, default=512)
    parser.add_argument("--base-steps", type=int, default=30)
    parser.add_argument("--steps", type=int, default=2, help="passes per scale (memory runs)")
    parser.add_argument("--lr", type=float, default=HighresSettings.learning_rate)
    parser.add_argument("--quality-size", type=int, default=1024)
    parser.add_argument("--quality-tile", type=int, default=512)
    parser.add_argument("--quality-steps", type=int, default=30)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument(
        "--runs",
        nargs="*",
        choices=["untiled", "tiled", "naive"],
        default=["untiled", "tiled"],
        help="quality runs; a missing untiled reference is read from an earlier invocation's",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="quality runs: an earlier invocation's result"
    )
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--crop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    tune_allocator()  # as the pair jobs do
    torch.set_num_threads(args.threads)
    if args.child:
        child(args)
        return
    if args.margins:
        field(args)
    if args.sizes:
        memory_model(args)
    for size in sorted(args.sizes):
        command = [sys.executable, __file__, *sys.argv[1:], "--child", str(size)]
        if size == max(args.sizes):
            command.append("--crop")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{size} px failed:\n{done.stderr}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{size} px ({r['hw'][1]}x{r['hw'][0]}): peak RSS {r['peak_rss'] / GB:.2f} GB; "
            + (
                f"{r['mp_step']:.1f} s per megapixel-step ({r['per_pass']:.0f} s per pass); "
                if r["per_pass"]
                else ""
            )
            + f"seam score {r['seam_last']:.3f} (last pass's borders), {r['seam_all']:.3f} "
            f"(all passes'); {r['seconds']:.0f} s in all"
        )
    if not args.skip_quality:
        quality(args)


if __name__ == "__main__":
    main()
