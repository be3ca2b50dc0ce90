"""Measuring: paired PSNR/SSIM, the no-reference score of the learned degradation, recipe fitting."""
