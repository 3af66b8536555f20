"""pix2pix's nets (ganlab.nets.pix2pix): the U-Net's skips carry each encoder layer's output
to its mirror in the decoder, and each PatchGAN output sees a 70 x 70 patch."""

import pytest
import torch
from torch import nn

from ganlab.nets.pix2pix import PatchDiscriminator, UNetGenerator, receptive_field


def test_the_unet_maps_an_image_to_an_image_of_the_same_size_in_range():
    for size in (8, 64):
        net = UNetGenerator(1, 3, size, width=8)
        out = net(torch.randn(2, 1, size, size))
        assert out.shape == (2, 3, size, size) and out.abs().max() <= 1
    with pytest.raises(ValueError, match="2\\^k >= 8"):
        UNetGenerator(3, 3, 48)


def test_each_decoder_layer_reads_its_input_beside_the_mirrored_encoder_output():
    net = UNetGenerator(3, 3, 32, width=4).eval()
    encoded, decoded_inputs = [], []
    for layer in net.encoder:
        layer.register_forward_hook(lambda m, i, o: encoded.append(o))
    for layer in net.decoder:
        layer.register_forward_pre_hook(lambda m, i: decoded_inputs.append(i[0]))
    net(torch.randn(1, 3, 32, 32))
    n = len(net.encoder)
    assert torch.equal(decoded_inputs[0], encoded[-1])  # the innermost: no skip
    for k in range(1, n):  # decoder layer k: the layer below, then encoder layer n - 1 - k
        skip = encoded[n - 1 - k]
        assert torch.equal(decoded_inputs[k][:, -skip.shape[1] :], skip)
    dropouts = [m for m in net.decoder.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 3  # the first three decoder layers (the paper's noise)


@pytest.mark.parametrize(("n_layers", "patch"), [(1, 16), (3, 70), (5, 286)])
def test_receptive_field_of_the_patchgan(n_layers, patch):
    assert receptive_field(n_layers) == patch


def test_one_patchgan_output_sees_exactly_a_70_pixel_square():
    net = PatchDiscriminator(2, width=4, n_layers=3).eval()
    condition = torch.randn(1, 1, 128, 128, requires_grad=True)
    image = torch.randn(1, 1, 128, 128)
    logits = net(condition, image)
    row, col = logits.shape[2] // 2, logits.shape[3] // 2
    logits[0, 0, row, col].backward()
    seen = condition.grad[0, 0].abs() > 0
    rows, cols = seen.any(1).nonzero(), seen.any(0).nonzero()
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70
