"""The lightweight HRNet design space: block types, depthwise-separable fusion, stride-2 heatmaps, and
the int8 XNNPACK lowering the shipped student depends on (one delegate call, asserted)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from facekd.errors import FacekdError
from facekd.models import (
    MODELS,
    HRNetConfig,
    build_model,
    count_flops,
    count_params,
    create_model,
    hrnet_lite,
    hrnet_slim,
    load_model,
    model_config,
    save_model,
)

K = 5  # any point count


@pytest.mark.parametrize("block", ["dwsep", "shuffle"])
def test_lite_blocks_cut_params_and_flops_keep_shapes(block):
    torch.manual_seed(0)
    basic = create_model("hrnet_slim_w16_d2", K).eval()
    lite = create_model(f"hrnet_lite_{block}_w16_d2", K).eval()
    x = torch.randn(2, 3, 96, 96)
    assert lite(x).shape == basic(x).shape == (2, K, 24, 24)
    assert count_params(lite) < 0.5 * count_params(basic)
    assert count_flops(lite, 96)[0] < 0.6 * count_flops(basic, 96)[0]
    # a lite unit is really in every HR module and in the fusion
    kinds = {type(m).__name__ for m in lite.stages.modules()}
    assert {"DWSepBlock" if block == "dwsep" else "ShuffleBlock"} <= kinds and "BasicBlock" not in kinds
    assert all(m.groups == 1 or m.groups == m.in_channels for m in lite.modules() if isinstance(m, torch.nn.Conv2d))


def test_shuffle_block_mixes_both_halves():
    from facekd.models.hrnet import ShuffleBlock

    torch.manual_seed(0)
    blk = ShuffleBlock(8, 8).eval()
    x = torch.randn(1, 8, 6, 6)
    y = blk(x)
    # channel shuffle: the untouched half lands on the even channels
    assert torch.equal(y[:, 0::2], x[:, :4])
    assert not torch.allclose(y[:, 1::2], x[:, 4:])
    down = ShuffleBlock(6, 8)  # cin != cout: both halves computed from the whole input
    assert down(torch.randn(1, 6, 6, 6)).shape == (1, 8, 6, 6)


def test_heatmap_stride_2_doubles_heatmaps_and_roundtrips(tmp_path):
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for
    from facekd.schemes import get_scheme

    m = create_model("hrnet_lite_shuffle_w16_d1", K, heatmap_stride=2).eval()
    x = torch.randn(1, 3, 96, 96)
    assert m(x).shape == (1, K, 48, 48)
    assert m.feature_info[-1] == {"name": "heatmaps", "channels": K, "stride": 2}
    scheme = get_scheme("ibug68")
    m68 = create_model("hrnet_slim_w8_d1", scheme.num_points, heatmap_stride=2)
    save_model(tmp_path / "m", m68, card_for(m68, scheme=scheme, input_size=96, codec=HeatmapCodec(96, 48, 1.5)))
    back, card = load_model(tmp_path / "m")
    assert back.config.heatmap_stride == 2 and torch.allclose(back(x), m68.eval()(x))


def test_bad_design_fields_are_one_clear_error():
    base = hrnet_slim(12, 1, K)
    for field, value, text in (("block", "mbv3", "block must be one of"), ("fuse", "pool", "fuse must be"),
                               ("heatmap_stride", 8, "heatmap_stride must be 2 or 4")):
        with pytest.raises(FacekdError, match=text):
            dataclasses.replace(base, **{field: value})
    with pytest.raises(FacekdError, match="must be even"):
        HRNetConfig.from_dict({**base.to_dict(), "width": 7, "block": "shuffle"})
    with pytest.raises(FacekdError, match="block must be one of"):
        hrnet_lite(16, 1, "basic", K)
    assert all(n in MODELS for n in ("hrnet_lite_shuffle_w24_d2", "hrnet_lite_dwsep_w32_d3"))


def _int8_delegation(name: str, size: int, **overrides):
    from facekd.export.executorch import delegation_report, for_xnnpack, lower_to_pte, quantize_int8

    torch.manual_seed(0)
    m = build_model(model_config(name, 68, **overrides)).eval()
    x = torch.randn(1, 3, size, size)
    q = quantize_int8(m, x, [torch.randn(1, 3, size, size) for _ in range(2)])
    program, report = lower_to_pte(q, x, "{}")
    return m, x, program, report


@pytest.mark.slow
def test_lite_int8_program_is_one_xnnpack_call_and_matches_eager():
    pytest.importorskip("executorch")
    from facekd.export.executorch import PteModel

    # the shuffle unit (slices, concat, transpose), dwsep fusion and the sub-pixel head all stay inside
    m, x, program, report = _int8_delegation("hrnet_lite_shuffle_w16_d2", 96, heatmap_stride=2)
    assert report.fully_delegated, report.summary()
    assert report.delegate_calls == 1
    out = PteModel(program)(x)
    ref = m(x)
    assert out.shape == ref.shape == (1, 68, 48, 48)
    assert torch.isfinite(out).all()


def test_int8_program_refuses_a_graph_left_outside_the_delegate():
    pytest.importorskip("executorch")
    from facekd.export.latency import int8_program

    class Split(torch.nn.Module):  # chunk -> split_with_sizes_copy: not taken by XNNPACK
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)

        def forward(self, x):
            a, b = self.conv(x).chunk(2, dim=1)
            return a * b

    with pytest.raises(FacekdError, match="NOT fully delegated"):
        int8_program(Split().eval(), 16, [torch.randn(1, 3, 16, 16)])
