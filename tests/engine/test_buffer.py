"""The image buffer: fills first, then swaps with probability 1/2, state round trip."""
import torch

from cyclesr.engine.buffer import ImageBuffer


def test_fills_then_returns_new_images():
    buf = ImageBuffer(4, seed=0)
    a = torch.rand(3, 3, 4, 4)
    assert torch.equal(buf.query(a), a) and buf.count == 3


def test_swaps_return_stored_images():
    torch.manual_seed(0)
    buf = ImageBuffer(8, seed=1)
    first = torch.rand(8, 3, 2, 2)
    buf.query(first)
    swapped = 0
    for step in range(20):
        offset = 10.0 * (step + 1)
        new = torch.rand(4, 3, 2, 2) + offset  # distinguishable from anything stored before
        out = buf.query(new)
        old = out.amax(dim=(1, 2, 3)) < offset
        swapped += int(old.sum())
        # a returned image is either the new one or one that was stored
        assert torch.equal(out[~old], new[~old])
    assert 20 < swapped < 60  # about half of 80


def test_zero_size_passthrough_and_state_round_trip():
    assert torch.equal(ImageBuffer(0).query(torch.ones(2, 3, 2, 2)), torch.ones(2, 3, 2, 2))
    a, b = ImageBuffer(4, seed=3), ImageBuffer(4, seed=9)
    a.query(torch.rand(6, 3, 2, 2))
    b.load_state_dict(a.state_dict())
    x = torch.rand(4, 3, 2, 2)
    assert torch.equal(a.query(x), b.query(x))


def test_non_finite_fakes_are_not_stored():
    buf = ImageBuffer(2, seed=0)
    buf.query(torch.full((1, 3, 2, 2), float("nan")))  # filling
    buf.query(torch.rand(1, 3, 2, 2))
    for _ in range(10):
        buf.query(torch.full((2, 3, 2, 2), float("inf")))  # swapping
    assert torch.isfinite(buf.images).all()
