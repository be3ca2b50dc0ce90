"""The CycleGAN image buffer (Shrivastava et al. 2017) with the reference's semantics."""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["ImageBuffer"]


class ImageBuffer:
    """Holds up to ``size`` past fakes; ``query`` returns the batch the discriminator sees.

    The reference's rule, image by image in batch order: while the buffer is not full, the
    image is stored and returned. Once it is full, with probability 0.5 a stored image drawn
    uniformly (with replacement: two images of one batch may draw the same slot, the second
    then gets the first's new image) is returned and replaced by the new one; otherwise the
    new image is returned. Any batch size works, including one larger than the buffer.
    The draws are made on the CPU and resolved to one gather, so the images never leave
    their device. Non-finite fakes (a step about to be skipped) are returned but not stored.
    Randomness comes from the buffer's own generator, saved with its state.
    """

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: Optional[torch.Tensor] = None
        self.count = 0
        self.generator = torch.Generator().manual_seed(seed)

    def _plan(self, n: int, finite: list[bool]) -> tuple[list[int], dict[int, int]]:
        """Where each returned image comes from (``i`` < n: new image i; ``n + s``: stored slot
        s as it was before this batch) and which new image each changed slot ends up holding."""
        slots: dict[int, int] = {}   # slot -> source index it holds now
        sources = []
        swap = torch.rand(n, generator=self.generator) < 0.5
        draw = torch.randint(0, max(self.size, 1), (n,), generator=self.generator)
        for i in range(n):
            if self.count < self.size:
                if finite[i]:
                    slots[self.count] = i
                    self.count += 1
                sources.append(i)
            elif swap[i]:
                slot = int(draw[i])
                sources.append(slots.get(slot, n + slot))
                if finite[i]:
                    slots[slot] = i
            else:
                sources.append(i)
        return sources, slots

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        fakes = fakes.detach()
        if self.images is None:
            self.images = torch.empty((self.size, *fakes.shape[1:]), dtype=fakes.dtype,
                                      device=fakes.device)
        finite = torch.isfinite(fakes).flatten(1).all(1).tolist()
        sources, slots = self._plan(fakes.shape[0], finite)
        pool = torch.cat([fakes, self.images])
        out = pool[torch.tensor(sources, device=fakes.device)]
        if slots:
            changed = torch.tensor(list(slots), device=fakes.device)
            self.images[changed] = fakes[torch.tensor(list(slots.values()), device=fakes.device)]
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
