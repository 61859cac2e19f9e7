"""Model size and speed: parameters, FLOPs (``FlopCounterMode``) and single-thread CPU latency."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ModelReport:
    name: str
    params: int
    flops: int  # multiply-add = 2 FLOPs, at batch 1 and the given input size
    latency_ms: float | None  # median, fp32, batch 1, one thread
    output_shape: tuple[int, ...]
    output_type: str


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_size: int) -> tuple[int, tuple[int, ...]]:
    """FLOPs of one forward pass at batch 1 (``torch.utils.flop_counter``) and the output shape."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, input_size, input_size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = model(x)
    model.train(was_training)
    return int(counter.get_total_flops()), tuple(y.shape)


def cpu_latency_ms(model: nn.Module, input_size: int, runs: int = 10, warmup: int = 3) -> float:
    """Median CPU latency in ms: fp32, batch 1, ``torch.set_num_threads(1)``."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    was_training = model.training
    model.eval()
    x = torch.randn(1, 3, input_size, input_size)
    try:
        times = []
        with torch.inference_mode():
            for i in range(warmup + runs):
                t0 = time.perf_counter()
                model(x)
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    finally:
        torch.set_num_threads(prev)
        model.train(was_training)


def model_report(name: str, num_keypoints: int, input_size: int = 128, latency: bool = True,
                 runs: int = 10) -> ModelReport:
    from facekd.models.registry import create_model

    model = create_model(name, num_keypoints)
    flops, shape = count_flops(model, input_size)
    lat = cpu_latency_ms(model, input_size, runs=runs) if latency else None
    return ModelReport(name, count_params(model), flops, lat, shape, model.output_type)
