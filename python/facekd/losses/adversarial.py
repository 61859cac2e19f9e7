"""Adversarial distillation: a discriminator tells teacher heatmaps from student heatmaps.

A discriminator D (spectral-normalised conv stack on K-channel heatmaps, optionally conditioned on the image crop
resized to the heatmap size) outputs a patch of real/fake scores. Teacher heatmaps are "real", student heatmaps
"fake". With d_T = D(T), d_S = D(S):

  LSGAN:  L_D = mean (d_T − 1)² + mean d_S²          L_G = mean (d_S − 1)²
  hinge:  L_D = mean relu(1 − d_T) + mean relu(1 + d_S)   L_G = −mean d_S

L_D trains D on DETACHED inputs (its own optimiser, an alternating step after every student step); L_G is the
student's term (L_A,t for teacher t: L_A1, L_A2 with two teachers), weighted by λ_AKD ≪ λ_KD (≈ 0.001–0.01).
The distiller switches the student's term on after a warm-up and ramps λ_AKD up (``DistillConfig.akd_*``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.parametrizations import spectral_norm as _sn

__all__ = ["HeatmapDiscriminator", "discriminator_loss", "generator_loss"]

GAN_MODES = ("lsgan", "hinge")


class HeatmapDiscriminator(nn.Module):
    """PatchGAN-style critic: SN-conv(4×4, stride 2) + LeakyReLU blocks, then an SN-conv to one score map.

    ``spectral_norm=False`` drops the spectral normalisation (Miyato et al. 2018; it bounds D's Lipschitz constant,
    the main stabiliser of the adversarial term) — for the ablation of the stabilisers only."""

    def __init__(self, num_keypoints: int, width: int = 64, num_layers: int = 3, image_channels: int = 0,
                 spectral_norm: bool = True):
        super().__init__()
        if num_keypoints < 1 or width < 1 or num_layers < 1 or image_channels < 0:
            raise ValueError("num_keypoints, width, num_layers must be >= 1 and image_channels >= 0")
        self.image_channels = image_channels
        sn = _sn if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        c_in = num_keypoints + image_channels
        for i in range(num_layers):
            c_out = width * (2 ** i)
            layers += [sn(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c_out
        layers.append(sn(nn.Conv2d(c_in, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, heatmaps: Tensor, image: Tensor | None = None) -> Tensor:
        x = heatmaps.float()
        if self.image_channels:
            if image is None:
                raise ValueError("this discriminator is conditioned on the image crop: pass image=")
            img = F.interpolate(image.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)
            x = torch.cat([x, img], dim=1)
        return self.net(x)


def _check(mode: str) -> None:
    if mode not in GAN_MODES:
        raise ValueError(f"gan mode: expected one of {GAN_MODES}, got {mode!r}")


def discriminator_loss(d_real: Tensor, d_fake: Tensor, mode: str = "lsgan") -> Tensor:
    """L_D (see module docstring); pass scores of detached inputs."""
    _check(mode)
    if mode == "lsgan":
        return (d_real - 1).pow(2).mean() + d_fake.pow(2).mean()
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def generator_loss(d_fake: Tensor, mode: str = "lsgan") -> Tensor:
    """L_G, the student's adversarial term (see module docstring)."""
    _check(mode)
    if mode == "lsgan":
        return (d_fake - 1).pow(2).mean()
    return -d_fake.mean()
