"""Colour preservation."""

import torch

from nst.color import _RGB_TO_YIQ, luminance_transfer, match_color_statistics, preserve_color


def yiq(image):
    return torch.einsum("ij,jhw->ihw", _RGB_TO_YIQ, image)


def test_luminance_transfer_keeps_result_luminance_and_content_colour():
    torch.manual_seed(0)
    result = 0.25 + 0.5 * torch.rand(3, 16, 16)
    content = 0.25 + 0.5 * torch.rand(3, 16, 16)
    out = luminance_transfer(result, content)
    torch.testing.assert_close(yiq(out)[0], yiq(result)[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(yiq(out)[1:], yiq(content)[1:], atol=1e-5, rtol=1e-4)


def test_histogram_matching_gives_the_reference_mean_and_covariance():
    torch.manual_seed(0)
    image = torch.rand(3, 32, 32) * 0.3 + 0.1
    reference = torch.rand(3, 32, 32) * 0.2 + 0.5
    out = match_color_statistics(image, reference)
    pixels, ref = out.reshape(3, -1), reference.reshape(3, -1)
    torch.testing.assert_close(pixels.mean(1), ref.mean(1), atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(torch.cov(pixels), torch.cov(ref), atol=1e-4, rtol=1e-2)


def test_none_returns_the_result_unchanged():
    image = torch.rand(3, 4, 4)
    assert preserve_color(image, torch.rand(3, 4, 4), "none") is image
