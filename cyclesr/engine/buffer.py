"""The CycleGAN image buffer (Shrivastava et al. 2017), vectorised over the batch."""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["ImageBuffer"]


class ImageBuffer:
    """Holds up to ``size`` past fakes. ``query`` returns a batch in which each image is, with
    probability 0.5, swapped for a stored older fake (which the new one replaces).

    While the buffer fills, new images are stored and returned unchanged (as in CycleGAN). Swaps
    within one batch pick distinct slots, so the batch is handled with tensor ops only.
    Randomness comes from the buffer's own generator, saved with its state.
    """

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: Optional[torch.Tensor] = None
        self.count = 0
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        fakes = fakes.detach()
        if self.images is None:
            self.images = torch.empty((self.size, *fakes.shape[1:]), dtype=fakes.dtype,
                                      device=fakes.device)
        out = fakes.clone()
        # a skipped non-finite step must not leave NaNs in the buffer to come back later
        finite = torch.isfinite(fakes).flatten(1).all(1)
        n_fill = min(self.size - self.count, fakes.shape[0])
        if n_fill:
            self.images[self.count:self.count + n_fill] = torch.nan_to_num(fakes[:n_fill], 0.5, 1.0, 0.0)
            self.count += n_fill
        rest = fakes.shape[0] - n_fill
        if rest:
            swap = torch.rand(rest, generator=self.generator) < 0.5
            slots = torch.randperm(self.size, generator=self.generator)[:rest]
            idx = torch.nonzero(swap).flatten()
            if idx.numel():
                slot = slots[idx].to(fakes.device)
                pos = (idx + n_fill).to(fakes.device)
                out[pos] = self.images[slot]
                keep = finite[pos].view(-1, *([1] * (fakes.dim() - 1)))
                self.images[slot] = torch.where(keep, fakes[pos], self.images[slot])
        return out

    def state_dict(self) -> dict:
        images = None if self.images is None else self.images[:self.count].cpu()
        return {"size": self.size, "count": self.count, "images": images,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict, device: Optional[torch.device] = None) -> None:
        self.size, self.count = state["size"], state["count"]
        self.generator.set_state(state["generator"])
        self.images = None
        if state["images"] is not None:
            stored = state["images"]
            self.images = torch.empty((self.size, *stored.shape[1:]), dtype=stored.dtype,
                                      device=device or stored.device)
            self.images[:self.count] = stored.to(self.images.device)
