"""CycleSR: super-resolution without paired data.

A CycleGAN transfer network learns the real degradation (clean bicubic LR -> realistic LR), an
SR network learns from the generated pairs, and both train jointly.
"""
from cyclesr.api import CycleSR, load
from cyclesr.config import Config, ConfigError, config_from_dict, load_config

__version__ = "0.1.0"
__all__ = ["CycleSR", "Config", "ConfigError", "config_from_dict", "load", "load_config", "train",
           "__version__"]


def train(cfg, run_dir, **kwargs):
    """Train CycleSR (see ``cyclesr.engine.trainer.train``)."""
    from cyclesr.engine.trainer import train as _train
    return _train(cfg, run_dir, **kwargs)
