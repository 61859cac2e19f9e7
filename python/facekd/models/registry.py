"""The one table of named model configs, and ``create_model``.

Every entry maps a name to a function ``(num_keypoints) -> config``; the config's type says which
module class builds it. Students are ``hrnet_slim_w{width}_d{depth}`` (see :func:`hrnet_slim`) and
the lightweight ``hrnet_lite_{block}_w{width}_d{depth}`` (see :func:`hrnet_lite`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from torch import nn

from facekd.errors import FacekdError
from facekd.models.hrnet import HRNet, HRNetConfig
from facekd.models.mobilenet import MobileNetV2Heatmap, MobileNetV2HeatmapConfig, PFLDConfig, PFLDRegress

# config type -> module class (arch name is the class's ``arch``)
ARCHS: dict[str, tuple[type, type[nn.Module]]] = {
    HRNet.arch: (HRNetConfig, HRNet),
    MobileNetV2Heatmap.arch: (MobileNetV2HeatmapConfig, MobileNetV2Heatmap),
    PFLDRegress.arch: (PFLDConfig, PFLDRegress),
}

SLIM_WIDTHS = (8, 10, 12, 14, 16, 18, 20, 22, 24)
SLIM_DEPTHS = (1, 2, 3)


def hrnet_slim(width: int, depth: int, num_keypoints: int) -> HRNetConfig:
    """Slim HRNet student: branch widths ``width * 2**i``, depth 1 (3 stages) to 3 (4 stages).

    depth 1: stages 2-3 with (1, 1) modules; depth 2: stages 2-4 with (1, 2, 1); depth 3: (1, 3, 2).
    Two basic blocks per branch; a basic-block stage 1; a v2 head with ``4 * width`` hidden channels.
    """
    if width < 2 or depth not in SLIM_DEPTHS:
        raise FacekdError(f"hrnet_slim needs width >= 2 and depth in {SLIM_DEPTHS}, got w={width} d={depth}")
    modules = {1: (1, 1), 2: (1, 2, 1), 3: (1, 3, 2)}[depth]
    return HRNetConfig(num_keypoints=num_keypoints, stem_width=max(16, 2 * width), stage1_block="basic",
                       stage1_blocks=depth, stage1_width=2 * width, width=width,
                       num_stages=len(modules) + 1, stage_modules=modules, stage_blocks=(2,) * len(modules),
                       head="v2", head_channels=4 * width)


LITE_BLOCKS = ("dwsep", "shuffle")
LITE_WIDTHS = (12, 16, 20, 24, 32)


def hrnet_lite(width: int, depth: int, block: str, num_keypoints: int) -> HRNetConfig:
    """Lightweight HRNet student for the CPU / phone: the :func:`hrnet_slim` layout with
    ``block`` ("dwsep" or "shuffle", see :class:`~facekd.models.hrnet.HRNetConfig`) in stage 1 and
    every HR module, and depthwise-separable strided convs in fusion and transitions. The cheaper
    units leave room for more width at the latency of a basic-block model; the full-conv parts that
    would then dominate are capped: the stem at 32 channels (as Lite-HRNet's) and the v2 head at
    ``2 * width`` hidden channels. Heatmap stride 4 (set ``heatmap_stride: 2`` in
    ``model.overrides`` for twice the heatmap resolution)."""
    if block not in LITE_BLOCKS:
        raise FacekdError(f"hrnet_lite block must be one of {LITE_BLOCKS}, got {block!r}")
    cfg = hrnet_slim(width, depth, num_keypoints)
    return dataclasses.replace(cfg, stage1_block=block, block=block, fuse="dwsep",
                               stem_width=min(32, cfg.stem_width), head_channels=2 * width)


def _hrnet_w32(k: int) -> HRNetConfig:  # teacher T1: HRNet-W32 body, high-resolution head
    return HRNetConfig(num_keypoints=k, width=32, stage_modules=(1, 4, 3), stage_blocks=(4, 4, 4), head="highres")


def _hrnetv2_w18(k: int) -> HRNetConfig:  # teacher T2: HRNetV2-W18 of the HRNet facial-landmark work
    return HRNetConfig(num_keypoints=k, width=18, stage_modules=(1, 4, 3), stage_blocks=(4, 4, 4), head="v2")


def _slim(w: int, d: int) -> Callable[[int], HRNetConfig]:
    return lambda k: hrnet_slim(w, d, k)


def _lite(w: int, d: int, block: str) -> Callable[[int], HRNetConfig]:
    return lambda k: hrnet_lite(w, d, block, k)


MODELS: dict[str, Callable[[int], Any]] = {
    "hrnet_w32": _hrnet_w32,
    "hrnetv2_w18": _hrnetv2_w18,
    "hrnet_slim_w16": _slim(16, 2),
    "hrnet_slim_w12": _slim(12, 2),
    "hrnet_slim_w8": _slim(8, 1),
    **{f"hrnet_slim_w{w}_d{d}": _slim(w, d) for w in SLIM_WIDTHS for d in SLIM_DEPTHS},
    **{f"hrnet_lite_{b}_w{w}_d{d}": _lite(w, d, b) for b in LITE_BLOCKS for w in LITE_WIDTHS for d in SLIM_DEPTHS},
    "mobilenetv2_heatmap": lambda k: MobileNetV2HeatmapConfig(num_keypoints=k),
    "pfld_regress": lambda k: PFLDConfig(num_keypoints=k),
}

TEACHERS = ("hrnet_w32", "hrnetv2_w18")
STUDENTS = ("hrnet_slim_w16", "hrnet_slim_w12", "hrnet_slim_w8")
BASELINES = ("mobilenetv2_heatmap", "pfld_regress")


def list_models() -> list[str]:
    return list(MODELS)


def model_config(name: str, num_keypoints: int, **overrides: Any):
    """The config of model ``name`` for ``num_keypoints`` points, with field ``overrides`` applied."""
    if name not in MODELS:
        raise FacekdError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    cfg = MODELS[name](int(num_keypoints))
    known = {f.name for f in dataclasses.fields(cfg)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise FacekdError(f"unknown override(s) {bad} for model {name!r}; fields: {sorted(known)}")
    return dataclasses.replace(cfg, **overrides) if overrides else cfg


def build_model(config: Any) -> nn.Module:
    """Build the module for a config object."""
    for cfg_type, cls in ARCHS.values():
        if isinstance(config, cfg_type):
            return cls(config)
    raise FacekdError(f"no model class for config type {type(config).__name__}")


def build_from_dict(arch: str, config: dict[str, Any]) -> nn.Module:
    """Rebuild a module from ``(arch, config dict)`` as stored in a model card."""
    if arch not in ARCHS:
        raise FacekdError(f"unknown model architecture {arch!r}; known: {sorted(ARCHS)}")
    cfg_type, cls = ARCHS[arch]
    return cls(cfg_type.from_dict(dict(config)))


def create_model(name: str, num_keypoints: int, **overrides: Any) -> nn.Module:
    """Create a named model (see :data:`MODELS`) with optional config field overrides."""
    model = build_model(model_config(name, num_keypoints, **overrides))
    model.model_name = name
    return model
