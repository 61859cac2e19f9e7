"""Landmark models: the HRNet family (teachers + slim students) and two baselines.

``create_model(name, num_keypoints, **overrides)``; every model has ``forward(x)`` (heatmaps
[N,K,h,w] or, for ``output_type == "coords"``, coordinates [N,K,2]), ``forward_features(x)`` (a dict
of taps plus the output) and ``feature_info`` (name / channels / stride of each tap, no run needed).
"""

from facekd.models.hrnet import HRNet, HRNetConfig
from facekd.models.io import (DEFAULT_MODEL, card_for, check_weights, default_model_path, init_from_file,
                              load_model, resolve_model, save_model)
from facekd.models.mobilenet import MobileNetV2Heatmap, MobileNetV2HeatmapConfig, PFLDConfig, PFLDRegress
from facekd.models.outputs import coords_to_image, decode_output, image_to_coords
from facekd.models.registry import (
                                    BASELINES,
                                    MODELS,
                                    STUDENTS,
                                    TEACHERS,
                                    build_from_dict,
                                    build_model,
                                    create_model,
                                    hrnet_lite,
                                    hrnet_slim,
                                    list_models,
                                    model_config,
)
from facekd.models.report import ModelReport, count_flops, count_params, cpu_latency_ms, model_report

__all__ = [
    "HRNet", "HRNetConfig", "MobileNetV2Heatmap", "MobileNetV2HeatmapConfig", "PFLDConfig", "PFLDRegress",
    "MODELS", "TEACHERS", "STUDENTS", "BASELINES", "create_model", "hrnet_slim", "hrnet_lite", "list_models",
    "model_config", "build_model", "build_from_dict", "load_model", "save_model", "card_for",
    "check_weights", "init_from_file", "DEFAULT_MODEL", "default_model_path", "resolve_model",
    "decode_output", "coords_to_image", "image_to_coords",
    "ModelReport", "model_report", "count_params", "count_flops", "cpu_latency_ms",
]
