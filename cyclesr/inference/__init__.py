"""Tiled, memory-bounded upscaling of images with a trained SR network."""
