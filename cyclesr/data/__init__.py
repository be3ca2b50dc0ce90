"""Image I/O, synthetic degradations and datasets."""

from cyclesr.data.datasets import PairedDataset, UnpairedDataset
from cyclesr.data.degrade import RECIPES, Recipe, bicubic_downscale, resize, synthesize_folder
from cyclesr.data.io import (
    IMAGE_EXTS, ImageReadError, LoadedImage, from_uint8, list_images, load_rgb, read_image, save_rgb,
    to_uint8, write_image,
)

__all__ = [
    "IMAGE_EXTS", "ImageReadError", "LoadedImage", "list_images", "read_image", "load_rgb",
    "write_image", "save_rgb", "to_uint8", "from_uint8",
    "RECIPES", "Recipe", "bicubic_downscale", "resize", "synthesize_folder",
    "UnpairedDataset", "PairedDataset",
]
