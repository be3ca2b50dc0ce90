"""Typed, frozen configuration: YAML loading (our layout, the seed's flat layout and Vega's nested
layout), ``--set`` overrides and validation.

Every layout is normalised into *our* layout first::

    dataset:  {upscale, train: {...}, test: {...}}
    model:    {SR_lam, cycleSR_lam, grad_clip, cyc_lr, SR_lr, ..., cyclegan: {...}, sr: {...}}
    trainer:  {n_epoch, n_epoch_decay, warmup_epochs, pretrain_epochs, ...}

then checked key by key against the dataclasses below, so an unknown key, a wrong type or an
impossible value stops with one message naming the key, the file and the expected form.
"""
from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

__all__ = [
    "Config", "ConfigError", "DatasetConfig", "TrainDataConfig", "TestDataConfig", "CycleGANConfig",
    "SRConfig", "ModelConfig", "TrainerConfig", "load_config", "config_from_dict", "apply_overrides",
    "normalize_layout", "PIXEL_SHUFFLE_NETS",
]

PIXEL_SHUFFLE_NETS = {"vdsr", "srresnet", "edsr", "rrdbnet"}


class ConfigError(ValueError):
    """A configuration problem; the message names the file, the key and the expected form."""


@dataclass(frozen=True)
class TrainDataConfig:
    HR_dir: Optional[str] = None          # sharp high-resolution images (folder, recursive)
    LR_dir: Optional[str] = None          # real low-quality images, unpaired with HR
    batch_size: int = 16
    num_workers: int = 4
    crop_size: int = 32                   # LR crop; HR crop = crop_size * upscale
    shuffle: bool = True
    augment: bool = True                  # flips and 90-degree rotations
    cache: bool = False                   # keep decoded images in memory
    iters_per_epoch: Optional[int] = None  # fixed epoch length (large datasets); None = one pass
    upscale: Optional[int] = None         # Vega repeats it here; must equal dataset.upscale


@dataclass(frozen=True)
class TestDataConfig:
    HR_dir: Optional[str] = None          # paired with LR_dir by file stem; None = LR only
    LR_dir: Optional[str] = None          # real LR validation images; None = no validation
    batch_size: int = 1
    val_ps_offset: Optional[int] = None   # overrides trainer.val_ps_offset
    max_images: Optional[int] = None      # validate on the first N images only
    upscale: Optional[int] = None


@dataclass(frozen=True)
class DatasetConfig:
    upscale: int = 4
    train: TrainDataConfig = field(default_factory=TrainDataConfig)
    test: TestDataConfig = field(default_factory=TestDataConfig)


@dataclass(frozen=True)
class CycleGANConfig:
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    ndf: int = 64
    n_layers_D: int = 3
    norm: str = "instance"                # instance | batch | none
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_lowfreq: float = 0.0           # L1 between 4x4 means of X and G(X) (and Y, F(Y)); 0 = off
    buffer_size: int = 50
    up_mode: str = "transpose"            # transpose | pixelshuffle | resize
    n_blocks: int = 9                     # residual blocks in each generator
    n_downsampling: int = 2               # stride-2 steps inside the generator (0 = full resolution)
    d_out_channels: Optional[int] = None  # None = ndf (the reference's head); 1 = standard PatchGAN
    generator: str = "ResnetGenerator"    # registry name, pkg.mod:Class or file.py:Class
    discriminator: str = "NLayerDiscriminator"


@dataclass(frozen=True)
class SRConfig:
    name: str = "VDSR"                    # registry name, pkg.mod:Class or file.py:Class
    # constructor keyword arguments; `upscale` defaults to dataset.upscale
    kwargs: dict = field(default_factory=lambda: {"SR_nb": 20, "SR_nf": 64, "SR_norm_type": "batch"})


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
    cyclegan: CycleGANConfig = field(default_factory=CycleGANConfig)
    sr: SRConfig = field(default_factory=SRConfig)


@dataclass(frozen=True)
class TrainerConfig:
    n_epoch: int = 100                    # epochs at the initial learning rate
    n_epoch_decay: int = 100              # epochs of decay after that
    epoch_count: int = 1                  # first epoch number (Vega key; resume uses checkpoints)
    warmup_epochs: int = 5                # transfer-only epochs
    pretrain_epochs: int = 1              # SR-only epochs on bicubic pairs
    eval_epoch: int = 5                   # validate (and save per-epoch checkpoint) every N epochs
    print_freq: int = 10                  # log losses every N iterations
    val_ps_offset: int = 10               # best-shift search radius for validation PSNR
    lr_policy: str = "linear"             # linear | step | cosine
    lr_decay_step: int = 50               # step policy: epochs between decays
    lr_decay_gamma: float = 0.5           # step policy: factor per decay
    seed: int = 0
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    keep_checkpoints: int = 3             # per-epoch checkpoints kept besides best and latest
    sample_freq: int = 0                  # write image panels every N iterations (0 = per epoch)
    max_bad_steps: int = 20               # consecutive non-finite losses before stopping
    noref_images: int = 16                # images for the no-reference G(X)-vs-real score (0 = off)
    channels_last: Union[bool, str] = "auto"  # true | false | auto (where measured faster)
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
        out = dataclasses.asdict(self)
        out.pop("source")
        return out

    def replace(self, **sections: Any) -> "Config":
        return dataclasses.replace(self, **sections)


# ---------------------------------------------------------------- layouts
# Keys of the reference framework that carry no meaning here; accepted and ignored.
_VEGA_IGNORED = {"type", "callbacks", "lazy_built", "modules", "common", "pipe_step", "general",
                 "pipeline", "shuffle_buffer"}
_SR_SECTION_NAMES = ("sr", "VDSR", "SRResNet", "SR")


def normalize_layout(raw: dict) -> dict:
    """Map the seed's flat layout and Vega's nested layout onto ours (see module docstring)."""
    raw = copy.deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError("the top level of a config must be a mapping")
    if "fully_train" in raw:  # Vega: fully_train.{dataset, trainer.model_desc.custom}
        ft = raw.pop("fully_train") or {}
        for key in ("general", "pipeline"):
            raw.pop(key, None)
        trainer = dict(ft.get("trainer") or {})
        desc = trainer.pop("model_desc", {}) or {}
        raw.setdefault("dataset", ft.get("dataset") or {})
        raw.setdefault("trainer", trainer)
        raw.setdefault("model", {"model_desc": desc})
    model = raw.get("model") or {}
    if "model_desc" in model:  # seed / Vega: model.model_desc.custom
        custom = dict((model.pop("model_desc") or {}).get("custom") or {})
        model = {**custom, **model}
    for name in _SR_SECTION_NAMES:  # a top-level cyclegan:/VDSR: (seed's flat layout)
        if name in raw and name not in ("sr",):
            model.setdefault(name, raw.pop(name))
    if "cyclegan" in raw:
        model.setdefault("cyclegan", raw.pop("cyclegan"))
    sr_sections = [n for n in _SR_SECTION_NAMES if n in model]
    if len(sr_sections) > 1:
        raise ConfigError(f"model: give one SR network section, found {sr_sections}")
    if sr_sections:
        model["sr"] = model.pop(sr_sections[0])
    if model:
        raw["model"] = model
    dataset = raw.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("common"), dict):
        common = dataset.pop("common")
        if "upscale" in common:
            dataset.setdefault("upscale", common["upscale"])
    _drop_ignored(raw)
    return raw


def _drop_ignored(node: Any) -> None:
    if isinstance(node, dict):
        for key in list(node):
            if key in _VEGA_IGNORED:
                node.pop(key)
            else:
                _drop_ignored(node[key])


# ---------------------------------------------------------------- overrides
def apply_overrides(raw: dict, overrides: list[str], source: str = "--set") -> dict:
    """Apply ``key.path=value`` strings (values parsed as YAML, so typed) to a layout dict."""
    raw = copy.deepcopy(raw)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"{source}: '{item}' must look like key.path=value "
                              "(e.g. --set trainer.n_epoch=10)")
        path, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: cannot parse the value of '{path}': {exc}") from None
        node = raw
        keys = path.strip().split(".")
        for key in keys[:-1]:
            nxt = node.get(key)
            if nxt is None:
                nxt = node[key] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"{source}: '{path}': '{key}' is a value, not a section")
            node = nxt
        node[keys[-1]] = value
    return raw


# ---------------------------------------------------------------- typed build
def _describe(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if args:
        return " or ".join(_describe(a) for a in args) + " (or null)"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false",
            dict: "a mapping"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, where: str, source: str) -> Any:
    optional = type(None) in typing.get_args(tp)
    if optional:
        if value is None:
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if dataclasses.is_dataclass(tp):
        return _build(tp, value if value is not None else {}, where, source)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        dict: isinstance(value, dict),
    }.get(tp, True)
    if not ok:
        raise ConfigError(f"{source}: key '{where}' must be {_describe(tp)}, got {value!r}")
    return float(value) if tp is float else value


def _build(cls: Any, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{where or 'top level'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "source"}
    if cls is SRConfig:  # everything but the name goes to the network's constructor
        data = dict(data)
        name = data.pop("name", SRConfig.name)
        if not isinstance(name, str):
            raise ConfigError(f"{source}: key '{where}.name' must be a string, got {name!r}")
        kwargs = dict(data.pop("kwargs", {}) or {})
        kwargs.update(data)
        return SRConfig(name=name, kwargs=kwargs)
    unknown = sorted(set(data) - fields)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}'; "
                          f"valid keys here: {', '.join(sorted(fields))}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k, source) for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(raw: dict, source: str = "<dict>", overrides: Optional[list[str]] = None) -> Config:
    """Build and validate a Config from a layout dict (any of the three layouts)."""
    if overrides:
        vega = [o for o in overrides if o.startswith("fully_train.")]
        raw = apply_overrides(raw, vega, "--set")
    norm = normalize_layout(raw)
    if overrides:
        norm = apply_overrides(norm, [o for o in overrides if not o.startswith("fully_train.")], "--set")
    cfg = _build(Config, norm, "", source)
    cfg = dataclasses.replace(cfg, source=source)
    from cyclesr.config.validate import validate_config  # local: validation reads the registry

    validate_config(cfg)
    return cfg


def load_config(path: str | Path, overrides: Optional[list[str]] = None) -> Config:
    """Read a YAML config file in any supported layout, apply overrides and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found; pass --config with a YAML file "
                          "(see configs/ for examples)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return config_from_dict(raw, str(path), overrides)


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML in our layout (saved with every run and checkpoint)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
