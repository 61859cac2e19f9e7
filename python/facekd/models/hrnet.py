"""HRNet for heatmap regression: one implementation, parameterised by :class:`HRNetConfig`.

Layout (Sun et al. 2019; Wang et al. 2020): a stride-4 stem, stage 1 (one branch), then stages 2..N
with one more, half-resolution branch each (widths ``w, 2w, 4w, 8w``), each stage a sequence of
modules of per-branch residual blocks followed by all-to-all multi-resolution fusion. Heads:
``"v2"`` upsamples all branches to stride 4, concatenates them and applies 1x1 conv-BN-ReLU + 1x1
conv (HRNetV2); ``"highres"`` applies a 1x1 conv to the stride-4 branch only (HRNet / SimpleBaseline
style, and the last module then fuses into that branch only). Heatmaps are at stride 4, or at
stride 2 with ``heatmap_stride=2`` (a sub-pixel output conv: 4K channels, then a 2x depth-to-space shuffle).

Lightweight variants for the CPU / phone (Lite-HRNet, Yu et al. 2021, and the ShuffleNet V2 /
MobileNet units it builds on), all config fields: ``block`` picks the residual unit of the HR
modules (``"basic"``: two 3x3 convs; ``"dwsep"``: two depthwise-separable 3x3 convs;
``"shuffle"``: the ShuffleNet V2 unit, channel split + 1x1 / depthwise 3x3 / 1x1 + channel
shuffle), ``stage1_block`` the same for stage 1, and ``fuse`` the strided 3x3 convs of the
fusion and of the new-branch transitions (``"conv"`` or ``"dwsep"``: depthwise 3x3 stride 2 + 1x1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facekd.errors import FacekdError

BN_MOMENTUM = 0.1


@dataclass
class HRNetConfig:
    """Architecture of an HRNet heatmap model.

    ``stage_modules[i]`` / ``stage_blocks[i]`` describe stage ``i + 2`` (stages 2..num_stages): the
    number of HR modules, and of residual blocks per branch in each module.
    """

    num_keypoints: int
    stem_width: int = 64
    stage1_block: str = "bottleneck"  # "bottleneck" (expansion 4) or "basic"
    stage1_blocks: int = 4
    stage1_width: int = 64  # block width; output channels = width * expansion
    width: int = 18  # branch widths: width * 2**i
    num_stages: int = 4  # 3 or 4 (stage 1 included) -> 2 or 3 ... 3 branches
    stage_modules: tuple[int, ...] = (1, 4, 3)
    stage_blocks: tuple[int, ...] = (4, 4, 4)
    head: str = "v2"  # "v2" or "highres"
    head_channels: int | None = None  # v2 head hidden channels (None: sum of branch widths)
    block: str = "basic"  # residual unit of the HR modules: "basic", "dwsep" or "shuffle"
    fuse: str = "conv"  # strided 3x3 convs of fusion / transitions: "conv" or "dwsep"
    heatmap_stride: int = 4  # 4, or 2 (sub-pixel output conv + depth-to-space)

    def __post_init__(self) -> None:
        self.stage_modules = tuple(int(v) for v in self.stage_modules)
        self.stage_blocks = tuple(int(v) for v in self.stage_blocks)
        self.validate()

    def validate(self) -> None:
        def bad(msg: str) -> FacekdError:
            return FacekdError(f"invalid HRNetConfig: {msg}")

        if self.num_keypoints < 1:
            raise bad(f"num_keypoints must be >= 1, got {self.num_keypoints}")
        if self.num_stages not in (2, 3, 4):
            raise bad(f"num_stages must be 2, 3 or 4, got {self.num_stages}")
        n = self.num_stages - 1
        if len(self.stage_modules) != n or len(self.stage_blocks) != n:
            raise bad(f"stage_modules and stage_blocks need {n} entries for num_stages="
                      f"{self.num_stages}, got {list(self.stage_modules)} and {list(self.stage_blocks)}")
        if any(v < 1 for v in self.stage_modules + self.stage_blocks):
            raise bad("stage_modules and stage_blocks entries must be >= 1")
        if self.stage1_block not in BLOCKS:
            raise bad(f"stage1_block must be one of {sorted(BLOCKS)}, got {self.stage1_block!r}")
        if self.block not in BRANCH_BLOCKS:
            raise bad(f"block must be one of {sorted(BRANCH_BLOCKS)}, got {self.block!r}")
        if self.fuse not in ("conv", "dwsep"):
            raise bad(f"fuse must be 'conv' or 'dwsep', got {self.fuse!r}")
        if self.heatmap_stride not in (2, 4):
            raise bad(f"heatmap_stride must be 2 or 4, got {self.heatmap_stride}")
        odd = [n for n, w in (("width", self.width), ("stage1_width", self.stage1_width)) if w % 2]
        if odd and "shuffle" in (self.block, self.stage1_block):
            raise bad(f"the shuffle block splits channels in two: {odd} must be even")
        if self.head not in ("v2", "highres"):
            raise bad(f"head must be 'v2' or 'highres', got {self.head!r}")
        for name in ("stem_width", "stage1_blocks", "stage1_width", "width"):
            if getattr(self, name) < 1:
                raise bad(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.head_channels is not None and self.head_channels < 1:
            raise bad(f"head_channels must be >= 1 or None, got {self.head_channels}")

    @property
    def num_branches(self) -> int:
        return self.num_stages

    def branch_widths(self, stage: int) -> list[int]:
        """Channel widths of the branches of ``stage`` (2..num_stages)."""
        return [self.width * 2**i for i in range(stage)]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stage_modules"] = list(self.stage_modules)
        d["stage_blocks"] = list(self.stage_blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HRNetConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FacekdError(f"unknown HRNetConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=BN_MOMENTUM)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, cout, 3, 1, 1, bias=False)
        self.bn2 = _bn(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = _bn(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _dwsep(cin: int, cout: int, stride: int = 1, relu: bool = True) -> list[nn.Module]:
    """Depthwise 3x3 (stride) + BN, then 1x1 + BN (+ ReLU): a cheap stand-in for a 3x3 conv."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), _bn(cin),
                               nn.Conv2d(cin, cout, 1, bias=False), _bn(cout)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class DWSepBlock(nn.Module):
    """The basic block with each 3x3 conv replaced by depthwise 3x3 + pointwise 1x1
    (MobileNet's factorisation): about 1/8 of the basic block's parameters at 16-64 channels."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(*_dwsep(cin, planes, stride), *_dwsep(planes, planes, relu=False))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), _bn(planes))
                           if stride != 1 or cin != planes else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.body(x) + identity)


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleBlock(nn.Module):
    """ShuffleNet V2 unit (Ma et al. 2018), the "naive" block of Lite-HRNet: with ``cin == planes``
    and stride 1, half the channels pass through and the other half go 1x1 -> depthwise 3x3 -> 1x1;
    otherwise both halves are computed from the whole input (the down-sampling unit). Then the
    halves are concatenated and shuffled."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        if planes % 2:
            raise FacekdError(f"ShuffleBlock needs an even channel count, got {planes}")
        half = planes // 2
        self.split = stride == 1 and cin == planes
        src = half if self.split else cin
        self.branch2 = nn.Sequential(nn.Conv2d(src, half, 1, bias=False), _bn(half), nn.ReLU(inplace=True),
                                     *_dwsep(half, half, stride))
        self.branch1 = None if self.split else nn.Sequential(*_dwsep(cin, half, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:
            half = x.shape[1] // 2  # slices, not chunk: XNNPACK takes slice_copy, not split_with_sizes
            out = torch.cat([x[:, :half], self.branch2(x[:, half:])], dim=1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], dim=1)
        return channel_shuffle(out, 2)


BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck, "dwsep": DWSepBlock,
                                      "shuffle": ShuffleBlock}
BRANCH_BLOCKS = ("basic", "dwsep", "shuffle")  # blocks of the HR modules (expansion 1)


def _down(cin: int, cout: int, kind: str, relu: bool) -> list[nn.Module]:
    """A stride-2 3x3 reduction: a full conv + BN (+ ReLU) or its depthwise-separable version."""
    if kind == "dwsep":
        return _dwsep(cin, cout, 2, relu=relu)
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), _bn(cout)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


def _stack(block: type[nn.Module], cin: int, planes: int, n: int) -> nn.Sequential:
    layers = [block(cin, planes)]
    layers += [block(planes * block.expansion, planes) for _ in range(n - 1)]
    return nn.Sequential(*layers)


def _resize_to(x: torch.Tensor, ref: torch.Tensor, mode: str) -> torch.Tensor:
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    if mode == "nearest":
        return F.interpolate(x, size=ref.shape[-2:], mode="nearest")
    return F.interpolate(x, size=ref.shape[-2:], mode=mode, align_corners=False)


class HRModule(nn.Module):
    """Parallel branches of residual blocks, then fusion (sum of resampled branches) into each output."""

    def __init__(self, widths: list[int], num_blocks: int, num_outputs: int, block: str = "basic",
                 fuse: str = "conv") -> None:
        super().__init__()
        self.branches = nn.ModuleList(_stack(BLOCKS[block], w, w, num_blocks) for w in widths)
        self.fuse = nn.ModuleList()
        for i in range(num_outputs):
            row = nn.ModuleList()
            for j, wj in enumerate(widths):
                if j > i:  # lower resolution -> 1x1 conv + BN, upsampled in forward
                    row.append(nn.Sequential(nn.Conv2d(wj, widths[i], 1, bias=False), _bn(widths[i])))
                elif j == i:
                    row.append(nn.Identity())
                else:  # higher resolution -> (i - j) stride-2 3x3 convs
                    convs: list[nn.Module] = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        convs += _down(wj, widths[i] if last else wj, fuse, relu=not last)
                    row.append(nn.Sequential(*convs))
            self.fuse.append(row)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        outs = []
        for i, row in enumerate(self.fuse):
            y = xs[i]
            for j, layer in enumerate(row):
                if j == i:
                    continue
                z = layer(xs[j])
                y = y + (_resize_to(z, xs[i], "nearest") if j > i else z)
            outs.append(self.relu(y))
        return outs


class HRNet(nn.Module):
    """HRNet heatmap model. ``forward(x) -> heatmaps [N, K, H/s, W/s]``, s = ``heatmap_stride``."""

    arch = "hrnet"
    output_type = "heatmap"
    output_layer = "final"  # last layer: out channels = num_keypoints * output_per_keypoint
    output_per_keypoint = 1

    def __init__(self, config: HRNetConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        c = config
        self.stem = nn.Sequential(
            nn.Conv2d(3, c.stem_width, 3, 2, 1, bias=False), _bn(c.stem_width), nn.ReLU(inplace=True),
            nn.Conv2d(c.stem_width, c.stem_width, 3, 2, 1, bias=False), _bn(c.stem_width),
            nn.ReLU(inplace=True))
        block = BLOCKS[c.stage1_block]
        self.stage1 = _stack(block, c.stem_width, c.stage1_width, c.stage1_blocks)
        prev = [c.stage1_width * block.expansion]

        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        for s in range(2, c.num_stages + 1):
            widths = c.branch_widths(s)
            self.transitions.append(self._transition(prev, widths, c.fuse))
            last_stage = s == c.num_stages
            n_mod = c.stage_modules[s - 2]
            modules = []
            for m in range(n_mod):
                single = last_stage and m == n_mod - 1 and c.head == "highres"
                modules.append(HRModule(widths, c.stage_blocks[s - 2], 1 if single else len(widths),
                                        block=c.block, fuse=c.fuse))
            self.stages.append(nn.Sequential(*modules))
            prev = widths

        k = c.num_keypoints
        neck = None
        if c.head == "v2":
            cat = sum(prev)
            hidden = c.head_channels or cat
            self.head = nn.Sequential(nn.Conv2d(cat, hidden, 1, bias=False), _bn(hidden),
                                      nn.ReLU(inplace=True))
            neck = hidden
        else:
            self.head = nn.Identity()
            neck = prev[0]
        # stride 2 heatmaps: sub-pixel convolution (the output conv predicts 2x2 sub-positions, a depth-to-
        # space shuffle interleaves them); a transposed / nearest-up + depthwise head ran ~15x slower in int8 XNNPACK
        sub = 1 if c.heatmap_stride == 4 else 4 // c.heatmap_stride
        self.final = nn.Conv2d(neck, k * sub * sub, 1)
        self.output_per_keypoint = sub * sub  # channels of ``final`` per keypoint
        self.upsample = nn.Identity() if sub == 1 else nn.PixelShuffle(sub)
        self._neck_channels = neck
        self._init_weights()

    @staticmethod
    def _transition(prev: list[int], widths: list[int], fuse: str = "conv") -> nn.ModuleList:
        layers = nn.ModuleList()
        for i, w in enumerate(widths):
            if i < len(prev):
                layers.append(nn.Identity() if prev[i] == w else nn.Sequential(
                    nn.Conv2d(prev[i], w, 3, 1, 1, bias=False), _bn(w), nn.ReLU(inplace=True)))
            else:  # new branch from the lowest-resolution previous branch
                convs: list[nn.Module] = []
                cin = prev[-1]
                for k in range(i + 1 - len(prev)):
                    cout = w if k == i - len(prev) else cin
                    convs += _down(cin, cout, fuse, relu=True)
                    cin = cout
                layers.append(nn.Sequential(*convs))
        return layers

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001 if m is self.final else 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        """Taps of :meth:`forward_features` (name, channels, stride), known without running."""
        c = self.config
        info = [dict(name="stem", channels=c.stem_width, stride=4),
                dict(name="stage1", channels=c.stage1_width * BLOCKS[c.stage1_block].expansion, stride=4)]
        for s in range(2, c.num_stages + 1):
            widths = c.branch_widths(s)
            if s == c.num_stages and c.head == "highres":
                widths = widths[:1]
            info += [dict(name=f"stage{s}.b{j}", channels=w, stride=4 * 2**j) for j, w in enumerate(widths)]
        info.append(dict(name="neck", channels=self._neck_channels, stride=4))
        info.append(dict(name="heatmaps", channels=c.num_keypoints, stride=c.heatmap_stride))
        return info

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats: dict[str, torch.Tensor] = {}
        x = self.stem(x)
        feats["stem"] = x
        x = self.stage1(x)
        feats["stage1"] = x
        xs = [x]
        for s, (trans, stage) in enumerate(zip(self.transitions, self.stages), start=2):
            xs = [trans[i](xs[min(i, len(xs) - 1)]) for i in range(len(trans))]
            xs = stage(xs)
            for j, t in enumerate(xs):
                feats[f"stage{s}.b{j}"] = t
        if self.config.head == "v2":
            y = torch.cat([xs[0]] + [_resize_to(t, xs[0], "bilinear") for t in xs[1:]], dim=1)
        else:
            y = xs[0]
        y = self.head(y)
        feats["neck"] = y
        feats["heatmaps"] = self.upsample(self.final(y))
        return feats

    def forward(self, x: torch.Tensor, return_features: bool = False):
        feats = self.forward_features(x)
        return feats if return_features else feats["heatmaps"]
