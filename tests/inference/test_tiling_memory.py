"""Tiled upscaling keeps memory bounded: besides the output image, a large image needs only
about one tile's activations (no full-size weight map), measured as peak RSS in a fresh process."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from cyclesr.data.pixel_limit import open_image
from cyclesr.inference.tile_size import _bytes_per_pixel, auto_tile_size
from cyclesr.inference.tiling import upscale_tensor, upscale_to_pixels
from cyclesr.ops.image import to_integer_array

# the start of both subprocess scripts: one thread and a cheap x4 network
CHEAP_X4 = r'''
import json, resource, sys
import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(1)

class CheapX4(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 4
        self.a = nn.Conv2d(3, 16, 3, padding=1)
        self.b = nn.Conv2d(16, 48, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(F.pixel_shuffle(self.b(torch.relu(self.a(x))), 4))
'''

SCRIPT = CHEAP_X4 + r'''
from cyclesr.inference.tiling import auto_tile_size, upscale_tensor

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

net = CheapX4()
side, budget = int(sys.argv[1]), int(sys.argv[2])
lr = torch.rand(3, side, side)
upscale_tensor(net, lr[:, :40, :40], 4, tile=16)  # warm-up
tile = auto_tile_size(side, side, 4, net, budget_bytes=budget)
before = rss_mb()
out = upscale_tensor(net, lr, 4, tile=tile)
print(json.dumps({"tile": tile, "increase_mb": rss_mb() - before, "out_mb": out.numel() * 4 / 2**20}))
'''


def test_auto_tile_size_follows_the_measured_activation_size():
    class Wide(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.scale = 2
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.out = nn.Conv2d(width, 12, 3, padding=1)

        def forward(self, x):
            return nn.functional.pixel_shuffle(self.out(self.conv(x)), 2)

    narrow, wide = _bytes_per_pixel(Wide(8), 2), _bytes_per_pixel(Wide(64), 2)
    assert 4 * (3 + 64) <= wide and narrow < wide  # input + output of the widest layer, float32
    budget = 64 * 2**20
    small, large = auto_tile_size(2000, 2000, 2, Wide(64), budget_bytes=budget), \
        auto_tile_size(2000, 2000, 2, Wide(8), budget_bytes=budget)
    assert small < large and (small + 32) ** 2 * wide <= budget


def test_tiled_peak_memory_is_output_plus_one_tile(tmp_path):
    side, budget = 1000, 16 * 2**20
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(side), str(budget)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["tile"] is not None and r["tile"] < side
    # output (183 MiB) + a tile's activations (< budget) + slack; a full-size weight map alone
    # would add a quarter of the output, and an untiled run several times the output
    assert r["increase_mb"] < r["out_mb"] + budget / 2**20 + 40, r


BIG_SCRIPT = CHEAP_X4 + r'''
from pathlib import Path
import numpy as np
from PIL import Image
from cyclesr.api.files import upscale_files
from cyclesr.api.model import CycleSR, UpscaleOptions

folder = Path(sys.argv[1])
pixels = np.random.default_rng(0).integers(0, 256, (2250, 3000, 3), np.uint8)
Image.fromarray(pixels).save(folder / "big.png", compress_level=1)
del pixels
options = UpscaleOptions(**json.loads(sys.argv[2]))
result = upscale_files(CycleSR(CheapX4(), None, 4, device="cpu"), [(folder / "big.png", Path("big.bmp"))],
                       folder / "out", options)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mb": peak, "written": [str(p) for p in result.written], "failed": result.failed}))
'''


@pytest.mark.slow
@pytest.mark.parametrize("options, size, budget_mb", [({}, (12000, 9000), 1536),
                                                      ({"color_fix": True, "outscale": 3.0}, (9000, 6750), 2048)])
def test_a_12000x9000_output_is_written_under_1_5_gb_peak_rss(tmp_path, options, size, budget_mb):
    """3000x2250 x4 through ``upscale_files`` (the path of ``cyclesr upscale``): the output's
    uint8 buffer (324 MB) is the largest; a float output alone would be 1.3 GB. The colour fix
    runs per tile and another outscale resizes the integer output in strips (a float16
    intermediate of 6 bytes per pixel): bounded too (the float path held several float copies)."""
    proc = subprocess.run([sys.executable, "-c", BIG_SCRIPT, str(tmp_path), json.dumps(options)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not r["failed"] and len(r["written"]) == 1
    with open_image(r["written"][0]) as im:  # header only; 108 MP is over Pillow's warning level
        assert im.size == size
    assert r["peak_mb"] < budget_mb, r


def _net(scale=2, width=8):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3 * scale**2, 3, padding=1),
                         nn.PixelShuffle(scale), nn.Sigmoid())


@pytest.mark.parametrize("tile, pad, batch_tiles, n", [(16, 4, 1, 1), (16, 16, 1, 1), (8, 12, 3, 1),
                                                      (24, 6, 2, 2), (64, 8, 1, 1)])
def test_streamed_pixels_equal_the_float_path_rounded(tile, pad, batch_tiles, n):
    """Tiles streamed into uint8/uint16 (overlaps of 2 and 3 tiles, batches of tiles and of
    images) give the float path's result rounded: at most one level apart, rarely."""
    net, lr = _net(), torch.rand(n, 3, 37, 53, generator=torch.Generator().manual_seed(1))
    ref = upscale_tensor(net, lr, 2, tile=tile, tile_pad=pad, batch_tiles=batch_tiles)
    for bits, white in ((8, 255), (16, 65535)):
        pixels = upscale_to_pixels(net, lr, 2, tile=tile, tile_pad=pad, bits=bits, batch_tiles=batch_tiles)
        expected = to_integer_array(ref.permute(0, 2, 3, 1).numpy(), bits)
        assert pixels.shape == expected.shape == (n, 74, 106, 3)
        diff = np.abs(pixels.astype(np.int64) - expected.astype(np.int64))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    assert upscale_to_pixels(net, lr[0], 2, tile=tile, tile_pad=pad).shape == (74, 106, 3)


def test_untiled_pixels_are_the_rounded_float_output():
    net, lr = _net(), torch.rand(3, 20, 24)
    expected = to_integer_array(upscale_tensor(net, lr, 2).permute(1, 2, 0).numpy(), 8)
    assert np.array_equal(upscale_to_pixels(net, lr, 2), expected)


@pytest.mark.parametrize("tta, fix", [(True, False), (False, True), (True, True)])
def test_tta_and_colour_fix_stream_per_tile_close_to_the_whole_image_result(tta, fix):
    """TTA and the colour fix run on each tile, so they stream into the integer output too; with
    the default tile padding the result is the whole-image float path's within a few levels."""
    from cyclesr.inference.upscale import upscale_image, upscale_image_pixels

    net, lr = _net(), torch.rand(3, 37, 53, generator=torch.Generator().manual_seed(2))
    ref, _ = upscale_image(net, lr, 2, tta=tta, color_fix=fix)  # one whole-image float pass
    pixels, _ = upscale_image_pixels(net, lr, 2, tile=16, tile_pad=16, tta=tta, color_fix=fix)
    diff = np.abs(pixels.astype(np.int64) - to_integer_array(ref.permute(1, 2, 0).numpy(), 8).astype(np.int64))
    assert pixels.shape == (74, 106, 3) and diff.max() <= 3 and diff.mean() < 0.2


@pytest.mark.parametrize("outscale, size", [(3.0, (111, 159)), (1.5, (56, 80)), (2.5, (92, 132))])
def test_another_outscale_resizes_the_integer_output_in_strips(outscale, size):
    """An --outscale other than the network's resizes the streamed integer output in strips: the
    float path's result within one level (one extra rounding), at the asked size."""
    from cyclesr.inference.upscale import upscale_image, upscale_image_pixels

    net, lr = _net(), torch.rand(3, 37, 53, generator=torch.Generator().manual_seed(3))
    ref, _ = upscale_image(net, lr, 2, outscale=outscale)
    pixels, _ = upscale_image_pixels(net, lr, 2, tile=16, outscale=outscale)
    diff = np.abs(pixels.astype(np.int64) - to_integer_array(ref.permute(1, 2, 0).numpy(), 8).astype(np.int64))
    assert pixels.shape == (*size, 3) and diff.max() <= 1 and diff.mean() < 0.3
