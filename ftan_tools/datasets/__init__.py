"""Synthetic change-detection data and tiling of public releases."""
