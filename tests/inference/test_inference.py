import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cyclesr.inference.upscale import auto_tile_size, color_fix, tta_upscale, upscale_image, upscale_tensor


class TinySR(nn.Module):
    """conv-relu-conv-pixelshuffle: receptive-field radius 2 input pixels."""

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.tail = nn.Conv2d(8, 3 * scale * scale, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(F.pixel_shuffle(self.tail(torch.relu(self.head(x))), self.scale))


class WideSR(nn.Module):
    """Five 3x3 convs (receptive-field radius 5): bigger than tile_pad / 2 in the seam test."""

    def __init__(self):
        super().__init__()
        layers = [nn.Conv2d(3, 8, 3, padding=1)] + [nn.Conv2d(8, 8, 3, padding=1) for _ in range(3)]
        self.body = nn.Sequential(*(m for conv in layers for m in (conv, nn.ReLU())))
        self.tail = nn.Conv2d(8, 12, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(F.pixel_shuffle(self.tail(self.body(x)), 2))


def image(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def net():
    torch.manual_seed(0)
    return TinySR(2)


def test_whole_image_shape_range_and_device(net):
    out = upscale_tensor(net, image(3, 11, 13), 2)
    assert out.shape == (3, 22, 26) and out.device.type == "cpu"
    assert 0 <= out.min() and out.max() <= 1
    assert upscale_tensor(net, image(2, 3, 11, 13), 2).shape == (2, 3, 22, 26)


@pytest.mark.parametrize(
    "tile, tile_pad",
    [(8, 4), (16, 4), (13, 4), (10, 8), (64, 4), (16, 0)],  # 13: not a divisor; 64: larger than the image
)
def test_tiled_matches_untiled(net, tile, tile_pad):
    lr = image(2, 3, 37, 29, seed=1)
    whole = upscale_tensor(net, lr, 2)
    tiled = upscale_tensor(net, lr, 2, tile=tile, tile_pad=tile_pad, batch_tiles=3)
    assert tiled.shape == whole.shape
    if tile_pad >= 4:  # receptive-field radius 2 <= tile_pad / 2: exact up to float error
        assert (tiled - whole).abs().max() < 1e-5
    else:  # hard cuts: pixels 2 or more input pixels away from every cut are still exact
        assert (tiled - whole)[..., 4:24, 4:24].abs().max() < 1e-5


def test_tiled_blend_is_close_for_wider_receptive_field():
    torch.manual_seed(1)
    wide = WideSR()
    lr = image(3, 40, 40, seed=2)
    whole = upscale_tensor(wide, lr, 2)
    tiled = upscale_tensor(wide, lr, 2, tile=12, tile_pad=8)
    assert (tiled - whole).abs().max() < 1 / 255


def test_scale_one_and_batch_tiles_one():
    torch.manual_seed(0)
    net1 = TinySR(1)
    lr = image(3, 21, 18, seed=3)
    whole = upscale_tensor(net1, lr, 1)
    assert whole.shape == lr.shape
    tiled = upscale_tensor(net1, lr, 1, tile=7, tile_pad=4, batch_tiles=1)
    assert (tiled - whole).abs().max() < 1e-5


def test_mode_restored_and_no_grad(net):
    net.train()
    out = upscale_tensor(net, image(3, 8, 8), 2, tile=4, tile_pad=2)
    assert net.training and not out.requires_grad


def test_half_needs_cuda_and_wrong_scale_is_loud(net):
    with pytest.raises(ValueError, match="CUDA"):
        upscale_tensor(net, image(3, 8, 8), 2, half=True, device="cpu")
    with pytest.raises(ValueError, match="scale"):
        upscale_tensor(net, image(3, 8, 8), 3)
    with pytest.raises(ValueError, match="scale"):
        upscale_tensor(net, image(3, 8, 8), 3, tile=4)


def test_auto_tile_size():
    assert auto_tile_size(64, 64, 4, budget_bytes=10**12) is None
    tile = auto_tile_size(4000, 4000, 4, net_params=10**7, budget_bytes=2 * 10**9)
    assert isinstance(tile, int) and tile >= 32 and tile % 32 == 0
    smaller = auto_tile_size(4000, 4000, 4, net_params=TinySR(4), budget_bytes=10**8)
    assert smaller is not None and smaller >= 32
    free = auto_tile_size(100_000, 100_000, 4)  # reads MemAvailable; never the whole image
    assert isinstance(free, int) and free >= 32


def bicubic_x2(x):
    x4 = x.unsqueeze(0) if x.dim() == 3 else x
    out = F.interpolate(x4, scale_factor=2, mode="bicubic", align_corners=False)
    return out[0] if x.dim() == 3 else out


def test_tta_of_equivariant_functions_is_unchanged():
    lr = image(3, 9, 14, seed=4)
    assert torch.allclose(tta_upscale(lambda x: x, lr), lr, atol=1e-6)
    assert torch.allclose(tta_upscale(bicubic_x2, lr), bicubic_x2(lr), atol=1e-5)


def test_tta_inverts_each_transform(net):
    lr = image(1, 3, 9, 14, seed=5)
    out = tta_upscale(lambda x: upscale_tensor(net, x, 2), lr)
    assert out.shape == (1, 3, 18, 28)
    shift = torch.zeros_like(lr)
    shift[..., 0, 0] = 1.0  # a marker pixel must stay where it is after every inverse transform
    assert torch.equal(tta_upscale(lambda x: x, shift), shift)


def test_color_fix_removes_colour_offset():
    lr = 0.3 + 0.4 * F.interpolate(image(1, 3, 4, 4, seed=6), size=(16, 16), mode="bilinear")[0]
    clean = bicubic_x2(lr)
    offset = torch.tensor([0.1, -0.05, 0.0]).view(3, 1, 1)
    fixed = color_fix(clean + offset, lr, 2)
    assert (fixed - clean).abs().max() < 1e-4
    detail = 0.05 * (-1.0) ** torch.arange(32).view(1, 32, 1)  # high frequencies survive
    kept = color_fix(clean + detail, lr, 2)
    assert ((kept - clean) - detail).abs().mean() < 0.01


def test_upscale_image_sizes_and_alpha(net):
    rgb, alpha = image(3, 15, 17, seed=7), image(1, 15, 17, seed=8)
    out, alpha_out = upscale_image(net, rgb, 2)
    assert out.shape == (3, 30, 34) and alpha_out is None
    assert torch.allclose(out, upscale_tensor(net, rgb, 2))
    out, alpha_out = upscale_image(net, rgb, 2, outscale=3.5, alpha=alpha, tile=8, tile_pad=4)
    size = (round(3.5 * 15), round(3.5 * 17))
    assert out.shape == (3, *size) and alpha_out.shape == (1, *size)
    assert 0 <= alpha_out.min() and alpha_out.max() <= 1
    out, alpha_out = upscale_image(net, rgb, 2, outscale=1, alpha=alpha, tta=True, color_fix=True)
    assert out.shape == (3, 15, 17) and alpha_out.shape == (1, 15, 17)
    with pytest.raises(ValueError):
        upscale_image(net, rgb, 2, alpha=image(1, 10, 10))
