"""Loss terms. ``heatmap`` holds the ground-truth losses; distillation terms live beside it."""

from facekd.losses.heatmap import coord_l1, heatmap_mse

__all__ = ["heatmap_mse", "coord_l1"]
