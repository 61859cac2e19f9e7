"""Export to ExecuTorch (.pte fp32/int8), CoreML and ONNX: delegation, embedded card, parity on
real ytf68/val crops, fail-loud behaviour. A tiny slim-HRNet student at 64 px keeps this quick."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
VAL = SHARED / "data" / "ytf68" / "val"
TRAIN = SHARED / "data" / "ytf68" / "train"
INPUT = 64
CARD_FIELDS = ("scheme", "num_keypoints", "input_size", "mean", "std", "pixel_format", "codec",
               "crop_scale", "flip_perm", "facekd_version", "training_data")


def tiny_student(num_keypoints: int, seed: int = 0) -> torch.nn.Module:
    """A 2-stage slim HRNet (it still has the nearest-upsampling fusion and the bilinear v2 head)
    with O(1) random outputs (Kaiming convs, non-trivial BN statistics)."""
    from facekd.models import create_model

    torch.manual_seed(seed)
    m = create_model("hrnet_slim_w8", num_keypoints, num_stages=2, stage_modules=(1,), stage_blocks=(1,))
    for mod in m.modules():
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
        elif isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


def save_tiny(path: Path, scheme_name: str = "ibug68") -> Path:
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for, save_model
    from facekd.schemes import get_scheme

    scheme = get_scheme(scheme_name)
    m = tiny_student(scheme.num_points)
    hm = m(torch.zeros(1, 3, INPUT, INPUT)).shape[-1]
    card = card_for(m, scheme=scheme, input_size=INPUT, codec=HeatmapCodec(INPUT, hm, 1.5, "dark"),
                    training_data="untrained (test)")
    save_model(path, m, card)
    return path


@pytest.fixture(scope="module")
def shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    return SHARED


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, shared):
    return save_tiny(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def pte_fp32(model_dir):
    from facekd.export import export_model

    logs: list[str] = []
    res = export_model(model_dir, "pte", parity_data=VAL, parity_faces=8, progress=False, log=logs.append)
    return res, logs


@pytest.fixture(scope="module")
def pte_int8(model_dir):
    from facekd.export import Tolerance, export_model

    logs: list[str] = []
    # Untrained weights: the int8 NME cost is reported, not judged (trained models use the default).
    res = export_model(model_dir, "pte", int8=True, parity_data=VAL, calib_data=TRAIN, parity_faces=8,
                       calib_faces=16, tolerance=Tolerance(None, 1e9, signed=True), progress=False,
                       log=logs.append)
    return res, logs


def _check_card(card: dict, model_dir: Path, fmt: str, precision: str) -> None:
    from facekd.card import ModelCard
    from facekd.export import split_exported_card

    for key in CARD_FIELDS:
        assert key in card, key
    original = ModelCard.read(model_dir / "model.json")
    restored, info = split_exported_card(card)
    assert restored.to_dict() == original.to_dict()
    assert info["format"] == fmt and info["precision"] == precision
    assert info["input"]["shape"] == [1, 3, INPUT, INPUT]
    assert card["scheme"]["name"] == "ibug68" and card["num_keypoints"] == card["scheme"]["num_points"]
    assert card["codec"]["heatmap_size"] == info["output"]["shape"][-1]


def test_pte_fp32_fully_delegated_and_matches_eager(pte_fp32, model_dir):
    res, logs = pte_fp32
    assert res.delegation.fully_delegated, res.delegation.summary()
    assert res.delegation.outside == []
    assert any("whole graph delegated to XNNPACK" in line for line in logs)
    p = res.parity
    assert p.faces == 8
    assert p.output_ref_max_abs > 0.1  # the check compares real signal, not zeros
    assert p.output_max_abs_diff <= 1e-3 * max(1.0, p.output_ref_max_abs)
    assert abs(p.nme_diff) <= 0.05 and p.point_max_diff_px < 0.05
    assert res.path == model_dir / "hrnet_slim_w8.pte" and res.path.is_file()
    assert res.size_bytes == res.path.stat().st_size


def test_pte_embeds_card_method_and_sidecar(pte_fp32, model_dir):
    from facekd.export import read_card
    from facekd.export.executorch import CARD_METHOD, PteModel

    res, _ = pte_fp32
    pte = PteModel(res.path)
    assert pte.method_names == {"forward", CARD_METHOD}
    card = read_card(res.path)
    assert card == res.card
    _check_card(card, model_dir, "executorch", "fp32")
    side = json.loads(res.sidecar.read_text())
    assert res.sidecar == res.path.with_suffix(".json")
    assert {k: v for k, v in side.items() if k not in ("parity", "delegation")} == card
    assert side["delegation"]["fully_delegated"] is True
    assert side["parity"]["faces"] == 8 and "tolerance" in side["parity"]


def test_pte_int8_delegated_quantized_and_reports_cost(pte_int8, pte_fp32, model_dir):
    res, logs = pte_int8
    fp32, _ = pte_fp32
    assert res.path.name == "hrnet_slim_w8_int8.pte"
    assert res.delegation.fully_delegated, res.delegation.summary()
    assert res.card["export"]["quantization"]["method"] == "pt2e"
    assert "16 of" in res.card["export"]["quantization"]["calibration"]
    _check_card(res.card, model_dir, "executorch", "int8")
    # int8 really quantizes: smaller file, outputs move away from fp32 ...
    assert res.size_bytes < 0.6 * fp32.size_bytes
    assert res.parity.output_max_abs_diff > 1e-4
    assert np.isfinite(res.parity.nme_diff)
    # ... while the lowered program matches the PT2E reference graph it was lowered from.
    low = res.lowering
    assert low.output_max_abs_diff <= 0.05 * max(1.0, low.output_ref_max_abs), low.summary()
    assert any("int8 lowering vs PT2E reference" in line for line in logs)


def test_onnx_export_card_and_parity(model_dir):
    from facekd.export import export_model, read_card
    from facekd.export.onnx import OnnxModel

    res = export_model(model_dir, "onnx", parity_data=VAL, parity_faces=8, progress=False, log=lambda s: None)
    assert res.path.suffix == ".onnx" and res.sidecar == res.path.with_name(res.path.name + ".json")
    assert res.parity.output_max_abs_diff <= 1e-3 * max(1.0, res.parity.output_ref_max_abs)
    assert abs(res.parity.nme_diff) <= 0.05
    _check_card(read_card(res.path), model_dir, "onnx", "fp32")
    m = OnnxModel(res.path)
    assert m.input_shape == (1, 3, INPUT, INPUT) and m.output_shape[:2] == (1, res.card["num_keypoints"])


def test_coreml_spec_metadata_and_mil_parity(model_dir):
    from facekd.export import export_model
    from facekd.export.coreml import inspect_mlpackage

    res = export_model(model_dir, "coreml", parity_data=VAL, parity_faces=4, progress=False,
                       log=lambda s: None)
    assert res.path.suffix == ".mlpackage" and res.path.is_dir()
    side = json.loads(res.sidecar.read_text())
    assert res.sidecar.name == "hrnet_slim_w8.mlpackage.json" and side["export"]["format"] == "coreml"
    assert "not the CoreML runtime" in side["parity"]["note"]
    info = inspect_mlpackage(res.path)
    assert (info.input_name, info.output_name) == ("image", "heatmaps")
    assert info.input_shape == (1, 3, INPUT, INPUT)
    assert info.output_shape == tuple(res.card["export"]["output"]["shape"])
    _check_card(info.card, model_dir, "coreml", "fp16")
    assert res.card["export"]["minimum_deployment_target"] == "iOS16"
    # the saved MIL program was evaluated (fp16 storage): close to eager, but not bit-identical
    assert res.parity is not None, res.parity_note
    assert 0 < res.parity.output_max_abs_diff <= 2e-2 * max(1.0, res.parity.output_ref_max_abs)


def test_failed_parity_writes_nothing_and_keeps_the_good_artifact(model_dir):
    from facekd.export import ParityError, Tolerance, export_model

    good = export_model(model_dir, "onnx", out=model_dir / "keep.onnx", parity_data=VAL, parity_faces=4,
                        progress=False, log=lambda s: None)
    before = (good.path.read_bytes(), good.sidecar.read_text())
    listing = sorted(p.name for p in model_dir.iterdir())
    with pytest.raises(ParityError) as e:
        export_model(model_dir, "onnx", out=good.path, parity_data=VAL, parity_faces=4, progress=False,
                     tolerance=Tolerance(output_rel=0.0, nme_diff=-1.0), log=lambda s: None)
    msg = str(e.value)
    assert "NME difference" in msg and "Nothing written" in msg and "4 faces" in msg
    assert (good.path.read_bytes(), good.sidecar.read_text()) == before
    assert sorted(p.name for p in model_dir.iterdir()) == listing  # no temporary left behind


def test_cli_export_and_user_errors(model_dir, tmp_path, capsys):
    from facekd.cli import main

    out = tmp_path / "cli.onnx"
    rc = main(["export", "--model", str(model_dir), "--to", "onnx", "--out", str(out), "--parity-data", str(VAL),
               "--parity-faces", "4", "--no-progress", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == str(out) and out.is_file() and (tmp_path / "cli.onnx.json").is_file()
    assert result["parity"]["faces"] == 4

    rc = main(["export", "--model", str(model_dir), "--to", "onnx", "--int8", "--parity-data", str(VAL)])
    assert rc == 2 and "--int8 is only available for --to pte" in capsys.readouterr().err
    rc = main(["export", "--model", str(tmp_path / "missing"), "--to", "pte", "--parity-data", str(VAL)])
    assert rc == 2 and "model not found" in capsys.readouterr().err
    rc = main(["export", "--model", str(model_dir), "--to", "onnx", "--out", str(tmp_path / "x.pte"),
               "--parity-data", str(VAL)])
    assert rc == 2 and "must end in .onnx" in capsys.readouterr().err


def test_nearest_upsampling_rewrite_is_exact_and_removes_the_op():
    from facekd.export.executorch import for_xnnpack

    m = tiny_student(5)
    x = torch.randn(1, 3, INPUT, INPUT)
    before = torch.export.export(m, (x,)).module()
    assert any("upsample_nearest2d" in str(n.target) for n in before.graph.nodes)
    gm = for_xnnpack(m, x)
    targets = [str(n.target) for n in gm.graph.nodes]
    assert not any("upsample_nearest2d" in t for t in targets)
    assert any("conv_transpose2d" in t for t in targets)
    with torch.no_grad():
        assert torch.equal(gm(x), m(x))


@pytest.mark.parametrize("channels,factor,groups", [(64, 2, 4), (20, 4, 2), (7, 2, 1), (3, 3, 1)])
def test_nearest_upsampling_rewrite_uses_grouped_not_depthwise_deconv(channels, factor, groups):
    """Depthwise transposed convs are XNNPACK's slow path (YuNet-s: 8.7 -> 5.5 ms with 16-channel
    groups): the rewrite groups at most 16 channels per group and stays exact."""
    from facekd.export.executorch import for_xnnpack

    class Up(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=factor, mode="nearest") * 2.0

    x = torch.randn(1, channels, 5, 6)
    gm = for_xnnpack(Up().eval(), x)
    deconvs = [n for n in gm.graph.nodes if "conv_transpose2d" in str(n.target)]
    assert len(deconvs) == 1 and deconvs[0].args[6] == groups
    weight = getattr(gm, deconvs[0].args[1].target)
    assert tuple(weight.shape) == (channels, channels // groups, factor, factor)
    with torch.no_grad():
        assert torch.equal(gm(x), Up()(x))


def test_delegation_report_names_ops_left_outside_xnnpack():
    from facekd.export.executorch import lower_to_pte

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Conv2d(3, 4, 3, 2, 1), torch.nn.Conv2d(4, 2, 1)

        def forward(self, x):
            return self.b(torch.nn.functional.interpolate(self.a(x), scale_factor=2, mode="nearest"))

    net, x = Net().eval(), torch.randn(1, 3, 16, 16)
    raw = torch.export.export(net, (x,)).module()  # a graph module skips the rewrite
    _, report = lower_to_pte(raw, x, "{}")
    assert not report.fully_delegated and report.delegate_calls == 2
    assert report.outside == ["aten.upsample_nearest2d.vec"]
    assert "1 op(s) outside the delegate: aten.upsample_nearest2d.vec x1" in report.summary()
    _, report = lower_to_pte(net, x, "{}")
    assert report.fully_delegated and report.delegate_calls == 1
