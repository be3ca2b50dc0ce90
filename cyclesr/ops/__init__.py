"""Primitives with one home each: atomic files, device choice, colour (luma), resizing."""
