"""Work to reach today's picture: candidates against the 300-step reference, per sample pair.

    .venv/bin/python bench/time_to_quality.py               # every sample pair, 384 and 512 px
    .venv/bin/python bench/time_to_quality.py --quick       # one pair at 128 px, a few minutes
    .venv/bin/python bench/time_to_quality.py --candidates all --pairs 1 --sizes 384
    .venv/bin/python bench/time_to_quality.py --sizes 512 --only "rocket x cafe"

The reference is the method as it was: one scale, 300 L-BFGS steps on the pixels from
the content, the catalog's VGG19 defaults.  Work is counted in full-size steps (a
stage's steps x its pixels / the final pixels; a line-search evaluation is a step), so
a busy machine does not distort it.  For each run: the work it took to come within 1%
of the reference's final total loss (at full size, same loss), the work it took in all,
its final loss and held-out quality scores (nst.quality) against the reference's.
Runs are cached in bench/out/time_to_quality/ by what they depend on.  The last two
lines are the defaults (config.yaml) against the reference over every pair and size.
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
from torchvision.transforms.functional import gaussian_blur

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from nst import style_targets  # noqa: E402
from nst.backbones import build_backbone  # noqa: E402
from nst.catalog import network  # noqa: E402
from nst.descent import content_targets, optimize  # noqa: E402
from nst.images import load_image, resize, save_png, scaled_size  # noqa: E402
from nst.losses import LossWeights, gatys_loss  # noqa: E402
from nst.method import Method  # noqa: E402
from nst.outcome import TOTAL  # noqa: E402
from nst.quality import Judge  # noqa: E402

OUT = REPO / "bench" / "out" / "time_to_quality"
# A cached run is redone when the code that makes it changes: these modules and this
# file's functions that make a run (their code, not comments or docstrings: a run
# costs minutes, see code_digest).
OPTIMISER_SOURCES = [
    REPO / "scripts" / "nst" / f"{name}.py"
    for name in ("descent", "lbfgs", "losses", "pyramid", "stopping")
]
RUN_FUNCTIONS = ("run", "_strong_wolfe")
REFERENCE_STEPS = 300


@dataclass(frozen=True)
class Spec:
    """One way to optimise a pair (the reference: every field at its default)."""

    steps: int = REFERENCE_STEPS  # the cap at full size
    pyramid_gain: float = 0.0
    stop_tolerance: float = 0.0
    stop_window: int = 20
    lbfgs_history: int = 50
    coarse: tuple[tuple[float, int], ...] = ()  # (fraction of the size, steps) before it
    blur: float = 0.0  # init: the content blurred by this sigma (px at full size)
    line_search: bool = False  # torch's LBFGS with strong-Wolfe (evaluations counted)


def code_digest(path: Path, only: tuple[str, ...] = ()) -> bytes:
    """The module's code without comments and docstrings (its AST, docstrings dropped);
    with `only`, just its top-level functions of those names."""
    tree = ast.parse(path.read_text())
    if only:
        tree.body = [node for node in tree.body if getattr(node, "name", None) in only]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).digest()


@functools.cache
def _schema_properties() -> dict:
    import yaml

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    return schema["properties"]


def schema_default(key: str):
    """A workflow default, read where it lives (the config schema)."""
    return _schema_properties()[key]["default"]


def defaults() -> Spec:
    keys = ("steps", "pyramid_gain", "stop_tolerance", "stop_window", "lbfgs_history")
    return Spec(**{k: schema_default(k) for k in keys})


def candidates(chosen: Spec) -> dict[str, Spec]:
    plain_stop = replace(
        Spec(), stop_tolerance=chosen.stop_tolerance, stop_window=chosen.stop_window
    )
    pyramid = replace(chosen, stop_tolerance=0.0)
    return {
        "stop on pixels": plain_stop,
        "pyramid, no stop": pyramid,
        **{
            f"pyramid gain {gain:g}, no stop": replace(pyramid, pyramid_gain=gain)
            for gain in (round(chosen.pyramid_gain - 0.1, 2), round(chosen.pyramid_gain + 0.1, 2))
        },
        "pyramid, history 100": replace(pyramid, lbfgs_history=100),
        "coarse 1/2 x 60, then stop": replace(chosen, coarse=((0.5, 60),)),
        "blurred init (2 px)": replace(chosen, blur=2.0),
        "strong-Wolfe line search": replace(Spec(), line_search=True),
        "defaults": chosen,
    }


class Pair:
    def __init__(self, content: Path, style: Path, size: int, net, info, pooling: str, device):
        self.content_path, self.style_path, self.size = content, style, size
        self.net, self.info, self.pooling, self.device = net, info, pooling, device
        self.content = load_image(content, size)[None].to(device)
        self.name = f"{content.stem} x {style.stem} @{size}"

    def grams(self, side: int) -> dict:
        layers = list(self.info.style_layers)
        grams = style_targets.compute(self.net, self.style_path, layers, [side], self.device)
        return {k.split("/")[1]: v[None].to(self.device) for k, v in grams.items()}

    def key(self, spec: Spec) -> str:
        digest = hashlib.sha256()
        for path in (self.content_path, self.style_path):
            digest.update(path.read_bytes())
        for path in OPTIMISER_SOURCES:
            digest.update(code_digest(path))
        digest.update(code_digest(Path(__file__), only=RUN_FUNCTIONS))
        # Float fields as floats, so that a tolerance of 0 and of 0.0 are one run.
        settings = {
            f.name: float(getattr(spec, f.name)) if f.type == "float" else getattr(spec, f.name)
            for f in fields(spec)
        }
        what = [self.size, settings, self.info.key, self.pooling]
        digest.update(json.dumps(what).encode())
        return digest.hexdigest()[:16]

    def weights(self) -> LossWeights:
        one = torch.ones(1, device=self.device)
        return LossWeights(one, one * self.info.style_weight, one * self.info.tv_weight)

    def method(self, spec: Spec, steps: int) -> Method:
        return Method(
            self.info.content_layers,
            self.info.style_layers,
            steps=steps,
            lbfgs_history=spec.lbfgs_history,
            pyramid_gain=spec.pyramid_gain,
            stop_tolerance=spec.stop_tolerance,
            stop_window=spec.stop_window,
        )


def run(pair: Pair, spec: Spec) -> dict:
    """The spec on the pair: its image, trace [(work, lowest full-size loss so far)], work."""
    cached = OUT / f"{pair.key(spec)}.pt"
    if cached.exists():
        return torch.load(cached)
    height, width = pair.content.shape[-2:]
    plan = [(max(16, round(pair.size * f)), n) for f, n in spec.coarse] + [(pair.size, spec.steps)]
    trace, work, x = [], 0.0, None
    for side, steps in plan:
        hw = scaled_size(height, width, side)
        ratio, content, full = (
            hw[0] * hw[1] / (height * width),
            resize(pair.content, hw),
            side == pair.size,
        )
        if x is None:
            x = (
                content
                if not spec.blur
                else gaussian_blur(content, 4 * round(spec.blur) + 1, spec.blur)
            )
        start = resize(x, hw).to(pair.device)

        def record(step, terms, before=work, ratio=ratio, full=full):
            if full:
                best = min(float(terms[0, TOTAL]), trace[-1][1] if trace else float("inf"))
                trace.append((before + step * ratio, best))

        if spec.line_search:
            x, final, done = _strong_wolfe(pair, content, pair.grams(side), steps, record)
        else:
            outcome = optimize(
                pair.net,
                content,
                pair.grams(side),
                pair.weights(),
                pair.method(spec, steps),
                start,
                on_progress=record,
                progress_every=1,
            )
            x, final, done = (
                outcome.image,
                float(outcome.final[0, TOTAL]),
                int(outcome.steps_done[0]),
            )
        work += done * ratio
    score = Judge("vgg19", pair.device).score_pair(
        x[0], pair.content[0].cpu(), [(str(pair.style_path), 1.0)], pair.size
    )
    result = {
        "image": x[0],
        "trace": trace,
        "work": work,
        "final": final,
        "style": score.style,
        "content": score.content,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(result, cached)
    return result


def _strong_wolfe(pair: Pair, content, grams, evaluations: int, record):
    """torch.optim.LBFGS with its strong-Wolfe line search, for about `evaluations`
    evaluations (its line search may finish a few past; all are counted)."""
    method = pair.method(Spec(), evaluations)
    targets = content_targets(pair.net, content, method)
    x = content.detach().clone().requires_grad_(True)
    # torch's thresholds are absolute (a curvature pair needs y.s > 1e-10, the first step
    # is 1/|g|_1) and suit a loss near 1; ours starts near 1e6, where y.s drowns in
    # float32 noise, the unit step overshoots to 1e23 and the search stalls.  So it sees
    # the loss over its starting value; the tolerances are off, the count decides.
    lbfgs = torch.optim.LBFGS(
        [x],
        max_iter=evaluations,
        max_eval=evaluations,
        history_size=50,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )
    count = 0

    def loss():
        features = pair.net(x, method.layers)
        return gatys_loss(
            x, features, targets, grams, method.content_layers, method.style_layers, pair.weights()
        )

    with torch.no_grad():
        scale = float(loss().total.sum())

    def closure():
        nonlocal count
        lbfgs.zero_grad()
        terms = loss()
        total = terms.total.sum()
        (total / scale).backward()
        count += 1
        record(
            count,
            torch.stack([terms.content, terms.style, terms.tv, terms.total], 1).detach().cpu(),
        )
        return float(total.detach()) / scale

    lbfgs.step(closure)
    with torch.no_grad():  # the loss where it ended (not an evaluation of the search)
        final = float(loss().total.sum())
    return x.detach().clamp(0, 1).cpu(), final, count


def within(trace, target: float) -> float:
    """The work at which the trace first comes within 1% of `target`; inf if never."""
    return next((work for work, loss in trace if loss <= 1.01 * target), float("inf"))


def report(name: str, ref: dict, got: dict) -> str:
    return (
        f"{name:<28} {within(got['trace'], ref['final']):7.1f} {got['work']:7.1f} "
        f"{100 * (got['final'] / ref['final'] - 1):+7.2f}% {got['style'] - ref['style']:+8.4f} "
        f"{got['content'] - ref['content']:+8.4f}"
    )


HEADER = f"{'run':<28} {'to 1%':>7} {'work':>7} {'loss':>8} {'style Δ':>8} {'content Δ':>8}"


def setup(data: Path, pairs: int):
    """The workflow's VGG19 (its pooling), its pooling, the device and the sample pairs
    (photo, style image), the first `pairs` of them (0: all)."""
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    info, pooling = network("vgg19"), schema_default("pooling")
    layers = [*info.content_layers, *info.style_layers]
    net = build_backbone(info, info.default_file(), layers, pooling).to(device)
    photos = sorted(p for p in (data / "content").iterdir() if p.suffix in (".png", ".jpg"))
    styles = sorted(p for p in (data / "style").iterdir() if p.suffix in (".png", ".jpg"))
    combos = [(c, s) for c in photos for s in styles][: pairs or None]
    return net, info, pooling, device, combos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one pair at 128 px")
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 512])
    parser.add_argument("--pairs", type=int, default=0, help="only the first N pairs (0: all)")
    parser.add_argument(
        "--candidates",
        choices=["none", "first", "all"],
        default="first",
        help="measure the other candidates on no pair, the first pair of each size, or all",
    )
    parser.add_argument(
        "--only", nargs="+", default=[], help="only the pairs whose name has one of these"
    )
    parser.add_argument("--data", type=Path, default=REPO / "data")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.pairs, args.candidates = [128], 1, "none"

    net, info, pooling, device, combos = setup(args.data, args.pairs)
    if args.only:
        combos = [(c, s) for c, s in combos if any(o in f"{c.stem} x {s.stem}" for o in args.only)]
    chosen = defaults()
    print(
        f"defaults: {chosen}, {pooling} pooling\n"
        f"work in full-size steps; loss and scores against the reference ({device})"
    )
    works, losses, sheet = [], [], []
    for size in args.sizes:
        for index, (content, style) in enumerate(combos):
            pair = Pair(content, style, size, net, info, pooling, device)
            ref = run(pair, Spec())
            print(
                f"\n{pair.name}: reference loss {ref['final']:.5g}, "
                f"style {ref['style']:.4f}, content {ref['content']:.4f}\n{HEADER}"
            )
            print(report("reference", ref, ref))
            measured = args.candidates == "all" or (args.candidates == "first" and index == 0)
            for name, spec in (candidates(chosen) if measured else {"defaults": chosen}).items():
                got = run(pair, spec)
                print(report(name, ref, got), flush=True)
            got = run(pair, chosen)
            works.append(got["work"])
            losses.append(got["final"] / ref["final"] - 1)
            sheet.append(
                torch.cat(
                    [
                        resize(pair.content.cpu(), ref["image"].shape[-2:])[0],
                        ref["image"],
                        got["image"],
                    ],
                    -1,
                )
            )
    width = max(row.shape[-1] for row in sheet)
    rows = [torch.nn.functional.pad(row, (0, width - row.shape[-1]), value=1.0) for row in sheet]
    save_png(torch.cat(rows, -2), OUT / "sheet.png")
    print(f"\nsheet (photo | reference | defaults, per pair and size): {OUT / 'sheet.png'}")
    print(f"work: {round(100 * sum(works) / len(works) / REFERENCE_STEPS)}% of reference")
    print(f"loss: {100 * max(losses):+.1f}% vs reference")


if __name__ == "__main__":
    main()
