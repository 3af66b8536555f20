"""Neural style transfer (ganlab.style_transfer): the Gram matrix and the losses of Gatys et
al.'s eq. 1, 3 and 4 by hand, and the optimisation on nets whose answer is known."""

import pytest
import torch
import torch.nn.functional as F

from ganlab.style_transfer import (
    StyleTransferSettings,
    content_loss,
    gram_matrix,
    style_layer_loss,
    transfer_style,
)


def test_gram_matrix_and_the_losses_by_hand():
    maps = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2): rows (1, 2), (3, 4)
    assert gram_matrix(maps).tolist() == [[[5.0, 11.0], [11.0, 25.0]]]
    ones = torch.ones(1, 1, 2, 2)  # G = 4 against A = 0: 16 / (4 * 1^2 * 4^2)
    assert style_layer_loss(ones, torch.zeros(1, 1, 1)).item() == pytest.approx(0.25)
    assert style_layer_loss(maps, gram_matrix(maps)).item() == 0.0
    assert content_loss(ones, torch.zeros_like(ones)).item() == pytest.approx(2.0)


def test_with_no_style_term_the_image_becomes_the_content_on_a_pixel_net():
    content = torch.rand(2, 3, 8, 8) * 2 - 1
    settings = StyleTransferSettings(content_layer=0, style_weight=0.0, content_weight=1.0)
    result = transfer_style(content, -content, lambda x: [x], settings)
    assert torch.allclose(result, content, atol=1e-3)


def test_with_no_content_term_the_style_statistics_are_matched():
    def maps(images):
        return [images, F.avg_pool2d(images, 2)]

    style = torch.rand(1, 3, 8, 8) * 2 - 1
    content = torch.zeros(1, 3, 8, 8)
    settings = StyleTransferSettings(content_weight=0.0, content_layer=1, steps=200)
    result = transfer_style(content, style, maps, settings)
    start = torch.rand(content.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    target = gram_matrix(style)
    assert style_layer_loss(result, target) < 0.05 * style_layer_loss(start, target)
    with pytest.raises(ValueError, match="noise or content"):
        StyleTransferSettings(start="photo")
