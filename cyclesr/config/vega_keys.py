"""The keys of Vega's own config file that are not algorithm keys: each is honoured where it
has a meaning here, or accepted with one line saying that it has no effect and why.

Read after the layout is ours (``layouts.normalize_layout``). Honoured:

    dataset.train.save_in_memory -> dataset.train.cache (decoded images kept in memory)
    model.use_cuda               -> trainer.device: false = cpu, true = auto (CUDA when present)
    dataset.train.pin_memory, drop_last, num_workers, trainer.continue_train, epoch_count:
                                    schema keys of the same name and meaning

A Vega file also gets Vega's data pipeline and validation unless it says otherwise
(``VEGA_PIPELINE``): X by PIL bicubic on 8-bit images, flips of the HR image only, and
validation PSNR as Vega computes it (which then chooses ``best.pt``).
"""
from __future__ import annotations

import sys

from cyclesr.config.schema import ConfigError

__all__ = ["NO_EFFECT", "VEGA_PIPELINE", "apply_vega_keys", "vega_notes"]

_BATCH = ("Vega's PyTorch loader takes its batch from batch_size and never reads it; the batch "
          "per process here is dataset.train.batch_size")
_ONE_IMAGE = "validation here reads and scores one whole image at a time"
# (section path, key) -> why it has no effect here
NO_EFFECT = {
    ("dataset", "train", "load_size"): "Vega reads it but never resizes with it",
    ("dataset", "train", "imgs_per_gpu"): _BATCH,
    ("dataset", "test", "imgs_per_gpu"): _BATCH,
    ("dataset", "test", "shuffle"): "every validation image is scored and the mean does not "
                                    "depend on their order",
    ("dataset", "test", "pin_memory"): _ONE_IMAGE,
    ("dataset", "test", "drop_last"): _ONE_IMAGE + ", so no image is dropped",
    ("model", "use_distributed"): "several processes come from torchrun's environment here "
                                  "(docs/multi-gpu.md)",
    ("general", "requires"): "Vega installs these packages; this package's dependencies come "
                             "with it",
}
# Vega's data pipeline and validation, given to a file in Vega's layout unless it sets them
VEGA_PIPELINE = {("dataset", "train", "x_resize"): "pil", ("dataset", "train", "augment"): "hr_flips",
                 ("dataset", "test", "psnr"): "vega"}
_NOTED: set[str] = set()


def _section(raw: dict, path: tuple) -> dict | None:
    node = raw
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def vega_notes(raw: dict) -> list[str]:
    """One line per key of ``raw`` (any layout, as read) that has no effect here."""
    notes = []
    for (*path, key), why in NO_EFFECT.items():
        section = _section(raw, tuple(path))
        if section is not None and key in section:
            notes.append(f"key '{'.'.join((*path, key))}' has no effect here: {why}")
    return notes


def _pop_no_effect(raw: dict) -> None:
    for (*path, key) in NO_EFFECT:
        section = _section(raw, tuple(path))
        if section is not None:
            section.pop(key, None)


def apply_vega_keys(raw: dict, general: dict | None, vega_layout: bool) -> dict:
    """Honour or drop the Vega keys of ``raw`` (our layout; ``general`` is the file's
    ``general:`` section), printing each key without effect once per process; a Vega
    layout also gets ``VEGA_PIPELINE`` where it does not say otherwise."""
    notes = vega_notes({**raw, "general": general or {}})
    for line in notes:
        if line not in _NOTED:
            _NOTED.add(line)
            print(f"note: {line}", file=sys.stderr)
    _pop_no_effect(raw)
    train = _section(raw, ("dataset", "train"))
    if train is not None and "save_in_memory" in train:
        value = train.pop("save_in_memory")
        if "cache" in train and train["cache"] != value:
            raise ConfigError("keys 'dataset.train.save_in_memory' (Vega's name) and "
                              "'dataset.train.cache' disagree; keep one of them")
        train["cache"] = value
    model = _section(raw, ("model",))
    if model is not None and "use_cuda" in model:
        use_cuda = model.pop("use_cuda")
        if use_cuda is False:
            raw.setdefault("trainer", {}).setdefault("device", "cpu")
    if vega_layout:
        for (*path, key), value in VEGA_PIPELINE.items():
            node = raw
            for name in path:
                if node.get(name) is None:
                    node[name] = {}
                node = node[name]
                if not isinstance(node, dict):
                    break  # not a mapping: validation names the key
            else:
                node.setdefault(key, value)
    return raw
