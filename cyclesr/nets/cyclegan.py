"""CycleGAN transfer networks: the ResNet generator and the PatchGAN discriminators.

Both take images in [0, 1] (the package convention) and map them to [-1, 1] internally, the
range the CycleGAN layers were designed for; the generator maps its tanh output back to [0, 1].
With ``padding="zero"`` (the default, the reference's) the generator's module indices are those
of Vega's ``Generator`` (``model.<i>`` for Vega's ``generator.G<i>``), so Vega's weights load
entry by entry (``cyclesr.modelfile.vega``); with ``padding="reflect"`` they follow
pytorch-CycleGAN-and-pix2pix for ``up_mode="transpose"`` with instance or batch norm.

On a CPU some layers compute the same results another way, faster: instance norms run as
group norm (``InstanceNorm``) and, in training, the generator's last conv as tap maps and
``fold`` (``blocks.ImageConv2d``) and the discriminator's convs on tiny maps as ``unfold`` and a
matrix product (``PatchConv2d``); exported, traced and compiled networks see the plain layers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import nn

from .blocks import (PADDINGS, CpuTrainingConv2d, ImageConv2d, ResnetBlock, check_norm,
                     cpu_training_path, init_weights, norm_layer, pad_to_multiple, plain_eager)
from .registry import register_net

__all__ = ["ResnetGenerator", "NLayerDiscriminator", "HighPassDiscriminator", "UP_MODES",
           "InstanceNorm", "ImageConv2d", "PatchConv2d"]

UP_MODES = ("transpose", "pixelshuffle", "resize")


class InstanceNorm(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` without affine or running statistics, computed as group norm with
    one group per channel: the same normalisation (each sample's and channel's mean and biased
    variance over H and W, the same ``eps``), through a kernel that is faster on CPUs and
    returns a tensor of its own rather than a view, so that the in-place ReLU after it needs
    no view bookkeeping (copies) in backward. On other devices, and in exports, the standard
    kernel. No parameters: state dicts are unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():  # TorchScript export: the standard kernel
            return nnf.instance_norm(x, eps=self.eps)
        return self._eager(x)

    @torch.jit.unused
    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dim() != 4 or x.device.type != "cpu" or self.affine or self.track_running_stats
                or not plain_eager()):
            return super().forward(x)
        return nnf.group_norm(x, x.shape[1], eps=self.eps)


def _group_norm_instance_norms(net: nn.Module) -> None:
    """Give the network's plain instance norms, those built by ``blocks`` included,
    ``InstanceNorm``'s forward (the same modules and attributes; only the class changes)."""
    for m in net.modules():
        if type(m) is nn.InstanceNorm2d and not m.affine and not m.track_running_stats:
            m.__class__ = InstanceNorm


class PatchConv2d(CpuTrainingConv2d):
    """A discriminator conv whose output map is tiny (at most 9 positions, the last layers
    on small patches) and wide (256 channels or more), computed when training on a CPU as
    ``unfold`` and one matrix product for the whole batch: the same sums of products (up to
    rounding) in a kernel that stays fast where oneDNN's convolution, tuned for larger maps,
    does not. Everywhere else it is the plain ``nn.Conv2d``; parameters and state dict are the
    same."""

    @torch.jit.unused
    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        if not (cpu_training_path(self, x) and self.out_channels >= 256):
            return self._conv_forward(x, self.weight, self.bias)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh, ow = (x.shape[2] + 2 * ph - kh) // sh + 1, (x.shape[3] + 2 * pw - kw) // sw + 1
        if oh * ow > 9:
            return self._conv_forward(x, self.weight, self.bias)
        # all samples' patches side by side: one product reads the (large) weight once, and
        # so does the input gradient's, when the discriminator is frozen as well
        cols = nnf.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))
        cols = cols.transpose(0, 1).reshape(cols.shape[1], -1)
        weight = self.weight.view(self.out_channels, -1)
        out = (torch.mm(weight, cols) if self.bias is None
               else torch.addmm(self.bias.view(-1, 1), weight, cols))
        return out.view(self.out_channels, x.shape[0], oh, ow).transpose(0, 1).contiguous()


def _upsample_layer(in_ch: int, out_ch: int, up_mode: str, bias: bool) -> list[nn.Module]:
    if up_mode == "transpose":
        return [nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1, bias=bias)]
    if up_mode == "pixelshuffle":
        return [nn.Conv2d(in_ch, out_ch * 4, 3, padding=1, bias=bias), nn.PixelShuffle(2)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=bias)]


@register_net("ResnetGenerator")
class ResnetGenerator(nn.Module):
    """CycleGAN ResNet generator (Johnson et al. style), image in [0, 1] -> image in [0, 1].

    Args:
        input_nc: input channels.
        output_nc: output channels.
        ngf: filters of the first conv; doubled by each downsampling step.
        n_blocks: residual blocks at the bottleneck.
        norm: `instance` (no affine, conv bias on), `batch` (conv bias off) or `none`.
        up_mode: `transpose` (ConvTranspose2d), `pixelshuffle` (conv + PixelShuffle(2)) or
            `resize` (nearest x2 + conv3x3).
        n_downsampling: stride-2 steps (and matching upsampling steps); 0 keeps full resolution.
        use_dropout: dropout 0.5 inside the residual blocks.
        padding: padding of the residual blocks' 3x3 convs: `zero` (the reference's, Vega's)
            or `reflect` (CycleGAN's). The 7x7 head and tail convs are reflect-padded in both.
            Weights saved in the other layout load as what they are: a state dict laid out for
            reflection padding (earlier versions' checkpoints and models) switches the blocks
            to it, so loading keeps computing what those weights computed (``padding`` then
            says which one is in use).

    Any H, W is accepted: the input is padded (reflect, or replicate when too small) to a
    multiple of 2**n_downsampling and the output cropped back to the input's size.

    ``per_sample``: each output depends on its own input only (no batch norm, no dropout), so
    two calls may run as one batch with the same result.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", up_mode: str = "transpose", n_downsampling: int = 2,
                 use_dropout: bool = False, padding: str = "zero"):
        super().__init__()
        norm = check_norm(norm)
        if padding not in PADDINGS:
            raise ValueError(f"ResnetGenerator: unknown padding {padding!r}; "
                             f"expected one of {', '.join(PADDINGS)}")
        if up_mode not in UP_MODES:
            raise ValueError(f"ResnetGenerator: unknown up_mode {up_mode!r}; "
                             f"expected one of {', '.join(UP_MODES)}")
        if n_downsampling < 0 or n_blocks < 0:
            raise ValueError("ResnetGenerator: n_downsampling and n_blocks must be >= 0")
        bias = norm != "batch"
        self.per_sample = norm != "batch" and not use_dropout
        self.multiple = 2 ** n_downsampling
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(n_downsampling):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=bias), norm_layer(norm, ch * 2),
                       nn.ReLU(True)]
            ch *= 2
        first_block = len(layers)
        layers += [ResnetBlock(ch, norm, use_dropout, bias, padding) for _ in range(n_blocks)]
        for _ in range(n_downsampling):
            layers += _upsample_layer(ch, ch // 2, up_mode, bias) + [norm_layer(norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), ImageConv2d(ch, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.blocks = range(first_block, first_block + n_blocks)  # indices of the residual blocks
        self.padding = padding
        _group_norm_instance_norms(self)
        init_weights(self, "normal", 0.02)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Before the weights load: lay the residual blocks out for the padding the state
        dict's layout says (its first block's first conv at index 0: zero, at 1: reflect)."""
        if self.blocks:
            first = f"{prefix}model.{self.blocks[0]}.conv_block."
            found = [mode for mode, i in (("zero", 0), ("reflect", 1))
                     if getattr(state_dict.get(f"{first}{i}.weight"), "ndim", 0) == 4]
            if len(found) == 1 and found[0] != self.padding:
                for i in self.blocks:
                    self.model[i].set_padding(found[0])
                self.padding = found[0]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # The 7x7 reflect pad needs >= 4 pixels, the bottleneck's reflect pad >= 2.
        x = pad_to_multiple(x * 2 - 1, self.multiple, min_size=max(4, 2 * self.multiple))
        y = self.model(x)[..., :h, :w]
        return (y + 1) / 2


@register_net("NLayerDiscriminator")
class NLayerDiscriminator(nn.Module):
    """PatchGAN discriminator (pix2pix), image in [0, 1] -> map of patch scores.

    Args:
        input_nc: input channels.
        ndf: filters of the first conv; doubled per layer up to 8 * ndf.
        n_layers: stride-2 convs (the total is n_layers + 2 convs of kernel 4).
        norm: `instance`, `batch` or `none` (never after the first conv).
        out_channels: channels of the last conv; None means `ndf` (the reference's head),
            1 is the standard PatchGAN head.

    ``per_sample``: without batch norm each score map depends on its own input only.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 out_channels: int | None = None):
        super().__init__()
        norm = check_norm(norm)
        if n_layers < 1:
            raise ValueError(f"NLayerDiscriminator: n_layers must be >= 1, got {n_layers}")
        bias = norm != "batch"
        self.per_sample = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [PatchConv2d(ch, out, 4, stride=stride, padding=1, bias=bias), norm_layer(norm, out),
                       nn.LeakyReLU(0.2, True)]
            ch = out
        layers.append(PatchConv2d(ch, ndf if out_channels is None else out_channels, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        _group_norm_instance_norms(self)
        init_weights(self, "normal", 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x * 2 - 1)


@register_net("HighPassDiscriminator")
class HighPassDiscriminator(NLayerDiscriminator):
    """A PatchGAN that sees the image and its high frequencies (image minus a 3x3 box blur,
    amplified ``gain`` times), so that noise, ringing and blocks weigh as much as colour and
    tone: a degradation generator is judged on what it adds.

    Args: those of ``NLayerDiscriminator``, plus
        gain: amplification of the high-pass image.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 out_channels: int | None = None, gain: float = 4.0):
        super().__init__(2 * input_nc, ndf, n_layers, norm, out_channels)
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = nn.functional.avg_pool2d(nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
        # the parent maps [0, 1] to [-1, 1]; keep the high-pass centred at 0.5 in that range
        return super().forward(torch.cat([x, (0.5 + self.gain * (x - low)).clamp(0, 1)], 1))
