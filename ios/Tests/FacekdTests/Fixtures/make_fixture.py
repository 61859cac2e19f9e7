"""Regenerate model_card.json: a card exactly as the Python package writes it, read by the Swift
and Kotlin card tests. Run from the repo root: PYTHONPATH=python python ios/Tests/FacekdTests/Fixtures/make_fixture.py
"""

from pathlib import Path

from facekd.card import ModelCard
from facekd.codecs import HeatmapCodec
from facekd.schemes import get_scheme

scheme = get_scheme("ibug68")
input_size, heatmap_size = 128, 32
card = ModelCard(
    model="hrnet_slim_w16",
    arch="hrnet",
    config={"num_keypoints": scheme.num_points},
    num_keypoints=scheme.num_points,
    input_size=input_size,
    scheme=scheme.to_dict(),
    codec=HeatmapCodec(input_size, heatmap_size, 1.5, "dark").to_dict(),
    training_data="ytf68/train",
)
out = Path(__file__).with_name("model_card.json")
out.write_text(card.to_json() + "\n", encoding="utf-8")
print(f"wrote {out}")
