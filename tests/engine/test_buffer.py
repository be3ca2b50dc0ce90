"""The image buffer: the reference's semantics (fill, then per image a swap with probability 1/2
with a slot drawn with replacement), any batch size, state round trip."""
import pytest
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
        # a returned image that is not from an earlier batch is one of this batch's new images
        for img in out[~old]:
            assert any(torch.equal(img, n) for n in new)
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


def _reference_choose(stored: list, size: int, images, swaps, draws) -> list:
    """The reference's ShuffleBuffer.choose (algorithm.md), one image at a time, with its
    random numbers given: ``swaps[i]`` (p < 0.5) and ``draws[i]`` (the slot)."""
    out = []
    for image, swap, slot in zip(images, swaps, draws):
        if len(stored) < size:
            stored.append(image)
            out.append(image)
        elif swap:
            out.append(stored[slot])
            stored[slot] = image
        else:
            out.append(image)
    return out


@pytest.mark.parametrize("size, batch", [(50, 64), (3, 10), (5, 2)])
def test_matches_the_reference_for_any_batch_size(size, batch):
    buf = ImageBuffer(size, seed=4)
    replay = torch.Generator().manual_seed(4)  # the same draws, consumed as query() does
    stored: list = []
    for step in range(6):
        new = torch.rand(batch, 3, 2, 2) + step
        swaps = (torch.rand(batch, generator=replay) < 0.5).tolist()
        draws = torch.randint(0, size, (batch,), generator=replay).tolist()
        expected = _reference_choose(stored, size, new, swaps, draws)
        out = buf.query(new)
        assert out.shape == new.shape
        assert all(torch.equal(a, b) for a, b in zip(out, expected))
    assert all(torch.equal(a, b) for a, b in zip(buf.images, stored))
