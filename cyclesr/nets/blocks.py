"""Building blocks shared by the networks: norm layers, residual blocks, upsamplers, init, and
the convolution that trains faster on a CPU as tap maps and a fold (``ImageConv2d``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "NORM_KINDS",
    "check_norm",
    "norm_layer",
    "conv_norm_act",
    "PADDINGS",
    "ResnetBlock",
    "ResidualBlock",
    "pixelshuffle_upsampler",
    "check_scale",
    "pad_to_multiple",
    "init_weights",
    "plain_eager",
    "cpu_training_path",
    "CpuTrainingConv2d",
    "ImageConv2d",
]

NORM_KINDS = ("batch", "instance", "none")


def check_norm(kind: str | None) -> str:
    kind = "none" if kind is None else str(kind).lower()
    if kind not in NORM_KINDS:
        raise ValueError(f"unknown norm {kind!r}; expected one of {', '.join(NORM_KINDS)}")
    return kind


def norm_layer(kind: str | None, channels: int) -> nn.Module:
    """`batch` -> affine BatchNorm2d, `instance` -> InstanceNorm2d without affine or running
    stats (as in CycleGAN), `none` -> Identity."""
    kind = check_norm(kind)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_norm_act(in_ch: int, out_ch: int, norm: str | None = "none", act: bool = True) -> nn.Sequential:
    """3x3 conv (bias on) -> norm -> optional ReLU; layout of the reference's SR blocks."""
    layers = [nn.Conv2d(in_ch, out_ch, 3, padding=1), norm_layer(norm, out_ch)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


PADDINGS = ("zero", "reflect")


class ResnetBlock(nn.Module):
    """Residual block of the transfer generator: (conv3x3, norm, ReLU, [dropout], conv3x3, norm)
    + identity.

    ``padding="zero"`` pads the convs with zeros (``padding=1``), as the reference (Vega) does;
    module indices then match Vega's ``ResBlock`` (``conv_block.0`` and ``conv_block.3``).
    ``padding="reflect"`` puts a ReflectionPad2d(1) before each conv, as CycleGAN does, with
    CycleGAN's module indices (``conv_block.1`` and ``conv_block.5``). The layout of a state dict
    therefore says which padding its weights were trained with; ``set_padding`` re-lays the
    same modules (and parameters) out for the other one."""

    def __init__(self, dim: int, norm: str = "instance", use_dropout: bool = False, use_bias: bool = True,
                 padding: str = "zero"):
        super().__init__()
        self.parts = [nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(norm, dim), nn.ReLU(True),
                      nn.Dropout(0.5) if use_dropout else None,
                      nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(norm, dim)]
        self.padding = ""
        self.set_padding(padding)

    def set_padding(self, padding: str) -> None:
        """Lay the block out for ``zero`` or ``reflect`` padding, keeping its parameters."""
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding {padding!r}; expected one of {', '.join(PADDINGS)}")
        if padding == self.padding:
            return
        conv0, norm0, act, drop, conv1, norm1 = self.parts
        for conv in (conv0, conv1):
            conv.padding = (1, 1) if padding == "zero" else (0, 0)
        pad = (lambda: []) if padding == "zero" else (lambda: [nn.ReflectionPad2d(1)])
        layers = pad() + [conv0, norm0, act] + ([drop] if drop is not None else []) + pad() + [conv1, norm1]
        self.conv_block = nn.Sequential(*layers)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResidualBlock(nn.Module):
    """SRResNet block: conv-norm-ReLU-conv-norm + identity (all convs with bias)."""

    def __init__(self, num_feat: int, norm: str | None = "batch"):
        super().__init__()
        self.body = nn.Sequential(conv_norm_act(num_feat, num_feat, norm),
                                  conv_norm_act(num_feat, num_feat, norm, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def pixelshuffle_upsampler(num_feat: int, scale: int, act: bool = False) -> nn.Sequential:
    """Upsample by `scale` (1, 2**n or 3) with (conv to r*r*num_feat, PixelShuffle(r)) steps,
    each optionally followed by ReLU. Without act, module indices match BasicSR's `Upsample`."""
    if scale == 1:
        return nn.Sequential()
    steps = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
    layers: list[nn.Module] = []
    for r in steps:
        layers += [nn.Conv2d(num_feat, num_feat * r * r, 3, padding=1), nn.PixelShuffle(r)]
        if act:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def check_scale(net_name: str, scale, allowed: tuple[int, ...] | None = None) -> int:
    """Validate an integer upscale factor: one of `allowed`, or (if None) 1 or a power of 2."""
    is_int = isinstance(scale, int) and not isinstance(scale, bool) and scale >= 1
    if allowed is not None:
        ok, expected = is_int and scale in allowed, "one of " + ", ".join(map(str, allowed))
    else:
        ok, expected = is_int and scale & (scale - 1) == 0, "1 or a power of 2 (1, 2, 4, 8, ...)"
    if not ok:
        raise ValueError(f"{net_name}: upscale must be {expected}, got {scale!r}")
    return scale


def pad_to_multiple(x: torch.Tensor, multiple: int, min_size: int = 1) -> torch.Tensor:
    """Pad an NCHW tensor at the bottom/right so that H and W are multiples of `multiple` and at
    least `min_size`. Reflect padding where the image is large enough, else replicate."""
    h, w = x.shape[-2:]
    th = max(-(-h // multiple) * multiple, min_size)
    tw = max(-(-w // multiple) * multiple, min_size)
    ph, pw = th - h, tw - w
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


@torch.no_grad()
def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights in place and return `net`.

    init_type: `normal` (N(0, gain), the reference's default), `xavier` (gain), `kaiming`
    (fan_in, ReLU), `orthogonal` (gain). Biases are zeroed; BatchNorm weights get N(1, gain).
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain)
            else:
                raise ValueError(f"unknown init_type {init_type!r}; "
                                 "expected normal, xavier, kaiming or orthogonal")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def plain_eager() -> bool:
    """Not inside an export, a trace or torch.compile: the faster training formulations
    (``ImageConv2d`` and those of ``cyclegan``) are for eager training only; everything else
    sees the standard layers."""
    return not (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_compiling())


def cpu_training_path(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether a conv may take one of the CPU training formulations: training with gradients
    on a CPU, NCHW float32/64 without autocast, no groups, no dilation, zero padding given as
    numbers."""
    return (conv.training and torch.is_grad_enabled() and x.device.type == "cpu" and x.dim() == 4
            and x.is_contiguous() and x.dtype in (torch.float32, torch.float64)
            and not torch.is_autocast_enabled("cpu") and conv.groups == 1
            and conv.dilation == (1, 1) and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str) and plain_eager())


class CpuTrainingConv2d(nn.Conv2d):
    """A convolution computed another way (``_eager``) when that is faster; TorchScript export
    gets the plain convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():  # TorchScript export: the plain convolution
            return self._conv_forward(x, self.weight, self.bias)
        return self._eager(x)

    @torch.jit.unused
    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight, self.bias)


class ImageConv2d(CpuTrainingConv2d):
    """A network's last convolution (many channels to an image's few), computed when training
    on a CPU as one batched matrix product to ``out_channels * kh * kw`` tap maps, then a fold
    that adds each tap map shifted by its kernel offset (``_Fold``: shifted additions, not
    ``F.fold``'s single-threaded kernel): the same sums of products (up to rounding). A
    convolution with 3 output channels runs several times below the CPU's speed forward and
    backward in oneDNN; the matrix products (MKL's, whatever the thread count, where a 1x1
    convolution would go back to oneDNN with several threads) and the additions do not.
    Everywhere else (evaluation, export, CUDA, channels_last, strides) it is the plain
    ``nn.Conv2d``; parameters and state dict are the same."""

    @torch.jit.unused
    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        if not (cpu_training_path(self, x) and self.stride == (1, 1)):
            return self._conv_forward(x, self.weight, self.bias)
        out_ch, in_ch, kh, kw = self.weight.shape
        (ph, pw), (b, h, w) = self.padding, (x.shape[0], *x.shape[-2:])
        # tap (i, j) of output channel o: row o * kh * kw + (kh-1-i) * kw + (kw-1-j), the
        # order in which fold adds block offsets
        taps = self.weight.flip(2, 3).permute(0, 2, 3, 1).reshape(out_ch * kh * kw, in_ch)
        maps = torch.bmm(taps.expand(b, -1, -1), x.flatten(2))
        out = _Fold.apply(maps, (h + 2 * ph - kh + 1, w + 2 * pw - kw + 1), (kh, kw),
                          (kh - 1 - ph, kw - 1 - pw))
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class _Fold(torch.autograd.Function):
    """``F.fold`` with stride 1 of maps laid out as ``(B, C * kh * kw, H + 2p - kh + 1, ...)``,
    computed as kh * kw shifted additions: the same sums, several times faster on a CPU than
    ``fold``'s kernel, which runs on one thread. Backward: ``unfold``, as ``fold``'s own."""

    @staticmethod
    def forward(ctx, maps, size, kernel, padding):
        (h, w), (kh, kw), (ph, pw) = size, kernel, padding
        ly, lx = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
        taps = maps.view(maps.shape[0], -1, kh, kw, ly, lx)
        full = maps.new_zeros(maps.shape[0], taps.shape[1], h + 2 * ph, w + 2 * pw)
        for i in range(kh):
            for j in range(kw):
                full[:, :, i:i + ly, j:j + lx] += taps[:, :, i, j]
        ctx.kernel, ctx.padding = kernel, padding
        return full[:, :, ph:ph + h, pw:pw + w].contiguous()

    @staticmethod
    def backward(ctx, grad):
        return F.unfold(grad, ctx.kernel, padding=ctx.padding), None, None, None
