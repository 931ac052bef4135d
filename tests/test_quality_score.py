"""The held-out quality score (nst.quality) on its reference points, with real weights."""

import pytest
import torch

from conftest import write_image
from nst.images import load_image, resize
from nst.quality import Judge, judge_for


@pytest.fixture(scope="module")
def judge():
    return Judge("vgg19")


@pytest.fixture
def images(tmp_path):
    photo = write_image(tmp_path / "photo.png", 48, 64, seed=1)
    style = write_image(tmp_path / "style.png", 64, 64, seed=7)
    other = write_image(tmp_path / "other.png", 64, 64, seed=3)
    return photo, style, other


def test_the_judge_is_never_the_optimised_network():
    assert judge_for("vgg19").backbone == "efficientnet_lite0"
    assert judge_for("resnet50").backbone == "efficientnet_lite0"
    assert judge_for("efficientnet_lite0").key == "vgg19/original"


def test_the_photo_itself_scores_style_1_and_content_0(judge, images):
    photo, style, _ = images
    content = load_image(photo, 64)
    score = judge.score(content, content, judge.reference([(str(style), 1.0)], 64))
    assert score.style == pytest.approx(1.0) and score.content == pytest.approx(0.0)


def test_the_style_image_itself_scores_content_1_and_a_low_style(judge, images):
    photo, style, _ = images
    content = load_image(photo, 64)
    reference = judge.reference([(str(style), 1.0)], 64)
    as_result = resize(reference.image[None], tuple(content.shape[-2:]))[0]
    score = judge.score(as_result, content, reference)
    assert score.content == pytest.approx(1.0)
    assert score.style < 0.5  # the same picture, only resized


def test_a_blend_is_judged_against_the_blended_grams(judge, images):
    photo, style, other = images
    content = load_image(photo, 64)
    pure = judge.reference([(str(style), 1.0)], 64)
    blend = judge.reference([(str(style), 0.5), (str(other), 0.5)], 64)
    alone = judge.reference([(str(other), 1.0)], 64)
    for layer, gram in blend.grams.items():
        torch.testing.assert_close(gram, 0.5 * pure.grams[layer] + 0.5 * alone.grams[layer])
    score = judge.score(content, content, blend)
    assert score.style == pytest.approx(1.0) and score.content == pytest.approx(0.0)
