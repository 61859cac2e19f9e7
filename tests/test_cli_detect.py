"""`facekd detect` and `facekd demo`: annotated images + JSON, and clear errors (message + exit
code, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facekd.api import default_model_path
from facekd.cli import main
from facekd.codecs import HeatmapCodec
from facekd.data.base import box_from_points
from facekd.models import card_for, create_model, save_model
from facekd.schemes import get_scheme

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLES = SHARED / "data" / "samples"
YTF = SHARED / "data" / "ytf68"
SCHEME = get_scheme("ibug68")
K = SCHEME.num_points


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """The CLI runs below use --threads 1 (process-wide in torch): restore the count afterwards."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _need_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("hrnet_slim_w8", K)
    card = card_for(model, scheme=SCHEME, input_size=128, codec=HeatmapCodec(128, 32, 1.0, "dark"))
    d = tmp_path_factory.mktemp("cli_model")
    save_model(d, model, card)
    return d


def _ytf_face(name="Ahmad_Masood_00_tr"):
    from facekd.data import read_pts

    img = YTF / "test" / f"{name}.jpg"
    return img, read_pts(YTF / "test" / f"{name}.pts")


def test_detect_with_box_writes_image_and_json(tmp_path, model_dir, capsys):
    _need_shared()
    img, pts = _ytf_face()
    box = box_from_points(pts - 1.0)  # .pts are 1-based
    out = tmp_path / "out.png"
    rc = main(["detect", str(img), "-o", str(out), "--json", "--model", str(model_dir), "--threads", "1",
               "--box", ",".join(f"{v:.3f}" for v in box)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["image"] == str(img) and res["scheme"] == SCHEME.name
    (face,) = res["faces"]
    assert len(face["landmarks"]) == K and len(face["scores"]) == K
    if "rotation" not in face:  # no roll re-crop: the crop box is the given one
        np.testing.assert_allclose(face["box"], box, atol=2e-3)
    else:  # a re-crop takes the box of the predicted points, near the given box (landmarker.cpp)
        b = np.asarray(face["box"])
        side = max(box[2], box[3])
        assert np.abs(b[:2] + b[2:] / 2 - (box[:2] + box[2:] / 2)).max() <= 0.25 * side + 1e-3
        assert 0.6 * side - 1e-3 <= b[2:].max() <= 1.6 * side + 1e-3
    assert "detector_box" not in face
    src = Image.open(img)
    ann = Image.open(out)
    assert ann.size == src.size
    assert np.abs(np.asarray(ann, np.int16) - np.asarray(src.convert("RGB"), np.int16)).max() > 0  # drawn on
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["faces"][0]["landmarks"] == face["landmarks"]


def test_detect_with_the_detector_on_several_images(tmp_path, model_dir, capsys):
    _need_shared()
    a, _ = _ytf_face("Ahmad_Masood_00_tr")
    b = SAMPLES / "300w" / "indoor_020.png"
    outdir = tmp_path / "annotated"
    rc = main(["detect", str(a), str(b), "-o", str(outdir), "--model", str(model_dir), "--threads", "1",
               "--max-faces", "1", "--json"])
    assert rc == 0
    assert [len(r["faces"]) for r in json.loads(capsys.readouterr().out)] == [1, 1]
    for p in (a, b):
        png = outdir / f"{p.stem}.landmarks.png"
        assert png.is_file()
        rec = json.loads(png.with_suffix(".json").read_text())
        assert len(rec["faces"]) == 1
        face = rec["faces"][0]
        assert "detector_box" in face and len(face["landmarks"]) == K


def test_detect_errors(tmp_path, model_dir, capsys, monkeypatch):
    def run(*argv):
        rc = main(["detect", *argv, "--model", str(model_dir), "--threads", "1"])
        return rc, capsys.readouterr().err

    rc, err = run(str(tmp_path / "missing.jpg"))
    assert rc == 2 and "not found" in err and "Traceback" not in err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    rc, err = run(str(bad))
    assert rc == 2 and "cannot read image" in err
    blank = tmp_path / "blank.png"
    Image.new("RGB", (120, 100), (128, 128, 128)).save(blank)
    rc, err = run(str(blank))
    assert rc == 3 and "no face found" in err
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((40, 40), 3000, np.uint16)).save(deep)
    rc, err = run(str(deep), "--box", "5,5,20,20")
    assert rc == 2 and "unsupported image mode" in err
    import facekd.api as api

    monkeypatch.setattr(api, "MAX_PIXELS", 100 * 100)
    rc, err = run(str(blank), "--box", "5,5,20,20")
    assert rc == 2 and "too large" in err
    monkeypatch.undo()
    rc, err = run(str(blank), "--box", "5,5,20")
    assert rc == 2 and "X,Y,W,H" in err
    rc, err = run(str(blank), "--box", "500,500,20,20")
    assert rc == 2 and "cannot be cropped" in err
    rc, err = run(str(blank), "-o", str(tmp_path / "x.txt"))
    assert rc == 2 and "extension" in err
    rc = main(["detect", str(blank), "--model", str(tmp_path / "no-model")])
    assert rc == 2 and "model not found" in capsys.readouterr().err


def test_demo_writes_the_annotated_sample(tmp_path, model_dir, capsys):
    out = tmp_path / "demo.png"
    rc = main(["demo", "-o", str(out), "--json", "--model", str(model_dir), "--threads", "1"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["image"] == "astronaut.jpg" and len(res["faces"]) == 1
    face = res["faces"][0]
    # the astronaut's face: the detector finds it in the upper middle of the 512 x 512 photo
    x, y, w, h = face["detector_box"]
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 200 and 60 < w < 160
    assert Image.open(out).size == (res["width"], res["height"])


def test_sample_asset_is_small_and_documented():
    from facekd.commands.demo import sample_image_path

    p = sample_image_path()
    assert p.stat().st_size < 100_000
    readme = (p.parent / "README.md").read_text()
    assert p.name in readme and "public domain" in readme.lower()


@pytest.mark.skipif(default_model_path() is not None, reason="the default model is bundled")
def test_demo_without_default_model_is_a_clear_error(tmp_path, capsys):
    rc = main(["demo", "-o", str(tmp_path / "d.png")])
    assert rc == 2 and "default model is not bundled" in capsys.readouterr().err
