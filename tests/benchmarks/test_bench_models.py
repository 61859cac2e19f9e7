"""Per-face model latency, single-threaded: eager PyTorch vs ExecuTorch fp32 vs ExecuTorch int8
(XNNPACK), for the two teachers and the default student, plus the crop and decode kernels of the
same pipeline, in one pytest-benchmark run (no timed assertions):

    PYTHONPATH=python python -m pytest tests/benchmarks/test_bench_models.py --benchmark-enable \
        --benchmark-columns=min,median,mean,rounds --benchmark-sort=fullname \
        --benchmark-json=bench_models.json

Input 256 px, the 68-point iBUG scheme, untrained weights (latency does not depend on them).
int8 is calibrated on ytf68/train crops. Each benchmark's extra_info carries params, FLOPs and the .pte size.
Without --benchmark-enable (the default) the eager and kernel cases run once as a smoke test and
the ExecuTorch cases are skipped (lowering the teachers takes minutes). Results: docs/benchmarks.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MODELS = ("hrnet_w32", "hrnetv2_w18", "hrnet_slim_w16")
RUNTIMES = ("eager", "executorch_fp32", "executorch_int8")
INPUT = 256
SCHEME = "ibug68"
CALIB_FACES = 32
ROUNDS = 20


@pytest.fixture(scope="module")
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    return SHARED


@pytest.fixture(scope="module")
def card_for_scheme():
    from facekd.card import ModelCard
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for
    from facekd.schemes import get_scheme

    def make(model) -> ModelCard:
        return card_for(model, scheme=get_scheme(SCHEME), input_size=INPUT,
                        codec=HeatmapCodec(INPUT, INPUT // 4, 1.5, "dark"))
    return make


@pytest.fixture(scope="module")
def calib(shared, card_for_scheme):
    from facekd.export.parity import load_face_crops
    from facekd.models import create_model
    from facekd.schemes import get_scheme

    card = card_for_scheme(create_model(MODELS[-1], get_scheme(SCHEME).num_points))
    return load_face_crops(shared / "data" / "ytf68" / "train", card, CALIB_FACES, progress=False)


_LOWERED: dict[tuple[str, str], bytes] = {}


def _program(name: str, runtime: str, model, calib) -> bytes:
    from facekd.export.executorch import lower_to_pte, quantize_int8

    key = (name, runtime)
    if key not in _LOWERED:
        example = calib.crops[:1]
        m = model
        if runtime == "executorch_int8":
            m = quantize_int8(model, example, (calib.crops[i:i + 1] for i in range(len(calib))))
        program, report = lower_to_pte(m, example, json.dumps({"model": name}))
        assert report.fully_delegated, report.summary()
        _LOWERED[key] = program
    return _LOWERED[key]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", MODELS)
def test_bench_model(benchmark, single_thread, calib, name, runtime):
    from facekd.export.executorch import PteModel, set_num_threads
    from facekd.models import count_flops, count_params, create_model
    from facekd.schemes import get_scheme

    torch.manual_seed(0)
    model = create_model(name, get_scheme(SCHEME).num_points).eval()
    x = calib.crops[:1].contiguous()
    benchmark.group = name
    flops, out_shape = count_flops(model, INPUT)
    benchmark.extra_info.update({"model": name, "runtime": runtime, "input": INPUT,
                                 "params": count_params(model), "flops": flops, "threads": 1})
    if runtime == "eager":
        def run():
            with torch.inference_mode():
                return model(x)
    else:
        if not benchmark.enabled:
            pytest.skip("ExecuTorch latency runs with --benchmark-enable (lowering takes minutes)")
        program = _program(name, runtime, model, calib)
        benchmark.extra_info["pte_bytes"] = len(program)
        set_num_threads(1)
        pte = PteModel(program)

        def run():
            return pte(x)
    out = benchmark.pedantic(run, rounds=ROUNDS if benchmark.enabled else 1, iterations=1,
                             warmup_rounds=2 if benchmark.enabled else 0)
    assert tuple(out.shape) == out_shape


def test_bench_crop_kernel(benchmark, shared):
    from facekd import kernels
    from facekd.data import load_dataset

    item = load_dataset(shared / "data" / "ytf68" / "val")[0]
    benchmark.group = "kernels"
    crop, _ = benchmark(kernels.crop_box, item["image"], item["box"], INPUT, scale=1.25)
    assert crop.shape == (3, INPUT, INPUT)


@pytest.mark.parametrize("mode", ("argmax", "dark"))
def test_bench_decode_kernel(benchmark, mode):
    from facekd.codecs import HeatmapCodec

    codec = HeatmapCodec(INPUT, INPUT // 4, 1.5, mode)
    rng = np.random.default_rng(0)
    from facekd.schemes import get_scheme

    pts = rng.uniform(8, INPUT - 8, (get_scheme(SCHEME).num_points, 2)).astype(np.float32)
    heatmaps = codec.encode(pts)[0][None]
    affine = np.array([[1.5, 0, 10], [0, 1.5, 20]], np.float32)
    benchmark.group = "kernels"
    got, _ = benchmark(codec.decode, heatmaps, affine)
    expected = pts @ affine[:, :2].T + affine[:, 2]
    crop_px = 0.75 if mode == "dark" else 2.0  # sub-pixel vs quarter-pixel decoding of a 4x map
    assert np.abs(got[0] - expected).max() < crop_px * 1.5
