"""The per-pair stop and the pyramid parameterisation: the rule, and pairs that stop at
different steps in one batch getting what they get alone."""

import pytest
import torch
from torch import nn

from nst.descent import optimize
from nst.losses import LossWeights, gram_matrix
from nst.method import Method
from nst.outcome import TOTAL
from nst.pyramid import Pyramid, level_sizes
from nst.stopping import CHECK_EVERY, StopRule


def test_the_rule_stops_where_the_curve_flattens_and_never_within_a_window():
    steps = torch.arange(200, dtype=torch.float64)
    curve = (1 + 10 / (1 + steps))[:, None]  # falls fast, then ever more slowly
    rule = StopRule(tolerance=0.01, window=10)
    fired = [n for n in range(1, 201) if rule.checks(n) and rule.converged(curve, n).item()]
    # First n (a multiple of CHECK_EVERY) where (L[n-11] - L[n-1]) < 0.01 L[n-1].
    expected = next(
        n
        for n in range(CHECK_EVERY, 201, CHECK_EVERY)
        if n > 10 and curve[n - 11] - curve[n - 1] < 0.01 * curve[n - 1]
    )
    assert fired[0] == expected and 10 < expected < 200
    assert not any(rule.checks(n) for n in range(1, 11))  # never before a whole window
    assert not any(StopRule(0.0, 10).checks(n) for n in range(1, 201))  # 0: never


class TwoLayers(nn.Module):
    """A stand-in feature extractor: two random convolutions, features by name."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.register_buffer("unused", torch.zeros(1))

    def forward(self, image, layers):
        a = torch.relu(self.a(image))
        return {"a": a, "b": torch.relu(self.b(a))}


def problem(style_weights, seed=0):
    """In float64: a batched convolution sums in another order than a single one, and
    over a hundred steps L-BFGS turns float32's rounding into visible differences
    (the real networks' tests: tests/test_shard_runner.py)."""
    generator = torch.Generator().manual_seed(seed)
    net = TwoLayers().double()
    content = torch.rand(1, 3, 24, 32, generator=generator, dtype=torch.float64)
    content = content.repeat(len(style_weights), 1, 1, 1)
    style = torch.rand(1, 3, 24, 32, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        features = net(style, ["a", "b"])
    grams = {k: gram_matrix(v).repeat(len(style_weights), 1, 1) for k, v in features.items()}
    weights = LossWeights(
        *(
            torch.tensor(w, dtype=torch.float64)
            for w in ([1.0] * len(style_weights), style_weights, [0.1] * len(style_weights))
        )
    )
    return net, content, grams, weights


def run(style_weights, **method):
    net, content, grams, weights = problem(style_weights)
    settings = Method({"b": 1.0}, {"a": 1.0, "b": 1.0}, **{"steps": 150, **method})
    return optimize(net, content, grams, weights, settings, content.clone())


@pytest.mark.parametrize("gain", [0.0, 0.6])
def test_pairs_that_stop_at_different_steps_get_what_they_get_alone(gain):
    style_weights = [1e2, 1e3, 1e4]
    stop = dict(stop_tolerance=1e-3, stop_window=10, pyramid_gain=gain)
    batch = run(style_weights, **stop)
    steps = batch.steps_done.tolist()
    assert len(set(steps)) > 1 and max(steps) < 150  # each stops when it has converged
    for b, weight in enumerate(style_weights):
        alone = run([weight], **stop)
        assert int(alone.steps_done[0]) == steps[b]
        assert float(batch.final[b, TOTAL]) == pytest.approx(float(alone.final[0, TOTAL]), rel=1e-5)
        assert (batch.image[b] - alone.image[0]).abs().max() < 1e-5
        # The curve stops where the pair stopped: nothing recorded after it.
        assert torch.isfinite(batch.history[: steps[b], b]).all()
        assert torch.isnan(batch.history[steps[b] :, b]).all()


def test_a_pair_runs_to_the_cap_and_never_past_it():
    outcome = run([1e4], steps=40, stop_tolerance=1e-12, stop_window=10)
    assert outcome.steps_done.tolist() == [40] and outcome.history.shape[0] == 40
    stopped = run([1e4], steps=40, stop_tolerance=1e9, stop_window=10)  # converged at once
    assert stopped.steps_done.tolist() == [15]  # the first check after a whole window


def test_the_pyramid_is_the_same_image_and_a_better_conditioned_problem():
    image = torch.rand(2, 3, 13, 20)
    pyramid = Pyramid(13, 20, gain=0.6)
    assert level_sizes(13, 20)[-1] == (1, 1)
    assert torch.equal(pyramid.image(pyramid.start(image)), image)
    # A coarse coefficient moves a whole area: the last level is one value for the image.
    flat = torch.zeros(1, sum(pyramid.numels))
    flat[0, -3:] = 1.0
    moved = pyramid.image(flat)
    assert moved.min() > 0 and torch.allclose(moved, moved.mean((2, 3), keepdim=True), rtol=1e-5)
    plain = run([1e4], steps=60)
    better = run([1e4], steps=60, pyramid_gain=0.6)
    assert float(better.final[0, TOTAL]) < float(plain.final[0, TOTAL])
