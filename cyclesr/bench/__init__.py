"""Benchmarks that print numbers: training step, data loading, upscaling, quality."""

__all__: list[str] = []
