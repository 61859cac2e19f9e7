"""Bad values at the public entrances: unknown or unavailable devices, absurd face boxes,
``max_faces < 1``, empty box lists in every spelling, and one resolver of model names
(``default``) for the API and every command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facekd.api import Landmarker, default_model_path
from facekd.cli import main
from facekd.codecs import HeatmapCodec
from facekd.errors import FacekdError
from facekd.models import card_for, create_model
from facekd.schemes import get_scheme

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLES = SHARED / "data" / "samples" / "300w"
SCHEME = get_scheme("ibug68")
K = SCHEME.num_points
IMG = np.zeros((100, 120, 3), np.uint8)
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    m = create_model("hrnet_slim_w8", K, num_stages=2, stage_modules=(1,), stage_blocks=(1,))
    return Landmarker.from_module(m, card_for(m, scheme=SCHEME, input_size=64,
                                              codec=HeatmapCodec(64, 16, 1.5, "dark")))


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_unavailable_device_names_the_value(device):
    with pytest.raises(FacekdError, match=f"device '{device}' is not available"):
        Landmarker(device=device)
    m = create_model("hrnet_slim_w8", K)
    card = card_for(m, scheme=SCHEME, input_size=64, codec=HeatmapCodec(64, 16, 1.5, "dark"))
    with pytest.raises(FacekdError, match=f"'{device}'"):
        Landmarker.from_module(m, card, device=device)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "", 3, "meta"])
def test_unknown_device_names_the_value(device):
    with pytest.raises(FacekdError, match="device"):
        Landmarker(device=device)


def test_exported_models_run_on_the_cpu(tmp_path):
    fake = tmp_path / "m.pte"
    fake.write_bytes(b"not loaded: the device is checked first")
    with pytest.raises(FacekdError, match="'meta'"):
        Landmarker(fake, device="meta")
    if not torch.cuda.is_available():
        with pytest.raises(FacekdError, match="'cuda'"):
            Landmarker(fake, device="cuda")


@no_cuda
def test_cli_device_is_one_line(tmp_path, capsys):
    img = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(IMG).save(img)
    rc = main(["detect", str(img), "--device", "cuda", "--box", "10,10,50,50"])
    err = capsys.readouterr().err
    assert rc == 2 and "'cuda'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("box, word", [([10, 10, 0.01, 0.01], "too small"), ([10, 10, 3, 40], "too small"),
                                       ([0, 0, 1e9, 1e9], "too large"), ([0, 0, 600, 50], "too large")])
def test_absurd_boxes_are_refused(lm, box, word):
    with pytest.raises(FacekdError, match=word) as e:
        lm.detect(IMG, boxes=[box])
    assert str(box[2]) in str(e.value) or f"{box[2]:.1f}" in str(e.value) or "e+" in str(e.value)
    with pytest.raises(FacekdError, match=word):
        lm.predict(IMG, [box])


def test_box_limits_are_inclusive_and_sane(lm):
    # a close-up's box may overhang the frame; 4 px and 4x the longer side are still accepted
    assert len(lm.detect(IMG, boxes=[[-20, -20, 160, 140]])) == 1
    assert len(lm.detect(IMG, boxes=[[50, 50, 4, 4]])) == 1


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_max_faces_below_one_is_refused(lm, n):
    with pytest.raises(FacekdError, match="max_faces"):
        lm.detect(IMG, boxes=[[10, 10, 50, 50]], max_faces=n)
    with pytest.raises(FacekdError, match="max_faces"):
        lm.detect(IMG, max_faces=n)  # also without boxes (the detector path)


@pytest.mark.parametrize("empty", [[], (), np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, 4), np.float32)])
def test_empty_box_lists_return_no_face(lm, empty):
    assert lm.detect(IMG, boxes=empty) == []
    pts, scores = lm.predict(IMG, empty)
    assert pts.shape == (0, K, 2) and scores.shape == (0, K)


def test_default_resolves_the_same_everywhere():
    from facekd.models import load_model, resolve_model

    if default_model_path() is None:
        with pytest.raises(FacekdError, match="not bundled"):
            resolve_model("default")
        return
    assert resolve_model("default") == default_model_path()
    _, card = load_model("default")
    assert card.model == Landmarker("default").card.model


@pytest.mark.skipif(default_model_path() is None, reason="the default model is not bundled")
def test_commands_accept_the_default_model_name(tmp_path, capsys):
    # export: the model resolves, then the (empty) parity data is the first problem
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = main(["export", "--model", "default", "--to", "onnx", "--parity-data", str(empty),
               "--out", str(tmp_path / "m.onnx"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "model not found" not in err and str(empty) in err
    if not SAMPLES.is_dir():
        pytest.skip("../shared not found (eval/robust need a dataset)")
    rc = main(["eval", "--model", "default", "--data", str(SAMPLES), "--out", str(tmp_path / "eval"),
               "--quiet", "--worst", "0"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "eval" / "results.json").is_file()
    rc = main(["robust", "--model", "default", "--data", str(SAMPLES), "--out", str(tmp_path / "robust"),
               "--corruptions", "jpeg", "--severities", "1", "--attacks", "none", "--quiet"])
    assert rc == 0, capsys.readouterr().err
