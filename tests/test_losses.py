"""The loss math against hand computations."""

import warnings

import torch

from nst.losses import LossWeights, content_loss, gatys_loss, gram_matrix, style_loss, tv_loss


def test_gram_matrix_by_hand():
    # One image, 2 channels, 2x2 pixels: F = [[1, 2, 3, 4], [0, 1, 0, 1]].
    features = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    # F F^T = [[30, 6], [6, 2]], divided by C*H*W = 8.
    expected = torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8
    torch.testing.assert_close(gram_matrix(features), expected)


def test_gram_matrix_is_per_image_in_a_batch():
    batch = torch.randn(3, 4, 5, 6)
    grams = gram_matrix(batch)
    assert grams.shape == (3, 4, 4)
    for b in range(3):
        torch.testing.assert_close(grams[b], gram_matrix(batch[b : b + 1])[0])


def test_gram_matrix_stays_float32_under_autocast():
    features = torch.randn(2, 8, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gram = gram_matrix(features)
    assert gram.dtype == torch.float32
    torch.testing.assert_close(gram, gram_matrix(features))


def test_content_style_and_tv_losses_by_hand():
    a = torch.zeros(2, 1, 2, 2)
    b = torch.ones(2, 1, 2, 2)
    b[1] *= 3
    torch.testing.assert_close(content_loss(a, b), torch.tensor([1.0, 9.0]))
    torch.testing.assert_close(
        style_loss(torch.zeros(1, 2, 2), torch.full((1, 2, 2), 2.0)), torch.tensor([4.0])
    )
    # Two identical rows 0, 1, 2: horizontal steps all 1 (mean 1), vertical steps all 0.
    ramp = torch.tensor([0.0, 1.0, 2.0]).expand(1, 3, 2, 3)
    torch.testing.assert_close(tv_loss(ramp), torch.tensor([1.0]))


def test_gatys_loss_weights_each_term_per_image():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 8, 8)
    features = {"a": torch.randn(2, 4, 4, 4), "b": torch.randn(2, 6, 2, 2)}
    content = {"a": torch.randn(2, 4, 4, 4)}
    style = {"a": torch.randn(2, 4, 4), "b": torch.randn(2, 6, 6)}
    weights = LossWeights(
        torch.tensor([1.0, 2.0]), torch.tensor([10.0, 0.0]), torch.tensor([0.5, 0.5])
    )
    terms = gatys_loss(image, features, content, style, {"a": 1.0}, {"a": 0.3, "b": 0.7}, weights)
    expected_style = 0.3 * style_loss(gram_matrix(features["a"]), style["a"]) + 0.7 * style_loss(
        gram_matrix(features["b"]), style["b"]
    )
    torch.testing.assert_close(
        terms.content, torch.tensor([1.0, 2.0]) * content_loss(features["a"], content["a"])
    )
    torch.testing.assert_close(terms.style, torch.tensor([10.0, 0.0]) * expected_style)
    torch.testing.assert_close(terms.tv, 0.5 * tv_loss(image))
    torch.testing.assert_close(terms.total, terms.content + terms.style + terms.tv)


def test_gram_gradient_in_both_memory_layouts():
    torch.manual_seed(0)
    features = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    target = torch.randn(2, 3, 3, dtype=torch.float64)
    for layout in (torch.contiguous_format, torch.channels_last):
        x = features.clone().contiguous(memory_format=layout).requires_grad_(True)
        torch.autograd.gradcheck(gram_matrix, (x,))
        style_loss(gram_matrix(x), target).sum().backward()
        # Against autograd's own derivative of the plain formula.
        y = features.clone().requires_grad_(True)
        flat = y.reshape(2, 3, 20)
        style_loss(flat @ flat.transpose(1, 2) / 60, target).sum().backward()
        torch.testing.assert_close(x.grad, y.grad)
        torch.testing.assert_close(gram_matrix(x), gram_matrix(features))


def test_losses_are_float32_and_a_style_target_is_shared_by_the_batch():
    features = torch.randn(2, 3, 4, 4)
    target = torch.randn(2, 3, 4, 4)
    bf16 = content_loss(features.bfloat16(), target)
    assert bf16.dtype == torch.float32
    torch.testing.assert_close(bf16, content_loss(features.bfloat16().float(), target))
    grams, shared = torch.randn(3, 4, 4), torch.randn(1, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # mse_loss warns about broadcast targets
        together = style_loss(grams, shared)
    torch.testing.assert_close(together, style_loss(grams, shared.expand(3, 4, 4)))
    torch.testing.assert_close(together[1], ((grams[1] - shared[0]) ** 2).mean())


def test_a_weight_of_ones_is_the_unweighted_loss_and_gradient():
    torch.manual_seed(1)
    features = torch.randn(2, 4, 5, 7, dtype=torch.float64)
    target = torch.randn(2, 4, 5, 7, dtype=torch.float64)
    image = torch.rand(2, 3, 6, 9, dtype=torch.float64)
    cases = [(gram_matrix, (features,)), (content_loss, (features, target)), (tv_loss, (image,))]
    for fn, args in cases:
        h, w = args[0].shape[-2:]
        for ones in (torch.ones(h, w, dtype=torch.float64), torch.ones(2, 1, h, w).double()):
            plain = args[0].clone().requires_grad_(True)
            weighted = args[0].clone().requires_grad_(True)
            a = fn(plain, *args[1:])
            b = fn(weighted, *args[1:], ones)
            torch.testing.assert_close(b, a)
            a.sum().backward()
            b.sum().backward()
            torch.testing.assert_close(weighted.grad, plain.grad)


def test_weighted_losses_count_each_position_by_its_weight():
    """A 0/1 weight is the loss of the positions it keeps; a per-image weight is per
    image; `positions` replaces the weights' sum (a tile's share of a larger image)."""
    torch.manual_seed(2)
    features = torch.randn(2, 3, 4, 6)
    target = torch.randn(2, 3, 4, 6)
    left = torch.zeros(2, 1, 4, 6)
    left[0, :, :, :3] = 1  # image 0: its left half; image 1: all of it
    left[1] = 1
    gram = gram_matrix(features, left)
    torch.testing.assert_close(gram[0], gram_matrix(features[:1, :, :, :3])[0])
    torch.testing.assert_close(gram[1], gram_matrix(features[1:])[0])
    content = content_loss(features, target, left)
    torch.testing.assert_close(
        content[0], content_loss(features[:1, ..., :3], target[:1, ..., :3])[0]
    )
    half = gram_matrix(features, left, positions=48.0)
    torch.testing.assert_close(half[0], gram[0] * 12 / 48)
    # A soft weight counts in proportion: 0.5 everywhere is the unweighted mean.
    torch.testing.assert_close(
        gram_matrix(features, torch.full((4, 6), 0.5)), gram_matrix(features)
    )
