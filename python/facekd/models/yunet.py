"""YuNet (Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector", MIR 2023) as a torch module.

The architecture follows the published ONNX graphs of libfacedetection.train (read with the
``onnx`` package): a backbone of "depthwise-pointwise units" (1x1 conv -> 3x3 depthwise conv ->
BN -> ReLU) with max-pool downsampling to strides 8/16/32, a top-down neck (nearest x2 upsampling
and addition) and an anchor-free head per stride with ``cls`` and ``obj`` logits, 4 box and 10
keypoint regressors. Every tensor name matches the original mmdet module tree, so the published
weights (converted to safetensors) load with ``load_state_dict`` (no pickle). The channel widths
are read from the weights, so the same class builds ``yunet_n`` and ``yunet_s``.

:meth:`YuNet.forward` also decodes (:func:`decode_heads`; an exported ``.pte`` of :meth:`YuNet.heads_module`
returns the raw maps and the detector decodes them the same way):
``[N, A, 15]`` rows ``(x, y, w, h, kx0, ky0, ..., kx4, ky4, score)`` for every location of the three
strides (A = H*W/64 + H*W/256 + H*W/1024), in pixels of the network input with pixel ``i``
covering ``[i, i + 1)``; ``score = sqrt(sigmoid(cls) * sigmoid(obj))``; centre ``(col + dx, row +
dy) * stride``, size ``exp(dw, dh) * stride``, keypoint ``(col + kx, row + ky) * stride``, the
decode of OpenCV's ``FaceDetectorYN``. The keypoints are, in that order: the eye on the image left
(the subject's right eye on an upright face), the eye on the image right, the nose tip, the mouth
corner on the image left, the mouth corner on the image right.

Input: ``[N, 3, H, W]`` float BGR in 0..255 (no normalisation), ``H`` and ``W`` multiples of 32.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from facekd.errors import FacekdError

STRIDES = (8, 16, 32)
NUM_FACE_KEYPOINTS = 5
ROW = 4 + 2 * NUM_FACE_KEYPOINTS + 1  # x, y, w, h, 5 keypoints, score
DIVISOR = 32
HEAD_CHANNELS = 4 + 2 * NUM_FACE_KEYPOINTS + 2  # cls, obj, 4 box, 10 keypoint regressors


class DPUnit(nn.Module):
    """1x1 conv -> 3x3 depthwise conv (-> BN -> ReLU): the building block of YuNet."""

    def __init__(self, cin: int, cout: int, bn_relu: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, groups=cout)
        self.bn = nn.BatchNorm2d(cout) if bn_relu else None

        self.relu = bn_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class _Stem(nn.Module):
    """3x3 stride-2 conv -> BN -> ReLU -> DP unit."""

    def __init__(self, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, cout, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = DPUnit(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.bn1(x)
        return self.conv2(F.relu(x))


class _Stage(nn.Module):
    def __init__(self, cin: int, cmid: int, cout: int):
        super().__init__()
        self.conv1 = DPUnit(cin, cmid)
        self.conv2 = DPUnit(cmid, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class _Backbone(nn.Module):
    """model0 (stride 2) -> pool -> model1, model2 (stride 4) -> pool -> model3 (8) -> pool ->
    model4 (16) -> pool -> model5 (32); returns the outputs of model3, model4, model5."""

    def __init__(self, stem: int, stages: list[tuple[int, int, int]]):
        super().__init__()
        if len(stages) != 5:
            raise FacekdError(f"YuNet backbone needs 5 stages after the stem, got {len(stages)}")
        self.model0 = _Stem(stem)
        for i, (a, b, c) in enumerate(stages, start=1):
            setattr(self, f"model{i}", _Stage(a, b, c))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.max_pool2d(self.model0(x), 2)
        x = self.model2(self.model1(x))
        c3 = self.model3(F.max_pool2d(x, 2))
        c4 = self.model4(F.max_pool2d(c3, 2))
        c5 = self.model5(F.max_pool2d(c4, 2))
        return [c3, c4, c5]


class _Neck(nn.Module):
    """Top-down: lateral_convs.2 on stride 32; upsample x2 + stride-16 feature -> lateral_convs.1;
    upsample x2 + stride-8 feature -> lateral_convs.0."""

    def __init__(self, channels: list[tuple[int, int]]):
        super().__init__()
        self.lateral_convs = nn.ModuleList(DPUnit(a, b) for a, b in channels)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p5 = self.lateral_convs[2](feats[2])
        p4 = self.lateral_convs[1](feats[1] + F.interpolate(p5, scale_factor=2.0, mode="nearest"))
        p3 = self.lateral_convs[0](feats[0] + F.interpolate(p4, scale_factor=2.0, mode="nearest"))
        return [p3, p4, p5]


class _Head(nn.Module):
    def __init__(self, channels: int, share: bool):
        super().__init__()
        n = len(STRIDES)
        if share:  # yunet_n: one DP unit per level before the predictors
            self.multi_level_share_convs = nn.ModuleList(nn.Sequential(DPUnit(channels, channels))
                                                         for _ in range(n))
        else:
            self.multi_level_share_convs = None
        self.multi_level_cls = nn.ModuleList(DPUnit(channels, 1, False) for _ in range(n))
        self.multi_level_obj = nn.ModuleList(DPUnit(channels, 1, False) for _ in range(n))
        self.multi_level_bbox = nn.ModuleList(DPUnit(channels, 4, False) for _ in range(n))
        self.multi_level_kps = nn.ModuleList(DPUnit(channels, 2 * NUM_FACE_KEYPOINTS, False)
                                             for _ in range(n))
        self.fused = None  # per level one DP unit with all 16 outputs (:meth:`fuse`)

    def _predictors(self, i: int) -> list[DPUnit]:
        return [self.multi_level_cls[i], self.multi_level_obj[i], self.multi_level_bbox[i], self.multi_level_kps[i]]

    @torch.no_grad()
    def fuse(self) -> None:
        """Replace the four predictor DP units of each level (cls, obj, box, keypoints: each a 1x1
        conv then a 3x3 depthwise conv on the same input) by one DP unit with their 16 output
        channels stacked: the 1x1 convs concatenate along their outputs and the depthwise convs,
        being per channel, concatenate exactly. The same maps with 6 convolutions instead of 24 and
        no concatenation per level."""
        fused = []
        for i in range(len(STRIDES)):
            parts = self._predictors(i)
            unit = DPUnit(parts[0].conv1.in_channels, HEAD_CHANNELS, bn_relu=False)
            for name in ("conv1", "conv2"):
                dst = getattr(unit, name)
                dst.weight.copy_(torch.cat([getattr(p, name).weight for p in parts]))
                dst.bias.copy_(torch.cat([getattr(p, name).bias for p in parts]))
            fused.append(unit)
        self.fused = nn.ModuleList(fused)
        for name in ("multi_level_cls", "multi_level_obj", "multi_level_bbox", "multi_level_kps"):
            setattr(self, name, None)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Raw head maps ``[N, 16, A]``: per stride the channels (cls, obj, 4 box, 10 keypoint)
        flattened row-major over the grid, the strides one after the other (no decode)."""
        maps = []
        for i, f in enumerate(feats):
            if self.multi_level_share_convs is not None:
                f = self.multi_level_share_convs[i](f)
            if self.fused is not None:
                maps.append(self.fused[i](f).flatten(2))
            else:
                maps.append(torch.cat([p(f) for p in self._predictors(i)], dim=1).flatten(2))
        return torch.cat(maps, dim=2)


@lru_cache(maxsize=32)
def _grid(h: int, w: int, repeat: int, dtype: torch.dtype) -> torch.Tensor:
    """``[1, h*w, 2 * repeat]`` (col, row) of every location, row-major, ``repeat`` times: a
    constant for a given size (an exported program carries it as data, not as ops)."""
    import numpy as np

    rows, cols = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    g = np.tile(np.stack([cols.ravel(), rows.ravel()], axis=1), (1, repeat))
    return torch.from_numpy(g).unsqueeze(0).to(dtype)


def decode_heads(maps: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Raw head maps ``[N, 16, A]`` (:meth:`YuNet.heads`) of an ``height x width`` input ->
    ``[N, A, 15]`` decoded rows (see the module docstring). The one decode: the eager forward uses
    it, and so does a ``.pte`` that returns the heads (which keeps the whole graph in XNNPACK)."""
    if maps.dim() != 3 or maps.shape[1] != HEAD_CHANNELS:
        raise FacekdError(f"YuNet head maps must be [N, {HEAD_CHANNELS}, A], got {list(maps.shape)}")
    sizes = [(height // s, width // s) for s in STRIDES]
    if sum(h * w for h, w in sizes) != maps.shape[2]:
        raise FacekdError(f"YuNet head maps have {maps.shape[2]} locations; a {height}x{width} input has "
                          f"{sum(h * w for h, w in sizes)}")
    k = NUM_FACE_KEYPOINTS
    rows, start = [], 0
    for (h, w), stride in zip(sizes, STRIDES):
        m = maps[:, :, start:start + h * w].transpose(1, 2)  # [N, h*w, 16]
        start += h * w
        score = torch.sqrt(torch.sigmoid(m[..., 0:1]) * torch.sigmoid(m[..., 1:2]))
        centre = (_grid(h, w, 1, m.dtype) + m[..., 2:4]) * stride
        size = torch.exp(m[..., 4:6]) * stride
        points = (_grid(h, w, k, m.dtype) + m[..., 6:]) * stride
        rows.append(torch.cat([centre - size / 2, size, points, score], dim=2))
    return torch.cat(rows, dim=1)


class _Heads(nn.Module):
    """A YuNet whose forward stops at the raw head maps (what :meth:`YuNet.heads_module` exports)."""

    def __init__(self, net: "YuNet"):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.heads(x)


class YuNet(nn.Module):
    """YuNet face detector (see the module docstring). ``stem``/``stages``/``neck``: channel widths
    (``from_state_dict`` reads them from the weights); ``share_head``: the per-level DP unit of
    yunet_n's head (yunet_s has none)."""

    def __init__(self, stem: int, stages: list[tuple[int, int, int]], neck: list[tuple[int, int]],
                 share_head: bool):
        super().__init__()
        self.backbone = _Backbone(stem, stages)
        self.neck = _Neck(neck)
        self.bbox_head = _Head(neck[0][1], share_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] % DIVISOR or x.shape[3] % DIVISOR:
            raise FacekdError(f"YuNet input must be [N, 3, H, W] with H, W multiples of {DIVISOR}, "
                              f"got {list(x.shape)}")
        return decode_heads(self.heads(x), x.shape[2], x.shape[3])

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """The raw head maps ``[N, 16, A]`` (input as :meth:`forward`; decode with :func:`decode_heads`)."""
        return self.bbox_head(self.neck(self.backbone(x)))

    def heads_module(self) -> nn.Module:
        """A module (sharing these weights) whose forward is :meth:`heads`: the graph to export, all
        convolutions, which XNNPACK takes whole; the decode then runs after the program."""
        return _Heads(self)

    @torch.no_grad()
    def fuse_bn(self) -> "YuNet":
        """Fold every BatchNorm (inference statistics) into the convolution before it, in place
        (the same outputs up to float rounding, fewer ops; the state dict no longer has ``bn``
        tensors). Returns ``self``."""
        def fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)

        for m in self.modules():
            if isinstance(m, DPUnit) and m.bn is not None:
                fold(m.conv2, m.bn)
                m.bn = None
            elif isinstance(m, _Stem) and m.bn1 is not None:
                fold(m.conv1, m.bn1)
                m.bn1 = None
        return self.eval()

    @torch.no_grad()
    def fuse(self) -> "YuNet":
        """:meth:`fuse_bn`, then the head's four predictors of each level into one
        (:meth:`_Head.fuse`): the inference graph the detector runs and exports (the same outputs up
        to float rounding). Returns ``self``."""
        self.fuse_bn()
        if self.bbox_head.fused is None:
            self.bbox_head.fuse()
        return self

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> "YuNet":
        """Build the architecture the weights describe and load them (strict)."""
        try:
            stem = int(state["backbone.model0.conv1.weight"].shape[0])
            stages = []
            for i in range(1, 6):
                w1 = state[f"backbone.model{i}.conv1.conv1.weight"]
                w2 = state[f"backbone.model{i}.conv2.conv1.weight"]
                stages.append((int(w1.shape[1]), int(w1.shape[0]), int(w2.shape[0])))
            neck = [(int(state[f"neck.lateral_convs.{i}.conv1.weight"].shape[1]),
                     int(state[f"neck.lateral_convs.{i}.conv1.weight"].shape[0])) for i in range(3)]
        except KeyError as e:
            raise FacekdError(f"not YuNet weights: missing tensor {e}") from None
        share = "bbox_head.multi_level_share_convs.0.0.conv1.weight" in state
        model = cls(stem, stages, neck, share)
        missing, unexpected = model.load_state_dict(dict(state), strict=False)
        if missing or unexpected:
            raise FacekdError(f"YuNet weights do not fit the architecture: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}")
        return model.eval()

    @classmethod
    def load(cls, path) -> "YuNet":
        """From a ``.safetensors`` file (no pickle)."""
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as e:  # safetensors raises its own error types
            raise FacekdError(f"cannot read YuNet weights {path}: {e}") from None
        return cls.from_state_dict(state)
