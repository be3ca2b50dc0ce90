"""SRVGGNetCompact: Real-ESRGAN's Compact layout, sizes and parameter count."""
import pytest
import torch
import torch.nn.functional as F

from cyclesr.nets import NETS, create_net


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_registered_with_the_sr_attributes():
    net = create_net("SRVGGNetCompact", num_feat=8, num_conv=2, upscale=3)
    assert NETS["SRVGGNetCompact"] is type(net)
    assert net.scale == 3 and net.per_sample is True


def test_parameter_count_of_realesr_general_x4v3():
    """num_feat 64, num_conv 32, x4: convs 3->64, 32 x 64->64, 64->48 (3*4*4), each with bias,
    plus 33 PReLUs of 64 weights: 1,792 + 32 * 36,928 + 27,696 + 33 * 64 = 1,213,296."""
    net = create_net("SRVGGNetCompact", num_feat=64, num_conv=32, upscale=4)
    assert _count(net) == 1_213_296


def test_key_layout_is_conv_prelu_then_last_conv():
    net = create_net("SRVGGNetCompact", num_feat=8, num_conv=2, upscale=2)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes["body.0.weight"] == (8, 3, 3, 3) and shapes["body.1.weight"] == (8,)
    assert shapes["body.3.weight"] == (8,) and shapes["body.6.weight"] == (12, 8, 3, 3)
    assert len(net.body) == 2 * 2 + 3


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_any_size_and_the_residual_is_the_nearest_upsampled_input(scale):
    net = create_net("SRVGGNetCompact", num_feat=8, num_conv=1, upscale=scale).eval()
    x = torch.rand(2, 3, 7, 11)
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
        out = net(x)
    assert out.shape == (2, 3, 7 * scale, 11 * scale)
    assert torch.equal(out, F.interpolate(x, scale_factor=scale, mode="nearest"))


def test_bad_scale_is_refused():
    with pytest.raises(ValueError, match="upscale"):
        create_net("SRVGGNetCompact", upscale=5)


def test_gradients_reach_the_first_layers_and_it_trains_beyond_nearest_upsampling():
    """With PyTorch's default initialisation the deep plain stack passed first-layer gradients of
    about 1e-11, below Adam's epsilon (1e-8): it stayed at nearest upsampling on real photos. Its
    own (He) initialisation keeps them at the output's order and learns from the start."""
    torch.manual_seed(0)
    hr = F.avg_pool2d(torch.rand(8, 3, 64, 64), 5, 1, 2)  # smooth images
    lr = F.interpolate(hr, scale_factor=0.25, mode="bicubic", antialias=True)
    net = create_net("SRVGGNetCompact", num_feat=48, num_conv=16, upscale=4)  # the benchmark's size
    F.mse_loss(net(lr), hr).backward()
    assert float(net.body[0].weight.grad.abs().mean()) > 1e-6
    assert float(net.body[1].weight.grad.abs().mean()) > 1e-6  # the first PReLU's slopes
    nearest = F.mse_loss(F.interpolate(lr, scale_factor=4), hr)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(60):
        loss = F.mse_loss(net(lr), hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.7 * float(nearest)
