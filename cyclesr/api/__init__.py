"""The Python API: load a trained model and upscale (or degrade) images in one or two calls."""
from cyclesr.api.model import CycleSR, load

__all__ = ["CycleSR", "load"]
