"""The high-resolution mode (nst.highres): tile grids, blend weights, tiled passes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from conftest import VGG19_TV
from nst.backbones import build_backbone
from nst.backbones.base import FeatureExtractor
from nst.highres import (
    HighresSettings,
    Problem,
    axis_spans,
    axis_weights,
    gram_sweep,
    make_grid,
    pass_grid,
    pass_offset,
    scale_sizes,
    seam_score,
    tile_edges,
    tile_for_budget,
    tiled_pass,
)
from nst.highres.memory import IMAGE_BUFFERS, MIN_TILE
from nst.losses import LossWeights, gatys_loss, gram_matrix, tv_loss
from nst.method import Method
from nst.outcome import StagedOutcome
from nst.stages import Refinement, Stage
from nst.stylize import stylize

CASES = [
    # (height, width, tile, overlap, margin): square, not divisible by the tile, one
    # tile, thin, no overlap
    (256, 256, 64, 16, 0),
    (256, 256, 64, 16, 4),
    (250, 190, 64, 16, 8),
    (64, 64, 64, 32, 8),
    (65, 300, 64, 32, 16),
    (1000, 37, 128, 48, 12),
    (300, 301, 100, 0, 0),
]


def small_net(kernel: int = 3) -> FeatureExtractor:
    """A tiny frozen conv net (fast on 2 cores): stride 2 at relu2, whose receptive field
    (kernel 3) reaches 4 px from its window; kernel 1 makes every feature per pixel."""
    torch.manual_seed(0)
    pad = kernel // 2
    layers = [
        ("conv1", nn.Conv2d(3, 8, kernel, padding=pad)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(8, 8, kernel, padding=pad)),
        ("relu2", nn.ReLU()),
    ]
    if kernel > 1:
        layers[2:2] = [("pool1", nn.AvgPool2d(2))]
    return FeatureExtractor(layers)


class Recording(nn.Module):
    """The network, remembering the (height, width) of every image it is given."""

    def __init__(self, net: FeatureExtractor):
        super().__init__()
        self.net, self.sizes = net, []

    def forward(self, image, layers):
        self.sizes.append(tuple(image.shape[-2:]))
        return self.net(image, layers)


def problem_for(net, content, style, weights=(1.0, 10.0, 1.0), content_layers=None):
    content_layers = content_layers or {"relu2": 1.0}
    style_layers = {"relu1": 1.0, "relu2": 1.0}
    plain = net.net if isinstance(net, Recording) else net  # the style is not recorded
    with torch.no_grad():
        grams = {k: gram_matrix(v) for k, v in plain(style, list(style_layers)).items()}
    w = LossWeights(*(torch.tensor([value]) for value in weights))
    return Problem(net, content, grams, w, content_layers, style_layers)


def images(size=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    content = torch.rand(1, 3, size, size, generator=g)
    style = torch.rand(1, 3, 96, 96, generator=g)
    return content, style


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiles this small gain nothing from a second thread, and lose a lot when the
    machine's other core is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- grid and blend weights -------------------------------------------------------------


@pytest.mark.parametrize("height, width, tile, overlap, margin", CASES)
def test_blend_weights_sum_to_one_at_every_pixel(height, width, tile, overlap, margin):
    stride = tile - overlap
    for offset in [(0, 0), (1, stride - 1), (stride // 2, 3), (stride - 1, 0)]:
        grid = make_grid(height, width, tile, overlap, offset, margin)
        exact = torch.zeros(height, width, dtype=torch.float64)
        placed = torch.zeros(height, width)
        for i, (top, bottom) in enumerate(grid.rows):
            for j, (left, right) in enumerate(grid.cols):
                u, v = grid.row_weights[i, top:bottom], grid.col_weights[j, left:right]
                exact[top:bottom, left:right] += torch.outer(u, v)
        for tile_, weight in grid.tiles():
            assert tile_.height <= tile and tile_.width <= tile
            assert tile_.height >= min(height, tile // 2) and tile_.width >= min(width, tile // 2)
            assert (weight >= 0).all() and weight.max() > 0
            placed[tile_.slices()] += weight
        assert (exact - 1).abs().max() < 1e-12
        assert (placed - 1).abs().max() < 1e-6
        # Zero outside each span: a tile's weight never leaks beyond its pixels.
        for k, (start, end) in enumerate(grid.rows):
            assert grid.row_weights[k, :start].eq(0).all() and grid.row_weights[k, end:].eq(0).all()
            # The margin at an inner edge is context only: weight zero there.
            if start > 0:
                assert grid.row_weights[k, start : start + margin].eq(0).all()
            if end < height:
                assert grid.row_weights[k, end - margin : end].eq(0).all()


def test_neighbouring_spans_overlap_by_the_overlap_and_ramp_smoothly():
    spans = axis_spans(256, 64, 16, offset=10)
    assert spans[0] == (0, 54) and spans[1] == (38, 102)  # 64 - 10 px, then the stride
    interior = list(zip(spans[1:-1], spans[2:-1]))
    assert all(a[1] - b[0] == 16 for a, b in interior)
    weights = axis_weights(256, spans, 16)
    # Across the overlap [38, 54) the first span's weight falls in equal steps to 1/17.
    ramp = weights[0, 38:54]
    torch.testing.assert_close(ramp.diff(), torch.full((15,), -1 / 17, dtype=torch.float64))
    assert weights[0, :38].eq(1).all()


def test_offsets_move_every_border_between_passes():
    edges = [tile_edges(make_grid(256, 256, 64, 16, pass_offset(k, 64, 16))) for k in range(6)]
    for k in range(5):
        rows, cols = edges[k]
        next_rows, next_cols = edges[k + 1]
        assert rows != next_rows and cols != next_cols
    fixed = {pass_offset(k, 64, 16, shift=False) for k in range(6)}
    assert fixed == {(0, 0)}
    assert len({pass_offset(k, 64, 16) for k in range(20)}) == 20
    assert all(0 <= o < 48 for k in range(50) for o in pass_offset(k, 64, 16))


def test_tiles_start_on_the_alignment():
    for k in range(12):
        grid = pass_grid(250, 190, 64, 16, k, margin=4, align=16)
        assert all(start % 16 == 0 for start, _ in (*grid.rows, *grid.cols))
        covered = torch.zeros(250, 190)
        for tile, weight in grid.tiles():
            covered[tile.slices()] += weight
        assert (covered - 1).abs().max() < 1e-6
    with pytest.raises(ValueError, match="multiples of 16"):
        axis_spans(256, 64, 24, align=16)


def test_bad_overlap_or_offset_is_refused():
    with pytest.raises(ValueError, match="overlap"):
        axis_spans(256, 64, 40)
    with pytest.raises(ValueError, match="offset"):
        axis_spans(256, 64, 16, offset=48)
    with pytest.raises(ValueError, match="overlap"):
        HighresSettings(tile=64, overlap=40)
    with pytest.raises(ValueError, match="margin"):
        make_grid(256, 256, 64, 16, margin=9)
    with pytest.raises(ValueError, match="margin"):
        HighresSettings(tile=64, overlap=16, margin=9)
    with pytest.raises(ValueError, match="memory_budget"):
        HighresSettings(tile="auto", memory_budget="lots")


def test_settings_round_trip_through_params():
    for settings in (HighresSettings(), HighresSettings(tile="auto", memory_budget=6.0)):
        params = settings.to_params()
        assert HighresSettings.from_params(params) == settings
        assert json.loads(json.dumps(params)) == params
    with pytest.raises(KeyError, match="tiles"):
        HighresSettings.from_params({"tiles": 4})


def test_scale_sizes_grow_by_at_most_the_factor_up_to_the_size():
    assert scale_sizes(512, 4096, 2.0) == (1024, 2048, 4096)
    assert scale_sizes(128, 256, 2.0) == (256,)
    assert scale_sizes(512, 512, 2.0) == () and scale_sizes(512, 300, 2.0) == ()
    sizes = (512, *scale_sizes(512, 3000, 2.0))
    assert sizes[-1] == 3000 and len(sizes) == 4
    assert all(1 < b / a <= 2.0 for a, b in zip(sizes, sizes[1:]))


def test_tile_for_budget_fits_the_image_buffers_and_the_graph():
    pixels, per_pixel = 4096 * 4096, 3000.0
    buffers = IMAGE_BUFFERS * 12 * pixels
    small = tile_for_budget(buffers + 2e9, pixels, per_pixel)
    large = tile_for_budget(buffers + 8e9, pixels, per_pixel)
    assert small % 32 == 0 and 2 * small - 32 <= large <= 2 * small + 32
    # The graph is not counted against the buffers when they live on another device.
    assert tile_for_budget(2e9, pixels, per_pixel, shared=False) == small
    with pytest.raises(MemoryError, match="memory budget"):
        tile_for_budget(buffers, pixels, per_pixel)
    assert tile_for_budget(buffers + 1e10, pixels, per_pixel) >= MIN_TILE


# ---- the tiled pass -----------------------------------------------------------------------


def test_the_tiles_weighted_tv_adds_up_to_tv_loss():
    """Every neighbour difference is shared by the mean weight of its pixels, so with
    weights summing to one (and the 1 px halo) the tiles' shares add up to tv_loss."""
    x = torch.rand(2, 3, 70, 90, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(tv_loss(x, torch.ones(70, 90), (70, 90)), tv_loss(x))
    total = torch.zeros(2)
    for tile, weight in make_grid(70, 90, 32, 12, (5, 7), margin=0).tiles():
        top, left = max(0, tile.top - 1), max(0, tile.left - 1)
        bottom, right = min(70, tile.bottom + 1), min(90, tile.right + 1)
        halo_weight = torch.zeros(bottom - top, right - left)
        halo_weight[tile.top - top : tile.bottom - top, tile.left - left : tile.right - left] = (
            weight
        )
        total += tv_loss(x[..., top:bottom, left:right], halo_weight, (70, 90))
    torch.testing.assert_close(total, tv_loss(x))


def untiled(problem: Problem, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient of the whole image's gatys_loss times its pixel count, and its
    (B, 3) terms."""
    net = problem.net
    with torch.no_grad():
        targets = net(problem.content, list(problem.content_layers))
    image = x.clone().requires_grad_(True)
    features = net(image, problem.layers)
    terms = gatys_loss(
        image,
        features,
        targets,
        problem.grams,
        problem.content_layers,
        problem.style_layers,
        problem.weights,
    )
    (terms.total.sum() * x.shape[-2] * x.shape[-1]).backward()
    return image.grad, torch.stack([terms.content, terms.style, terms.tv], 1).detach()


def halves(size=256):
    """An image whose halves differ, so that no tile's statistics are the whole's."""
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(5))
    x[..., :, : size // 2] *= 0.3
    return x


@pytest.mark.parametrize("index", [0, 1, 5])
def test_summed_tile_grams_are_the_whole_images_when_the_margin_covers_the_field(index):
    """Tiles starting on the stride with a margin wider than the receptive field compute
    the whole image's features wherever they count them, and the pooled blend weights
    count every position once: the summed Grams are the image's."""
    net = small_net()
    content, style = images(256)
    problem = problem_for(net, content, style)
    x = halves()
    grid = pass_grid(256, 256, 64, 16, index, margin=8, align=problem.align)
    assert problem.align == 2 and len(grid) > 16
    tiled = gram_sweep(problem, x, grid).image_grams()
    with torch.no_grad():
        whole = net(x, list(problem.style_layers))
    for name, gram in tiled.items():
        torch.testing.assert_close(gram, gram_matrix(whole[name]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("index", [0, 3])
def test_tiled_loss_and_gradient_are_the_untiled_ones(index):
    """Content, style (through the image's Grams) and TV: the tiles' gradients add up to
    the whole image's, and the pass reports the whole image's terms."""
    net = small_net()
    content, style = images(256)
    problem = problem_for(net, content, style, weights=(1.0, 30.0, 0.5))
    x = halves()
    grad = torch.empty_like(x)
    grid = pass_grid(256, 256, 64, 16, index, margin=8, align=problem.align)
    terms = tiled_pass(problem, x, grid, grad)
    expected, expected_terms = untiled(problem, x)
    assert expected.abs().max() > 0
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(terms[:, :3], expected_terms, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(terms[:, 3], expected_terms.sum(1))
    # Measuring only (no grad buffer) gives the same terms.
    torch.testing.assert_close(tiled_pass(problem, x, grid), terms)


def test_a_margin_short_of_the_field_is_close_but_not_exact():
    """Without context at the inner edges the features near them see the tile's padding:
    the gradient is then an approximation, still close to the untiled one."""
    problem = problem_for(small_net(), *images(256), weights=(1.0, 30.0, 0.5))
    x = halves()
    grad = torch.empty_like(x)
    tiled_pass(problem, x, pass_grid(256, 256, 64, 16, 2, margin=0, align=2), grad)
    expected, _ = untiled(problem, x)
    cosine = torch.nn.functional.cosine_similarity(grad.flatten(), expected.flatten(), dim=0)
    assert 0.95 < cosine < 0.99999


def test_one_tile_is_the_untiled_gradient_with_vgg19(vgg19_file):
    """A tile as large as the image is the untiled problem: all three terms agree exactly,
    which pins down the tile objective's units."""
    layers = {"conv2_1": 1.0}
    style_layers = {"conv1_1": 1.0, "conv2_1": 1.0, "conv3_1": 1.0}
    net = build_backbone(VGG19_TV, vgg19_file, [*layers, *style_layers])
    content, style = images(48)
    with torch.no_grad():
        grams = {k: gram_matrix(v) for k, v in net(style, list(style_layers)).items()}
    w = LossWeights(torch.tensor([1.0]), torch.tensor([1e3]), torch.tensor([1e-2]))
    problem = Problem(net, content, grams, w, layers, style_layers)
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    grad = torch.empty_like(x)
    terms = tiled_pass(problem, x, make_grid(48, 48, 64, 16), grad)
    expected, expected_terms = untiled(problem, x)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(terms[:, :3], expected_terms)


# ---- the whole mode -----------------------------------------------------------------------

SETTINGS = HighresSettings(
    tile=64, overlap=16, margin=4, base_size=128, steps=6, learning_rate=0.02
)
BASE_STEPS = 8


def run_small(net, seed=0, settings=SETTINGS, size=256, base_steps=BASE_STEPS):
    """The mode on a size x size image, from seeded noise at the base size."""
    content, style = images(size)
    problem = problem_for(net, content, style)
    method = Method(problem.content_layers, problem.style_layers, steps=base_steps)
    base = settings.base_size
    noise = torch.rand(1, 3, base, base, generator=torch.Generator().manual_seed(seed))
    return highres(net, content, problem, method, settings, init=lambda _: noise)


def highres(net, content, problem, method, settings, init=None):
    """stylize's whole-image stage at the base size (at most the content's), then its
    refinement scales."""
    base = min(settings.base_size, max(content.shape[-2:]))
    stages = [Stage(base, method, problem.grams)]
    refinement = Refinement(settings, lambda size: problem.grams)
    return stylize(net, content, stages, problem.weights, init, refinement=refinement)


def test_refinement_only_ever_shows_the_network_a_tile():
    net = Recording(small_net())
    result = run_small(net)
    assert isinstance(result, StagedOutcome)
    assert [size for size, _ in result.stages] == [128, 256]
    assert result.image.shape == (1, 3, 256, 256) and result.final.shape == (1, 4)
    assert result.image is result.stages[-1][1].image and bool(result.finite.all())
    # First the whole image at the base size (L-BFGS), then only tiles.
    first_tile = next(k for k, size in enumerate(net.sizes) if size != (128, 128))
    assert first_tile > BASE_STEPS
    refinement = net.sizes[first_tile:]
    # 6 passes and the final measure, each two sweeps over 16 tiles or more: an image
    # forward, then a content and an image forward per tile.
    assert len(refinement) >= 7 * 3 * 16
    assert max(h for h, _ in refinement) <= 64 and max(w for _, w in refinement) <= 64


def test_loss_falls_over_the_passes():
    longer = HighresSettings(**{**SETTINGS.to_params(), "steps": 12})
    stages = run_small(small_net(), settings=longer).stages
    base, refined = stages[0][1], stages[1][1]
    assert base.history[-1, 0, 3] < base.history[0, 0, 3]
    totals = refined.history[:, 0, 3]
    assert torch.isfinite(totals).all() and bool(refined.finite.all())
    # Each pass's loss is the whole image's (margin 4 covers the field): it falls at
    # every pass of this small learning rate.
    assert (totals.diff() < 0).all()
    assert refined.final[0, 3] < totals[-1] < 0.9 * totals[0]


def test_result_is_deterministic_for_a_seed():
    net = small_net()
    quick = HighresSettings(tile=64, overlap=16, base_size=96, steps=3)
    first, again, other = (run_small(net, seed, quick, 192, 4).image for seed in (3, 3, 4))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_a_size_that_fits_the_base_is_one_untiled_stage():
    net = Recording(small_net())
    content, style = images(96)
    problem = problem_for(net, content, style)
    method = Method(problem.content_layers, problem.style_layers, steps=BASE_STEPS)
    result = highres(net, content, problem, method, SETTINGS)
    assert [size for size, _ in result.stages] == [96]
    assert set(net.sizes) == {(96, 96)}


def test_seam_score_sees_a_jump_at_the_borders_and_not_in_noise():
    noise = 0.4 + 0.2 * torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0))
    rows, cols = tile_edges(make_grid(256, 256, 64, 16, (7, 11)))
    assert abs(seam_score(noise, rows, cols) - 1.0) < 0.05
    seamed = noise.clone()
    for k, c in enumerate(sorted(cols)):
        seamed[:, :, c:] += 0.1 * (-1) ** k  # a step at every vertical border
    assert seam_score(seamed, rows, cols) > 1.3


def test_seam_score_compares_aligned_borders_with_lines_of_their_phase():
    """A faint pattern of the network's stride (pooling) on 16-aligned borders is not a
    seam: with period 16 the borders are compared with the other lines of that phase."""
    image = 0.4 + 0.2 * torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(1))
    image[:, :, ::16] += 0.2  # a jump into and out of every 16th column
    image[:, ::16, :] += 0.2
    rows, cols = tile_edges(pass_grid(256, 256, 64, 16, 3, align=16))
    assert seam_score(image, rows, cols) > 1.5
    assert abs(seam_score(image, rows, cols, period=16) - 1.0) < 0.1
