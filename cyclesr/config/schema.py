"""The typed configuration: frozen dataclasses, one per section, with their defaults.

Every network is a ``NetSpec``: a name (registry name, ``package.module:Class`` or
``path/to/file.py:Class``) and the keyword arguments of its constructor, which are the YAML
keys. ``model.G`` is the transfer generator (F mirrors it), ``model.D`` the discriminator
(D_X and D_Y, ``input_nc`` set per domain), ``model.sr`` the SR network.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Union

__all__ = [
    "Config", "ConfigError", "NetSpec", "DatasetConfig", "TrainDataConfig", "TestDataConfig",
    "CycleGANConfig", "ModelConfig", "TrainerConfig", "PIXEL_SHUFFLE_NETS", "FIT_NAME", "is_fit",
]

# SR networks that upsample by pixel-shuffle steps of 2 (scale 1 or a power of 2)
PIXEL_SHUFFLE_NETS = {"vdsr", "srresnet", "edsr", "rrdbnet"}
FIT_NAME = "fit"  # the model.synth_recipe value that asks for a recipe fitted to the real LR


def is_fit(spec: Any) -> bool:
    """Whether a recipe setting (``model.synth_recipe``, ``synth --recipe``) asks for fitting."""
    return isinstance(spec, str) and spec.strip().lower() == FIT_NAME


class ConfigError(ValueError):
    """A configuration problem; the message names the file, the key and the expected form."""


@dataclass(frozen=True)
class NetSpec:
    name: str                             # registry name, pkg.mod:Class or file.py:Class
    kwargs: dict = field(default_factory=dict)  # the constructor's keyword arguments

    def to_dict(self) -> dict:
        """The YAML form: ``{name, **kwargs}``."""
        return {"name": self.name, **self.kwargs}


def _resnet_generator() -> NetSpec:
    return NetSpec("ResnetGenerator", {"input_nc": 3, "output_nc": 3, "ngf": 64, "n_blocks": 9,
                                       "norm": "instance", "up_mode": "transpose", "n_downsampling": 2})


def _patch_discriminator() -> NetSpec:
    return NetSpec("NLayerDiscriminator", {"ndf": 64, "n_layers": 3, "norm": "instance"})


def _reference_sr() -> NetSpec:
    return NetSpec("VDSR", {"SR_nb": 20, "SR_nf": 64, "SR_norm_type": "batch"})


@dataclass(frozen=True)
class TrainDataConfig:
    HR_dir: Optional[str] = None          # sharp high-resolution images (folder, recursive)
    LR_dir: Optional[str] = None          # real low-quality images, unpaired with HR
    batch_size: int = 16
    num_workers: int = 4
    crop_size: int = 32                   # LR crop; HR crop = crop_size * upscale
    shuffle: bool = True
    augment: Union[bool, str] = True      # dihedral (true) | hr_flips (Vega's) | none (false)
    x_resize: str = "torch"               # X = bicubic(HR): torch (float, antialiased) | pil (Vega's)
    cache: bool = False                   # keep decoded images in memory (Vega: save_in_memory)
    pin_memory: Optional[bool] = None     # pinned batches; None = when training on CUDA
    drop_last: bool = True                # drop the last incomplete batch of an epoch
    iters_per_epoch: Optional[int] = None  # fixed epoch length (large datasets); None = one pass
    upscale: Optional[int] = None         # Vega repeats it here; must equal dataset.upscale


@dataclass(frozen=True)
class TestDataConfig:
    HR_dir: Optional[str] = None          # paired with LR_dir by file stem; None = LR only
    LR_dir: Optional[str] = None          # real LR validation images; None = no validation
    batch_size: int = 1
    val_ps_offset: Optional[int] = None   # overrides trainer.val_ps_offset
    max_images: Optional[int] = None      # validate on the first N images only
    num_workers: int = 0                  # processes reading validation images
    psnr: str = "y"                       # y (8-bit Y, shift search) | vega (RGB float, Vega's): picks best.pt
    upscale: Optional[int] = None


@dataclass(frozen=True)
class DatasetConfig:
    upscale: int = 4
    train: TrainDataConfig = field(default_factory=TrainDataConfig)
    test: TestDataConfig = field(default_factory=TestDataConfig)


@dataclass(frozen=True)
class CycleGANConfig:
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_lowfreq: float = 0.0           # L1 between 4x4 means of X and G(X) (and Y, F(Y)); 0 = off
    buffer_size: int = 50


@dataclass(frozen=True)
class ModelConfig:
    SR_lam: float = 1000.0                # SR loss weight for the SR network's own update
    cycleSR_lam: float = 1000.0           # SR loss weight inside the generator's loss
    grad_clip: float = 50.0               # max gradient norm, per network (0 = off)
    cyc_lr: float = 2e-4                  # G, F, D_X, D_Y learning rate
    SR_lr: float = 1e-4                   # SR network learning rate
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.0                # EMA of SR weights (e.g. 0.999); 0 = off
    synth_mix: float = 0.0                # joint phase: fraction of SR inputs from synth_recipe(HR) instead of G(X)
    synth_recipe: str = "generic"         # degradation recipe/preset for synth_mix (last down step set to dataset.upscale)
    synth_mix_end: Optional[float] = None  # mix at the last epoch, linear from synth_mix at the first joint one
    G: NetSpec = field(default_factory=_resnet_generator)   # clean LR -> real LR; F mirrors it
    D: NetSpec = field(default_factory=_patch_discriminator)  # D_X and D_Y
    sr: NetSpec = field(default_factory=_reference_sr)      # `upscale` defaults to dataset.upscale
    cyclegan: CycleGANConfig = field(default_factory=CycleGANConfig)


@dataclass(frozen=True)
class TrainerConfig:
    n_epoch: int = 100                    # epochs at the initial learning rate
    n_epoch_decay: int = 100              # epochs of decay after that
    epoch_count: int = 1                  # first epoch of a fresh run (Vega's key)
    continue_train: Optional[str] = None  # a checkpoint to resume from (Vega's key; --resume wins)
    warmup_epochs: int = 5                # transfer-only epochs
    pretrain_epochs: int = 1              # SR-only epochs on bicubic pairs
    eval_epoch: int = 5                   # validate (and save per-epoch checkpoint) every N epochs
    print_freq: int = 10                  # log losses every N iterations
    val_ps_offset: int = 10               # best-shift search radius for validation PSNR
    lr_policy: str = "linear"             # linear (the reference's) | linear_cyclegan | step | cosine
    lr_decay_step: int = 50               # step policy: epochs between decays
    lr_decay_gamma: float = 0.5           # step policy: factor per decay
    seed: int = 0
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    keep_checkpoints: int = 3             # per-epoch checkpoints kept besides best and latest
    sample_freq: int = 0                  # write image panels every N iterations (0 = per epoch)
    max_bad_steps: int = 20               # consecutive non-finite losses before stopping
    noref_images: int = 16                # images for the no-reference G(X)-vs-real score (0 = off)
    channels_last: Union[bool, str] = "auto"  # true | false | auto (where NHWC pays: engine.setup)
    amp: str = "off"                      # off | bf16 | fp16 (CUDA)
    compile: bool = False                 # torch.compile the networks


@dataclass(frozen=True)
class Config:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    source: str = "<defaults>"            # the file it came from (for messages)

    @property
    def upscale(self) -> int:
        return self.dataset.upscale

    @property
    def total_epochs(self) -> int:
        return self.trainer.n_epoch + self.trainer.n_epoch_decay

    def to_dict(self) -> dict:
        """Our layout as plain data (networks as ``{name, **kwargs}``); loads back unchanged."""
        out = dataclasses.asdict(self)
        out.pop("source")
        for key in ("G", "D", "sr"):
            out["model"][key] = getattr(self.model, key).to_dict()
        return out

    def replace(self, **sections: Any) -> "Config":
        return dataclasses.replace(self, **sections)
