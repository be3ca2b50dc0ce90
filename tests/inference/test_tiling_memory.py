"""Tiled upscaling keeps memory bounded: besides the output image, a large image needs only
about one tile's activations (no full-size weight map), measured as peak RSS in a fresh process."""
import json
import subprocess
import sys

from torch import nn

from cyclesr.inference.tiling import _bytes_per_pixel, auto_tile_size

SCRIPT = r'''
import json, resource, sys
import torch
import torch.nn.functional as F
from torch import nn
from cyclesr.inference.tiling import auto_tile_size, upscale_tensor

torch.set_num_threads(1)

class CheapX4(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 4
        self.a = nn.Conv2d(3, 16, 3, padding=1)
        self.b = nn.Conv2d(16, 48, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.b(torch.relu(self.a(x))), 4)

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
