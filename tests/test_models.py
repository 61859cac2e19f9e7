"""Model family: registry, shapes, feature taps, export, card + save/load, report."""

from __future__ import annotations

import json

import pytest
import torch
from facekd.card import ModelCard
from facekd.errors import FacekdError
from facekd.models import (
    BASELINES,
    MODELS,
    STUDENTS,
    TEACHERS,
    HRNetConfig,
    card_for,
    count_flops,
    count_params,
    create_model,
    decode_output,
    hrnet_slim,
    image_to_coords,
    init_from_file,
    load_model,
    model_config,
    save_model,
)
from facekd.schemes import get_scheme

K = 7  # any point count works; nothing below assumes a scheme's count


def _run(model, size=64, n=1):
    torch.manual_seed(0)
    return model.eval()(torch.randn(n, 3, size, size))


def test_registry_has_the_families():
    for name in (*TEACHERS, *STUDENTS, *BASELINES):
        assert name in MODELS
    assert "hrnet_slim_w12_d2" in MODELS and "hrnet_slim_w8_d3" in MODELS
    with pytest.raises(FacekdError, match="unknown model 'nope'"):
        create_model("nope", K)
    with pytest.raises(FacekdError, match="unknown override"):
        create_model("hrnet_slim_w8", K, depth=3)


def test_teacher_configs_match_the_literature():
    t1 = model_config("hrnet_w32", K)
    assert (t1.width, t1.num_stages, t1.head, t1.stage_modules, t1.stage_blocks) == (32, 4, "highres", (1, 4, 3), (4, 4, 4))
    assert t1.branch_widths(4) == [32, 64, 128, 256]
    t2 = model_config("hrnetv2_w18", 98)
    assert t2.branch_widths(4) == [18, 36, 72, 144] and t2.head == "v2"
    # HRNetV2-W18 for WFLW is published at ~9.3-9.7 M parameters; HRNet-W32 (pose) at 28.5 M.
    assert 9.0e6 < count_params(create_model("hrnetv2_w18", 98)) < 10.0e6
    assert 28.0e6 < count_params(create_model("hrnet_w32", 17)) < 29.0e6


@pytest.mark.parametrize("name", [*STUDENTS, "hrnet_slim_w10_d3", "mobilenetv2_heatmap"])
def test_heatmaps_at_stride_4(name):
    for size in (64, 96):
        y = _run(create_model(name, K), size)
        assert y.shape == (1, K, size // 4, size // 4)


def test_pfld_outputs_coordinates():
    m = create_model("pfld_regress", K)
    assert m.output_type == "coords"
    y = _run(m, 64, n=2)
    assert y.shape == (2, K, 2)
    # initialised at the crop centre: 0.5 in crop-normalised units
    assert torch.allclose(y, torch.full_like(y, 0.5))
    assert create_model("hrnet_slim_w8", K).output_type == "heatmap"


@pytest.mark.parametrize("name", ["hrnet_slim_w8", "hrnet_slim_w12_d3", "hrnet_w32", "hrnetv2_w18",
                                  "mobilenetv2_heatmap", "pfld_regress"])
def test_feature_info_matches_forward_features(name):
    m = create_model(name, K).eval()
    info = m.feature_info  # no forward pass needed
    size = 32  # the smallest input with a whole pixel at stride 32
    with torch.no_grad():
        feats = m.forward_features(torch.randn(1, 3, size, size))
        assert set(feats) == {i["name"] for i in info}
        for i in info:
            t = feats[i["name"]]
            if i["stride"]:
                assert t.shape[1] == i["channels"], i
                assert t.shape[-1] == size // i["stride"], i
        out = m(torch.randn(1, 3, size, size), return_features=True)
        assert set(out) == set(feats)


def test_slim_family_grows_with_width_and_depth():
    p = {(w, d): count_params(create_model(f"hrnet_slim_w{w}_d{d}", K)) for w in (8, 12, 16) for d in (1, 2, 3)}
    for d in (1, 2, 3):
        assert p[(8, d)] < p[(12, d)] < p[(16, d)]
    for w in (8, 12, 16):
        assert p[(w, 1)] < p[(w, 2)] < p[(w, 3)]
    assert hrnet_slim(12, 1, K).num_stages == 3 and hrnet_slim(12, 2, K).num_stages == 4
    with pytest.raises(FacekdError, match="depth"):
        hrnet_slim(12, 5, K)


def test_config_validation_names_the_problem():
    with pytest.raises(FacekdError, match="stage_modules and stage_blocks need 2 entries"):
        HRNetConfig(num_keypoints=K, num_stages=3, stage_modules=(1, 1, 1), stage_blocks=(2, 2))
    with pytest.raises(FacekdError, match="head must be"):
        HRNetConfig(num_keypoints=K, head="fancy")
    with pytest.raises(FacekdError, match="num_keypoints"):
        HRNetConfig(num_keypoints=0)


def test_channels_last_gives_the_same_output():
    m = create_model("hrnet_slim_w8_d2", K).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a = m(x)
        m.to(memory_format=torch.channels_last)
        b = m(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_student_exports_with_torch_export():
    m = create_model("hrnet_slim_w8", K).eval()
    x = torch.randn(1, 3, 128, 128)
    ep = torch.export.export(m, (x,))
    with torch.no_grad():
        torch.testing.assert_close(ep.module()(x), m(x), rtol=1e-4, atol=1e-5)


def test_flop_count_matches_a_hand_count():
    # hrnet_slim_w8's final 1x1 conv alone: 2 * K * hidden * h * w FLOPs (+ bias); the whole model is
    # dominated by convs, so check the total against a direct sum over its conv layers.
    m = create_model("hrnet_slim_w8", K).eval()
    flops, shape = count_flops(m, 64)
    convs = []
    hooks = [mod.register_forward_hook(lambda mod, i, o: convs.append(
        2 * o.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]))
        for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    with torch.no_grad():
        m(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert shape == (1, K, 16, 16)
    assert flops >= sum(convs) and flops < 1.05 * sum(convs)


# -- cards, save / load --------------------------------------------------------------------------

def _card(model, scheme=None, size=64):
    from facekd.codecs import HeatmapCodec

    scheme = scheme or get_scheme("ibug68")
    return card_for(model, scheme=scheme, input_size=size, codec=HeatmapCodec(size, size // 4, 1.5),
                    training_data="unit test")


def test_save_load_round_trip(tmp_path):
    scheme = get_scheme("ibug68")
    m = create_model("hrnet_slim_w8", scheme.num_points)
    with torch.no_grad():  # make BN statistics non-trivial
        m.train()(torch.randn(4, 3, 64, 64))
    card = _card(m, scheme)
    st = save_model(tmp_path / "m", m, card)
    assert st == tmp_path / "m" / "model.safetensors" and (tmp_path / "m" / "model.json").is_file()
    j = json.loads((tmp_path / "m" / "model.json").read_text())
    assert j["num_keypoints"] == scheme.num_points and j["flip_perm"] == list(scheme.flip_perm)
    assert j["scheme"]["name"] == "ibug68" and j["pixel_format"] == "RGB" and j["output_type"] == "heatmap"
    x = torch.randn(1, 3, 64, 64)
    want = m.eval()(x)
    for path in (tmp_path / "m", st, tmp_path / "m" / "model.json"):
        loaded, c2 = load_model(path)
        assert not loaded.training and c2 == card
        torch.testing.assert_close(loaded(x), want, rtol=0, atol=0)
    # the .safetensors alone carries the card in its header
    (tmp_path / "m" / "model.json").unlink()
    loaded, c3 = load_model(st)
    assert c3.to_dict() == card.to_dict()
    # prefix form
    p = save_model(tmp_path / "flat" / "best.safetensors", m, card)
    assert p.name == "best.safetensors" and (tmp_path / "flat" / "best.json").is_file()
    assert not list(tmp_path.rglob("*.tmp"))


def test_custom_scheme_travels_in_the_card(tmp_path):
    from facekd.schemes import LandmarkScheme

    sch = LandmarkScheme(name="five", num_points=5, flip_perm=(1, 0, 2, 4, 3), eye_corners=(0, 1))
    m = create_model("hrnet_slim_w8", 5)
    save_model(tmp_path, m, _card(m, sch))
    _, card = load_model(tmp_path)
    assert card.get_scheme() == sch and card.flip_perm == [1, 0, 2, 4, 3]


def test_load_rejects_weights_of_another_architecture(tmp_path):
    from facekd.models.io import state_dict_for_saving
    from safetensors.torch import save_file

    s68 = get_scheme("ibug68")
    m68 = create_model("hrnet_slim_w8", s68.num_points)
    save_model(tmp_path, m68, _card(m68, s68))
    other = create_model("hrnet_slim_w8", get_scheme("wflw98").num_points)
    save_file(state_dict_for_saving(other), str(tmp_path / "model.safetensors"))
    with pytest.raises(FacekdError, match=r"has 98 keypoints, card says 68"):
        load_model(tmp_path)
    wider = create_model("hrnet_slim_w12", s68.num_points)
    save_file(state_dict_for_saving(wider), str(tmp_path / "model.safetensors"))
    with pytest.raises(FacekdError, match="do not match the card's architecture 'hrnet_slim_w8'.*shape mismatch"):
        load_model(tmp_path)
    with pytest.raises(FacekdError, match="do not match"):
        save_model(tmp_path / "x", wider, _card(m68, s68))
    with pytest.raises(FacekdError, match="model not found"):
        load_model(tmp_path / "missing")


def test_card_validation():
    m = create_model("hrnet_slim_w8", 68)
    d = _card(m).to_dict()
    assert ModelCard.from_dict(d).to_dict() == d
    with pytest.raises(FacekdError, match="unknown field"):
        ModelCard.from_dict({**d, "colour": "blue"})
    with pytest.raises(FacekdError, match="missing field"):
        ModelCard.from_dict({k: v for k, v in d.items() if k != "input_size"})
    with pytest.raises(FacekdError, match="config has 68 keypoints, card says 98"):
        ModelCard.from_dict({**d, "num_keypoints": 98})
    with pytest.raises(FacekdError, match="invalid model card JSON"):
        ModelCard.from_json("{not json")
    for name, value in (("turn_threshold", 0.56), ("loss_threshold", 0.45)):
        assert name not in d  # absent unless measured (consumers use 0.4 / 0.3)
        t = ModelCard.from_dict({**d, name: value})
        assert getattr(t, name) == value and ModelCard.from_json(t.to_json()).to_dict()[name] == value
        for bad in (-0.1, float("nan"), "0.5", True):
            with pytest.raises(FacekdError, match=name):
                ModelCard.from_dict({**d, name: bad})


def test_init_from_file_copies_matching_tensors(tmp_path):
    from facekd.models.io import state_dict_for_saving
    from safetensors.torch import save_file

    src = create_model("hrnet_slim_w8", 98)
    save_file(state_dict_for_saving(src), str(tmp_path / "w.safetensors"))
    dst = create_model("hrnet_slim_w8", 68)
    counts = init_from_file(dst, tmp_path / "w.safetensors")
    assert counts["skipped"] == 2  # final conv weight + bias differ in shape (98 vs 68 maps)
    torch.testing.assert_close(dst.stem[0].weight, src.stem[0].weight)
    with pytest.raises(FacekdError, match="do not fit"):
        init_from_file(dst, tmp_path / "w.safetensors", strict=True)


def test_decode_output_for_coordinates():
    a = torch.tensor([[[2.0, 0.1, 10.0], [-0.1, 2.0, 20.0]]])  # crop -> image, rotated and scaled
    pts = torch.tensor([[[15.0, 30.0], [40.0, 25.5]]])
    c = image_to_coords(pts, a, 64)
    back, scores = decode_output(c, "coords", a, input_size=64)
    torch.testing.assert_close(back, pts, rtol=1e-5, atol=1e-4)
    assert scores.shape == (1, 2)


def test_models_command(capsys):
    from facekd.cli import main

    assert main(["models", "--names", "hrnet_slim_w8", "pfld_regress", "--no-latency", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in out["models"]}
    assert rows["pfld_regress"]["output"] == "coords" and rows["hrnet_slim_w8"]["gflops"] > 0
    assert rows["hrnet_slim_w8"]["output_shape"] == [1, out["keypoints"], 32, 32]
    assert main(["models", "--names", "hrnet_slim_w8", "--runs", "2"]) == 0
    table = capsys.readouterr().out
    assert "hrnet_slim_w8" in table and "latency" in table
    assert main(["models", "--names", "bogus"]) == 2
