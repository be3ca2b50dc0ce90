"""Typed, frozen configuration: YAML loading (our layout, the seed's and Vega's), ``--set``
overrides and validation. Importing it imports neither torch nor the data pipeline."""
from cyclesr.config.layouts import normalize_layout
from cyclesr.config.load import apply_overrides, config_from_dict, dump_config, load_config
from cyclesr.config.schema import (
    FIT_NAME, PIXEL_SHUFFLE_NETS, Config, ConfigError, CycleGANConfig, DatasetConfig, ModelConfig, NetSpec,
    TestDataConfig, TrainDataConfig, TrainerConfig, is_fit,
)
from cyclesr.config.validate import validate_config, validate_paths

__all__ = [
    "Config", "ConfigError", "NetSpec", "DatasetConfig", "TrainDataConfig", "TestDataConfig", "CycleGANConfig",
    "ModelConfig", "TrainerConfig", "load_config", "config_from_dict", "apply_overrides",
    "normalize_layout", "dump_config", "validate_config", "validate_paths", "PIXEL_SHUFFLE_NETS",
    "FIT_NAME", "is_fit",
]
