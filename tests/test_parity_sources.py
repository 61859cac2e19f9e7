"""Parity over several val sets: per-dataset NME before / after and the change of their mean, in pp."""

from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
pytestmark = pytest.mark.skipif(not (SHARED / "helen_afw" / "val").is_dir(), reason="../shared not found")


def test_parity_reports_each_val_set_and_the_change_of_their_mean():
    from facekd.codecs import HeatmapCodec
    from facekd.export.parity import compare, load_face_crops, run_model
    from facekd.models import card_for, create_model
    from facekd.schemes import get_scheme

    scheme = get_scheme("ibug68")
    torch.manual_seed(0)
    m = create_model("hrnet_slim_w8_d1", scheme.num_points).eval()
    card = card_for(m, scheme=scheme, input_size=64, codec=HeatmapCodec(64, 16, 1.0))
    faces = load_face_crops([SHARED / "ytf68" / "val", SHARED / "helen_afw" / "val"], card, 3, progress=False)
    assert len(faces) == 6 and [g[0] for g in faces.groups] == ["ytf68/val", "helen_afw/val"]
    ref = run_model(m, faces.crops)
    cand = ref.clone()
    cand[3:] = torch.roll(cand[3:], shifts=3, dims=-1)  # damage the helen_afw faces only
    r = compare(ref, cand, faces, card)
    assert set(r.per_source) == {"ytf68/val", "helen_afw/val"}
    assert r.per_source["ytf68/val"]["nme_diff"] == pytest.approx(0.0, abs=1e-9)
    assert r.per_source["helen_afw/val"]["nme_diff"] != 0.0
    mean_diff = sum(v["nme_diff"] for v in r.per_source.values()) / 2
    assert r.nme_diff == pytest.approx(mean_diff)
    assert "helen_afw/val" in r.summary() and "mean NME" in r.summary()
    one = load_face_crops(SHARED / "ytf68" / "val", card, 3, progress=False)
    r1 = compare(ref[:3], ref[:3], one, card)
    assert r1.nme_diff == 0.0 and len(r1.per_source) == 1
