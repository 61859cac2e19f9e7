"""HRNet for heatmap regression: one implementation, parameterised by :class:`HRNetConfig`.

Layout (Sun et al. 2019; Wang et al. 2020): a stride-4 stem, stage 1 (one branch), then stages 2..N
with one more, half-resolution branch each (widths ``w, 2w, 4w, 8w``), each stage a sequence of
modules of per-branch residual blocks followed by all-to-all multi-resolution fusion. Heads:
``"v2"`` upsamples all branches to stride 4, concatenates them and applies 1x1 conv-BN-ReLU + 1x1
conv (HRNetV2); ``"highres"`` applies a 1x1 conv to the stride-4 branch only (HRNet / SimpleBaseline
style, and the last module then fuses into that branch only). Heatmaps are at stride 4.
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


BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


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
    """Parallel branches of basic blocks, then fusion (sum of resampled branches) into each output."""

    def __init__(self, widths: list[int], num_blocks: int, num_outputs: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_stack(BasicBlock, w, w, num_blocks) for w in widths)
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
                        cout = widths[i] if last else wj
                        convs += [nn.Conv2d(wj, cout, 3, 2, 1, bias=False), _bn(cout)]
                        if not last:
                            convs.append(nn.ReLU(inplace=True))
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
    """HRNet heatmap model. ``forward(x) -> heatmaps [N, K, H/4, W/4]``."""

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
            self.transitions.append(self._transition(prev, widths))
            last_stage = s == c.num_stages
            n_mod = c.stage_modules[s - 2]
            modules = []
            for m in range(n_mod):
                single = last_stage and m == n_mod - 1 and c.head == "highres"
                modules.append(HRModule(widths, c.stage_blocks[s - 2], 1 if single else len(widths)))
            self.stages.append(nn.Sequential(*modules))
            prev = widths

        k = c.num_keypoints
        if c.head == "v2":
            cat = sum(prev)
            hidden = c.head_channels or cat
            self.head = nn.Sequential(nn.Conv2d(cat, hidden, 1, bias=False), _bn(hidden),
                                      nn.ReLU(inplace=True))
            self.final = nn.Conv2d(hidden, k, 1)
            self._neck_channels = hidden
        else:
            self.head = nn.Identity()
            self.final = nn.Conv2d(prev[0], k, 1)
            self._neck_channels = prev[0]
        self._init_weights()

    @staticmethod
    def _transition(prev: list[int], widths: list[int]) -> nn.ModuleList:
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
                    convs += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), _bn(cout), nn.ReLU(inplace=True)]
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
        info.append(dict(name="heatmaps", channels=c.num_keypoints, stride=4))
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
        feats["heatmaps"] = self.final(y)
        return feats

    def forward(self, x: torch.Tensor, return_features: bool = False):
        feats = self.forward_features(x)
        return feats if return_features else feats["heatmaps"]
