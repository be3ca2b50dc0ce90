"""Networks: pure `nn.Module`s whose constructor keyword arguments are the YAML keys."""
from .blocks import init_weights
from .cyclegan import NLayerDiscriminator, ResnetGenerator
from .degrader import DegradationGenerator
from .edsr import EDSR
from .rrdb import RRDBNet
from .vdsr import VDSR, SRResNet

__all__ = ["ResnetGenerator", "NLayerDiscriminator", "DegradationGenerator", "VDSR", "SRResNet", "EDSR",
           "RRDBNet", "init_weights"]
