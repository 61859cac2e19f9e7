"""facekd vs dlib, per face, one thread, same faces, same run: crop + inference + decode for eager
PyTorch, the ExecuTorch fp32 program and the int8 program (PT2E, XNNPACK; both fully delegated,
asserted), against dlib's 68-point shape predictor (its own per-face work on the same image and face):

    PYTHONPATH=python python -m pytest tests/benchmarks/test_bench_vs_dlib.py --benchmark-enable \
        --benchmark-columns=min,median,rounds --benchmark-sort=fullname -s

Models: the bundled default (when present) and every candidate config under configs/candidates/
(model, input and heatmap size from the YAML; untrained weights — latency does not depend on them).
Faces: FACES faces of ytf68/test with their dataset boxes. One benchmark round = all faces; the
per-face times and the ratio to dlib (min and median rounds) are printed at the end of the module and
written to ``$FACEKD_BENCH_OUT`` (default ``bench_vs_dlib.md``). Without --benchmark-enable the
eager and dlib cases run once on two faces as a smoke test; the ExecuTorch cases need it (lowering
takes a while). dlib: ``pip install 'facekd[peers]'`` (skipped with the reason when absent).
Results: docs/benchmarks.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
FACES = 32
ROUNDS = 20
CANDIDATES = sorted((REPO / "configs" / "candidates").glob("*.yaml"))
RUNTIMES = ("eager", "executorch_fp32", "executorch_int8")
_RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def faces():
    data = SHARED / "data" / "ytf68" / "test"
    if not data.is_dir():
        pytest.skip(f"{data} not found")
    from facekd.export.latency import load_faces

    return load_faces(data, FACES)


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_table():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from facekd.export.executorch import set_num_threads

        set_num_threads(1)
    except ImportError:
        pass
    yield
    torch.set_num_threads(before)
    if _RESULTS:
        _write_table()


def _write_table() -> None:
    dl = _RESULTS.get("dlib")
    load = os.getloadavg()
    lines = [f"per-face ms, crop + inference + decode, 1 thread, {FACES} ytf68/test faces; load average "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}", "",
             "| case | params (M) | min | median | x dlib (min) | x dlib (median) |", "|---|---|---|---|---|---|"]
    for case, r in sorted(_RESULTS.items()):
        ratio = (f"{r['min'] / dl['min']:.2f} | {r['median'] / dl['median']:.2f}" if dl else "– | –")
        params = f"{r['params'] / 1e6:.3f}" if r.get("params") else "–"
        lines.append(f"| {case} | {params} | {r['min']:.3f} | {r['median']:.3f} | {ratio} |")
    text = "\n".join(lines) + "\n"
    Path(os.environ.get("FACEKD_BENCH_OUT", "bench_vs_dlib.md")).write_text(text, encoding="utf-8")
    print("\n" + text)


def _models():
    out = []
    from facekd.api import default_model_path

    if default_model_path() is not None:
        out.append(pytest.param("default", id="default"))
    out += [pytest.param(p, id=p.stem) for p in CANDIDATES]
    return out


def _load(which):
    from facekd.commands.candidates import _card, _num_points
    from facekd.config import load_config
    from facekd.models import create_model, load_model

    if which == "default":
        from facekd.api import default_model_path

        return load_model(default_model_path())
    cfg = load_config(which)
    module = create_model(cfg.model.name, _num_points(cfg), **cfg.model.overrides).eval()
    module.model_name = cfg.model.name
    return module, _card(module, cfg)


def _record(benchmark, case: str, n_faces: int, params: int | None) -> None:
    if benchmark.enabled and benchmark.stats is not None:
        st = benchmark.stats.stats
        _RESULTS[case] = {"min": st.min * 1e3 / n_faces, "median": st.median * 1e3 / n_faces, "params": params}
        benchmark.extra_info.update(per_face_min_ms=_RESULTS[case]["min"],
                                    per_face_median_ms=_RESULTS[case]["median"])


def _bench(benchmark, run, faces):
    n = len(faces) if benchmark.enabled else 2
    sub = faces[:n]

    def one_round():
        return [run(f) for f in sub]
    return benchmark.pedantic(one_round, rounds=ROUNDS if benchmark.enabled else 1, iterations=1,
                              warmup_rounds=2 if benchmark.enabled else 0), n


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("which", _models())
def test_bench_facekd_per_face(benchmark, faces, which, runtime):
    from facekd.export.latency import calibration_crops, eager_infer, fp32_program, int8_program, pipeline
    from facekd.models import count_params

    module, card = _load(which)
    label = "default" if which == "default" else Path(which).stem
    benchmark.group = "per-face vs dlib"
    benchmark.extra_info.update(model=card.model, input=card.input_size, runtime=runtime, threads=1,
                                params=count_params(module))
    if runtime == "eager":
        infer = eager_infer(module)
    else:
        if not benchmark.enabled:
            pytest.skip("ExecuTorch cases run with --benchmark-enable (lowering takes a while)")
        from facekd.export.executorch import PteModel

        # int8_program / fp32_program raise unless the whole graph is one XNNPACK delegate call
        program = (int8_program(module, card.input_size, calibration_crops(faces, card))
                   if runtime == "executorch_int8" else fp32_program(module, card.input_size))
        benchmark.extra_info["pte_bytes"] = len(program)
        infer = PteModel(program)
    out, n = _bench(benchmark, pipeline(infer, card), faces)
    assert len(out) == n and out[0].shape == (card.num_keypoints, 2) and all(torch.isfinite(torch.as_tensor(p)).all()
                                                                           for p in out)
    _record(benchmark, f"{label} {runtime}", n, count_params(module))


def test_bench_dlib_per_face(benchmark, faces):
    from facekd.peers import dlib_unavailable

    why = dlib_unavailable()
    if why:
        pytest.skip(why)
    from facekd.export.latency import dlib_runner

    benchmark.group = "per-face vs dlib"
    benchmark.extra_info.update(model="dlib shape_predictor_68_face_landmarks", threads=1)
    out, n = _bench(benchmark, dlib_runner(), faces)
    assert len(out) == n and out[0].shape == (68, 2)
    _record(benchmark, "dlib", n, None)
