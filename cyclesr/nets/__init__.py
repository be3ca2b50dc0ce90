"""Networks: pure `nn.Module`s whose constructor keyword arguments are the YAML keys.

Importing this package imports every architecture module, so each registers itself in
``registry.NETS`` (``@register_net`` next to the class)."""
from .blocks import init_weights
from .camera import CameraJpegGenerator
from .compact import SRVGGNetCompact
from .cyclegan import HighPassDiscriminator, NLayerDiscriminator, ResnetGenerator
from .edsr import EDSR
from .fastsr import BicubicResidualSR
from .registry import NETS, create_net, register_net, resolve_net
from .rrdb import RRDBNet
from .vdsr import VDSR, SRResNet

__all__ = ["ResnetGenerator", "NLayerDiscriminator", "HighPassDiscriminator", "CameraJpegGenerator",
           "VDSR", "SRResNet", "EDSR", "RRDBNet", "SRVGGNetCompact", "BicubicResidualSR", "init_weights", "NETS",
           "create_net", "register_net", "resolve_net"]
