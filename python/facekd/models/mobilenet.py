"""Baselines for comparison: a MobileNetV2 heatmap model and a PFLD-style coordinate regressor.

MobileNetV2 (Sandler et al. 2018) is written here with ``torch.nn`` because timm needs torchvision,
which cannot be installed beside this torch build. No ImageNet weights are available: both train
from scratch (or from ``--init``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facekd.errors import FacekdError


def _make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(cin, hidden, 1))
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


# (expansion t, channels c, repeats n, stride s) of MobileNetV2.
_MBV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                  (6, 160, 3, 2), (6, 320, 1, 1))


class _ConfigMixin:
    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FacekdError(f"unknown {cls.__name__} field(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MobileNetV2HeatmapConfig(_ConfigMixin):
    """MobileNetV2 body (stride 32) with an FPN-like upsampling head to stride-4 heatmaps."""

    num_keypoints: int
    width_mult: float = 1.0
    head_channels: int = 64

    def __post_init__(self) -> None:
        if self.num_keypoints < 1 or self.width_mult <= 0 or self.head_channels < 1:
            raise FacekdError(f"invalid MobileNetV2HeatmapConfig: {self}")


class MobileNetV2Heatmap(nn.Module):
    """MobileNetV2 heatmap baseline. ``forward(x) -> heatmaps [N, K, H/4, W/4]``.

    Head: 1x1 laterals on the stride 4/8/16/32 outputs, top-down bilinear upsampling and sums,
    a 3x3 depthwise-separable conv, then a 1x1 conv to K maps at stride 4.
    """

    arch = "mobilenetv2_heatmap"
    output_type = "heatmap"
    output_layer = "final"
    output_per_keypoint = 1

    def __init__(self, config: MobileNetV2HeatmapConfig) -> None:
        super().__init__()
        self.config = config
        wm = config.width_mult
        stem = _make_divisible(32 * wm)
        self.stem = _conv_bn(3, stem, 3, 2)
        cin = stem
        stages: list[list[nn.Module]] = [[], [], [], []]  # strides 4, 8, 16, 32
        stride = 2
        for t, c, n, s in _MBV2_SETTINGS:
            cout = _make_divisible(c * wm)
            for i in range(n):
                st = s if i == 0 else 1
                stride *= st
                level = {2: 0, 4: 0, 8: 1, 16: 2, 32: 3}[stride]
                stages[level].append(InvertedResidual(cin, cout, st, t))
                cin = cout
        self.stages = nn.ModuleList(nn.Sequential(*blocks) for blocks in stages)
        self._widths = [self._out_channels(b) for b in stages]
        h = config.head_channels
        self.laterals = nn.ModuleList(nn.Conv2d(w, h, 1) for w in self._widths)
        self.smooth = nn.Sequential(_conv_bn(h, h, 3, groups=h), _conv_bn(h, h, 1))
        self.final = nn.Conv2d(h, config.num_keypoints, 1)
        # The heatmap output starts near zero, as HRNet's head does (normal, std 0.001): with torch's
        # default init the maps start at ~0.4 (loss 0.16) and training from scratch falls into the
        # all-zero plateau for a whole epoch on ytf68 (val NME > 100 %).
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    @staticmethod
    def _out_channels(blocks: list[nn.Module]) -> int:
        return [m for m in blocks[-1].modules() if isinstance(m, nn.Conv2d)][-1].out_channels

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        info = [dict(name=f"c{i + 2}", channels=w, stride=4 * 2**i) for i, w in enumerate(self._widths)]
        info.append(dict(name="neck", channels=self.config.head_channels, stride=4))
        info.append(dict(name="heatmaps", channels=self.config.num_keypoints, stride=4))
        return info

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats: dict[str, torch.Tensor] = {}
        x = self.stem(x)
        cs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            feats[f"c{i + 2}"] = x
            cs.append(x)
        y = self.laterals[3](cs[3])
        for i in (2, 1, 0):
            lat = self.laterals[i](cs[i])
            y = lat + F.interpolate(y, size=lat.shape[-2:], mode="bilinear", align_corners=False)
        y = self.smooth(y)
        feats["neck"] = y
        feats["heatmaps"] = self.final(y)
        return feats

    def forward(self, x: torch.Tensor, return_features: bool = False):
        feats = self.forward_features(x)
        return feats if return_features else feats["heatmaps"]


@dataclass
class PFLDConfig(_ConfigMixin):
    """PFLD-style regressor (Guo et al. 2019) without the auxiliary pose branch."""

    num_keypoints: int
    width_mult: float = 1.0  # PFLD "1X"; 0.25 gives "0.25X"

    def __post_init__(self) -> None:
        if self.num_keypoints < 1 or self.width_mult <= 0:
            raise FacekdError(f"invalid PFLDConfig: {self}")


class PFLDRegress(nn.Module):
    """Direct coordinate regression. ``forward(x) -> coords [N, K, 2]``.

    Coordinates are crop-normalised: ``x_n = (u + 0.5) / S`` for crop pixel ``u`` of an ``S``-pixel
    crop (pixel centres at integers, as everywhere in facekd), so the crop spans [0, 1].
    """

    arch = "pfld_regress"
    output_type = "coords"
    output_layer = "fc"
    output_per_keypoint = 2

    def __init__(self, config: PFLDConfig) -> None:
        super().__init__()
        self.config = config
        d = lambda c: _make_divisible(c * config.width_mult, 8)  # noqa: E731
        c64, c128 = d(64), d(128)
        self.stem = nn.Sequential(_conv_bn(3, c64, 3, 2), _conv_bn(c64, c64, 3, groups=c64))
        self.body = nn.Sequential(  # stride 2 -> 8
            InvertedResidual(c64, c64, 2, 2), *[InvertedResidual(c64, c64, 1, 2) for _ in range(4)],
            InvertedResidual(c64, c128, 2, 2), *[InvertedResidual(c128, c128, 1, 4) for _ in range(5)],
            InvertedResidual(c128, d(16), 1, 2))
        s1 = d(16)
        self.conv_s2 = _conv_bn(s1, d(32), 3, 2)
        self.conv_s3 = nn.Sequential(nn.Conv2d(d(32), d(128), 3, 2, 1), nn.ReLU(inplace=True))
        self._widths = (c64, s1, d(32), d(128))
        self.fc = nn.Linear(s1 + d(32) + d(128), 2 * config.num_keypoints)
        nn.init.zeros_(self.fc.weight)
        nn.init.constant_(self.fc.bias, 0.5)  # start at the crop centre

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        c64, s1, s2, s3 = self._widths
        return [dict(name="stem", channels=c64, stride=2), dict(name="s1", channels=s1, stride=8),
                dict(name="s2", channels=s2, stride=16), dict(name="s3", channels=s3, stride=32),
                dict(name="coords", channels=2 * self.config.num_keypoints, stride=0)]

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        feats = {"stem": x}
        s1 = self.body(x)
        s2 = self.conv_s2(s1)
        s3 = self.conv_s3(s2)
        feats.update(s1=s1, s2=s2, s3=s3)
        pooled = torch.cat([t.mean(dim=(2, 3)) for t in (s1, s2, s3)], dim=1)
        feats["coords"] = self.fc(pooled).view(-1, self.config.num_keypoints, 2)
        return feats

    def forward(self, x: torch.Tensor, return_features: bool = False):
        feats = self.forward_features(x)
        return feats if return_features else feats["coords"]
