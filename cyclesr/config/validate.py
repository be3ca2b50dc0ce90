"""Value checks on a typed Config: impossible values stop before any work, naming the key.

Network keys are the constructors' business (they check their choices when built); here only
what the rest of the config must agree with: sizes that must be positive (the SR network's
included), the crop that the generator's downsampling must divide and that the PatchGAN's depth
must leave a score map of, and the upscale factor the SR network must support.
"""
from __future__ import annotations

from pathlib import Path

from cyclesr.config.schema import PIXEL_SHUFFLE_NETS, Config, ConfigError, NetSpec

__all__ = ["validate_config", "validate_paths", "patchgan_output_size", "AUGMENTS"]

AUGMENTS = (True, False, "dihedral", "hr_flips", "none")  # dataset.train.augment

# network keys that are counts or sizes wherever a product network takes them
_POSITIVE_NET_KEYS = ("input_nc", "output_nc", "ngf", "ndf", "n_layers", "n_blocks", "out_channels")


def _fail(cfg: Config, key: str, expected: str, value) -> None:
    raise ConfigError(f"{cfg.source}: key '{key}' must be {expected}, got {value!r}")


def _positive(cfg: Config, key: str, value, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        _fail(cfg, key, "zero or more" if allow_zero else "greater than 0", value)


def _choice(cfg: Config, key: str, value: str, options: tuple) -> None:
    if value not in options:
        _fail(cfg, key, "one of " + " | ".join(options), value)


def _is_pow2(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_net(cfg: Config, key: str, spec: NetSpec) -> None:
    for name in _POSITIVE_NET_KEYS:
        if _is_int(spec.kwargs.get(name)):
            _positive(cfg, f"{key}.{name}", spec.kwargs[name])
    if _is_int(spec.kwargs.get("n_downsampling")):
        _positive(cfg, f"{key}.n_downsampling", spec.kwargs["n_downsampling"], allow_zero=True)


_PATCH_GANS = {"nlayerdiscriminator", "highpassdiscriminator"}  # 4x4 convs, padding 1
_SR_SIZE_KEYS = ("SR_nf", "SR_nb", "num_feat", "num_block", "num_grow_ch", "num_conv")


def patchgan_output_size(crop: int, n_layers: int, norm: str) -> int:
    """The side of a PatchGAN's score map for a ``crop`` x ``crop`` input; 0 when the crop is
    too small: a stride-2 conv halves the side (n_layers of them), each stride-1 conv takes 1
    off (two of them), and instance norm needs more than one value per channel."""
    side = (crop - 2) // 2 + 1  # the first conv, stride 2, no norm
    for n in range(1, n_layers + 1):
        side = (side - 2) // 2 + 1 if n < n_layers else side - 1
        if side < 1 or (norm == "instance" and side < 2):
            return 0
    return max(side - 1, 0)


def _check_discriminator(cfg: Config, spec: NetSpec, crop: int) -> None:
    n_layers, norm = spec.kwargs.get("n_layers", 3), str(spec.kwargs.get("norm", "instance")).lower()
    if spec.name.lower() not in _PATCH_GANS or not _is_int(n_layers) or n_layers < 1:
        return
    if patchgan_output_size(crop, n_layers, norm) < 1:
        smallest = next(c for c in range(1, 4096) if patchgan_output_size(c, n_layers, norm) >= 1)
        _fail(cfg, "dataset.train.crop_size", f"at least {smallest} for the discriminator model.D "
              f"({spec.name}, n_layers {n_layers}, norm {norm}; or lower model.D.n_layers)", crop)


def _check_networks(cfg: Config) -> None:
    m, crop = cfg.model, cfg.dataset.train.crop_size
    _check_net(cfg, "model.G", m.G)
    _check_net(cfg, "model.D", m.D)
    for name in _SR_SIZE_KEYS:
        if _is_int(m.sr.kwargs.get(name)):
            _positive(cfg, f"model.sr.{name}", m.sr.kwargs[name])
    if "input_nc" in m.D.kwargs:
        raise ConfigError(f"{cfg.source}: key 'model.D.input_nc' is set per domain from model.G "
                          "(its input_nc for D_X, its output_nc for D_Y); remove it")
    down = m.G.kwargs.get("n_downsampling")
    if _is_int(down) and down >= 0 and crop % 2 ** down:
        _fail(cfg, "dataset.train.crop_size", f"divisible by {2 ** down} (the transfer generator "
              f"downsamples {down} times by 2)", crop)
    _check_discriminator(cfg, m.D, crop)
    upscale = cfg.dataset.upscale
    for key, other in (("dataset.train.upscale", cfg.dataset.train.upscale),
                       ("dataset.test.upscale", cfg.dataset.test.upscale),
                       ("model.sr.upscale", m.sr.kwargs.get("upscale"))):
        if other is not None and other != upscale:
            raise ConfigError(f"{cfg.source}: key '{key}' is {other} but dataset.upscale is "
                              f"{upscale}; they must agree (set both, or only dataset.upscale)")
    if m.sr.name.lower() in PIXEL_SHUFFLE_NETS and not _is_pow2(upscale):
        _fail(cfg, "dataset.upscale", f"1 or a power of 2 for the pixel-shuffle network "
              f"'{m.sr.name}' (1, 2, 4, 8)", upscale)


def validate_config(cfg: Config) -> None:
    """Check values that types alone cannot (ranges, choices, divisibility, agreement)."""
    ds, tr, te, m, gan, t = (cfg.dataset, cfg.dataset.train, cfg.dataset.test, cfg.model,
                            cfg.model.cyclegan, cfg.trainer)
    _positive(cfg, "dataset.upscale", ds.upscale)
    for key in ("batch_size", "crop_size"):
        _positive(cfg, f"dataset.train.{key}", getattr(tr, key))
    _positive(cfg, "dataset.train.num_workers", tr.num_workers, allow_zero=True)
    _positive(cfg, "dataset.test.num_workers", te.num_workers, allow_zero=True)
    _positive(cfg, "dataset.train.iters_per_epoch", tr.iters_per_epoch)
    _positive(cfg, "dataset.test.max_images", te.max_images)
    _check_networks(cfg)
    _positive(cfg, "model.cyclegan.buffer_size", gan.buffer_size, allow_zero=True)
    for key in ("lambda_cycle", "lambda_identity", "lambda_lowfreq"):
        _positive(cfg, f"model.cyclegan.{key}", getattr(gan, key), allow_zero=True)
    for key in ("SR_lam", "cycleSR_lam", "grad_clip", "ema_decay"):
        _positive(cfg, f"model.{key}", getattr(m, key), allow_zero=True)
    _positive(cfg, "model.SR_lr", m.SR_lr)
    _positive(cfg, "model.cyc_lr", m.cyc_lr, allow_zero=True)
    if m.cyc_lr == 0:  # G, F and the discriminators stay as they are (a calibrated G)
        if m.cycleSR_lam > 0:
            _fail(cfg, "model.cycleSR_lam", "0 when model.cyc_lr is 0 (G is not trained, so the SR loss "
                  "cannot train it)", m.cycleSR_lam)
        if t.warmup_epochs > 0:
            _fail(cfg, "trainer.warmup_epochs", "0 when model.cyc_lr is 0 (nothing trains in the warm-up "
                  "then)", t.warmup_epochs)
    for key in ("beta1", "beta2", "ema_decay"):
        if not 0 <= getattr(m, key) < 1:
            _fail(cfg, f"model.{key}", "in [0, 1)", getattr(m, key))
    for key in ("n_epoch", "n_epoch_decay", "warmup_epochs", "pretrain_epochs", "keep_checkpoints",
                "sample_freq", "val_ps_offset", "max_bad_steps", "noref_images"):
        _positive(cfg, f"trainer.{key}", getattr(t, key), allow_zero=True)
    for key in ("eval_epoch", "print_freq", "epoch_count", "lr_decay_step"):
        _positive(cfg, f"trainer.{key}", getattr(t, key))
    if cfg.total_epochs < 1:
        _fail(cfg, "trainer.n_epoch", "at least 1 in total with trainer.n_epoch_decay",
              t.n_epoch)
    if not 0 <= m.synth_mix <= 1:
        _fail(cfg, "model.synth_mix", "in [0, 1]", m.synth_mix)
    if m.synth_mix_end is not None and not 0 <= m.synth_mix_end <= 1:
        _fail(cfg, "model.synth_mix_end", "in [0, 1] or null (constant synth_mix)", m.synth_mix_end)
    # model.synth_recipe is parsed by the data pipeline before training starts
    _choice(cfg, "trainer.lr_policy", t.lr_policy, ("linear", "linear_cyclegan", "step", "cosine"))
    _choice(cfg, "trainer.amp", t.amp, ("off", "bf16", "fp16"))
    if tr.augment not in AUGMENTS:
        _fail(cfg, "dataset.train.augment", "true (dihedral), hr_flips or false (none)", tr.augment)
    _choice(cfg, "dataset.train.x_resize", tr.x_resize, ("torch", "pil"))
    _choice(cfg, "dataset.test.psnr", te.psnr, ("y", "vega"))
    if t.channels_last not in (True, False, "auto"):
        _fail(cfg, "trainer.channels_last", "true, false or auto", t.channels_last)
    if not (t.device in ("auto", "cpu", "cuda", "mps") or t.device.startswith("cuda:")):
        _fail(cfg, "trainer.device", "auto | cpu | cuda | cuda:N", t.device)


def validate_paths(cfg: Config, need_train: bool = True) -> None:
    """Check that the data folders exist (called before training starts)."""
    keys = [("dataset.test.LR_dir", cfg.dataset.test.LR_dir),
            ("dataset.test.HR_dir", cfg.dataset.test.HR_dir)]
    if need_train:
        tr = cfg.dataset.train
        for key, value in (("dataset.train.HR_dir", tr.HR_dir), ("dataset.train.LR_dir", tr.LR_dir)):
            if not value:
                raise ConfigError(f"{cfg.source}: key '{key}' is not set; give a folder of images "
                                  f"(or --set {key}=/path/to/folder)")
            keys.append((key, value))
    if cfg.dataset.test.HR_dir and not cfg.dataset.test.LR_dir:
        raise ConfigError(f"{cfg.source}: key 'dataset.test.HR_dir' is set but "
                          "'dataset.test.LR_dir' is not; validation needs LR images")
    for key, value in keys:
        if value and not Path(value).is_dir():
            raise ConfigError(f"{cfg.source}: key '{key}': folder '{value}' does not exist "
                              "(relative paths are read from the current directory)")
