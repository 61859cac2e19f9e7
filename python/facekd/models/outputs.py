"""Turning model outputs into image-coordinate landmarks, for heatmap and coordinate models alike."""

from __future__ import annotations

import torch


def coords_to_image(coords: torch.Tensor, affines: torch.Tensor, input_size: int) -> torch.Tensor:
    """Crop-normalised coordinates [N,K,2] (``(u + 0.5) / S``) -> image coordinates via the
    crop->image affines [N,2,3]."""
    uv = coords.float() * input_size - 0.5
    a = affines.float().to(uv.device)
    return torch.einsum("nij,nkj->nki", a[:, :, :2], uv) + a[:, None, :, 2]


def image_to_coords(points: torch.Tensor, affines: torch.Tensor, input_size: int) -> torch.Tensor:
    """Inverse of :func:`coords_to_image`: image points [N,K,2] -> crop-normalised coordinates."""
    a = affines.double().to(points.device)
    lin = torch.linalg.inv(a[:, :, :2])
    uv = torch.einsum("nij,nkj->nki", lin, points.double() - a[:, None, :, 2])
    return ((uv + 0.5) / input_size).to(points.dtype)


def decode_output(output: torch.Tensor, output_type: str, affines: torch.Tensor, *, codec=None,
                  input_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(points [N,K,2] image coords, scores [N,K])`` from a model output.

    Heatmap models decode with ``codec`` (scores = peak values); coordinate models map through
    the affines (scores = 1)."""
    if output_type == "heatmap":
        if codec is None:
            raise ValueError("decode_output: heatmap outputs need a codec")
        pts, scores = codec.decode(output.detach().float(), affines)
        return torch.as_tensor(pts), torch.as_tensor(scores)
    if output_type == "coords":
        if input_size is None:
            raise ValueError("decode_output: coordinate outputs need input_size")
        pts = coords_to_image(output.detach(), affines, input_size)
        return pts, torch.ones(pts.shape[:2])
    raise ValueError(f"decode_output: unknown output_type {output_type!r}")
