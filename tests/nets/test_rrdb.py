"""RRDBNet: the BasicSR / Real-ESRGAN key layout and parameter count."""
import pytest
import torch

from cyclesr.nets import create_net


def test_parameter_count_of_realesrgan_x4plus():
    """RealESRGAN_x4plus: num_feat 64, num_block 23, num_grow_ch 32 -> 16,697,987 parameters."""
    net = create_net("RRDBNet", num_feat=64, num_block=23, num_grow_ch=32, upscale=4)
    assert sum(p.numel() for p in net.parameters()) == 16_697_987


@pytest.mark.parametrize("scale,first_in", [(1, 48), (2, 12), (4, 3), (8, 3)])
def test_key_layout_and_pixel_unshuffle_input(scale, first_in):
    net = create_net("RRDBNet", num_feat=8, num_block=2, num_grow_ch=4, upscale=scale)
    keys = set(net.state_dict())
    expected = {"conv_first.weight", "body.0.rdb1.conv1.weight", "body.1.rdb3.conv5.bias",
                "conv_body.weight", "conv_up1.weight", "conv_up2.weight", "conv_hr.weight",
                "conv_last.weight"}
    assert expected <= keys
    assert ("conv_up3.weight" in keys) == (scale == 8)
    assert net.state_dict()["conv_first.weight"].shape[1] == first_in


@pytest.mark.parametrize("scale", [1, 2])
def test_unshuffled_scales_accept_any_size(scale):
    net = create_net("RRDBNet", num_feat=8, num_block=1, num_grow_ch=4, upscale=scale).eval()
    with torch.no_grad():
        odd, even = net(torch.rand(1, 3, 9, 13)), net(torch.rand(1, 3, 8, 12))
    assert odd.shape == (1, 3, 9 * scale, 13 * scale) and even.shape == (1, 3, 8 * scale, 12 * scale)
