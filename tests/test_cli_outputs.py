"""Output files of `facekd detect`, `demo` and `video`: nothing the user has is overwritten
without --overwrite, JSON only with --json, several inputs need a folder, a path that cannot be
written is one line naming it, and a batch reports each bad image, goes on and exits non-zero
with a summary. A tiny untrained model and synthetic images: no ../shared needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facekd.cli import main
from facekd.codecs import HeatmapCodec
from facekd.models import card_for, create_model, save_model
from facekd.schemes import get_scheme

BOX = "20,20,60,60"


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    scheme = get_scheme("ibug68")
    torch.manual_seed(0)
    m = create_model("hrnet_slim_w8", scheme.num_points, num_stages=2, stage_modules=(1,), stage_blocks=(1,))
    card = card_for(m, scheme=scheme, input_size=64, codec=HeatmapCodec(64, 16, 1.5, "dark"))
    d = tmp_path_factory.mktemp("outputs_model")
    save_model(d, m, card)
    return d


def _image(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)).save(path)
    return path


def _detect(capsys, model_dir, *argv):
    rc = main(["detect", *map(str, argv), "--model", str(model_dir), "--threads", "1", "--box", BOX])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def test_existing_output_is_not_overwritten_without_flag(tmp_path, model_dir, capsys):
    img = _image(tmp_path / "a.png")
    out = tmp_path / "existing.png"
    out.write_bytes(b"the user's file")
    rc, _, err = _detect(capsys, model_dir, img, "-o", out)
    assert rc == 2 and str(out) in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"the user's file"
    rc, _, _ = _detect(capsys, model_dir, img, "-o", out, "--overwrite")
    assert rc == 0 and Image.open(out).size == (100, 100)


def test_json_is_written_only_with_the_flag(tmp_path, model_dir, capsys):
    img = _image(tmp_path / "a.png")
    out = tmp_path / "out.png"
    side = out.with_suffix(".json")
    rc, _, _ = _detect(capsys, model_dir, img, "-o", out)
    assert rc == 0 and out.is_file() and not side.exists()
    side.write_text("mine")  # an existing .json is also the user's: kept without --overwrite
    out.unlink()
    rc, _, err = _detect(capsys, model_dir, img, "-o", out, "--json")
    assert rc == 2 and str(side) in err and side.read_text() == "mine" and not out.exists()
    side.unlink()
    rc, stdout, _ = _detect(capsys, model_dir, img, "-o", out, "--json")
    assert rc == 0 and json.loads(side.read_text())["faces"] == json.loads(stdout)["faces"]


def test_several_inputs_need_a_folder(tmp_path, model_dir, capsys):
    a, b = _image(tmp_path / "a.png"), _image(tmp_path / "b.png", 1)
    rc, _, err = _detect(capsys, model_dir, a, b, "-o", tmp_path / "multi.png")
    assert rc == 2 and "folder" in err and "multi.png" in err
    assert not (tmp_path / "multi.png").exists()
    f = tmp_path / "file"
    f.write_text("x")
    rc, _, err = _detect(capsys, model_dir, a, b, "-o", f)
    assert rc == 2 and "folder" in err and f.read_text() == "x"
    rc, _, _ = _detect(capsys, model_dir, a, b, "-o", tmp_path / "annotated")
    assert rc == 0 and sorted(p.name for p in (tmp_path / "annotated").iterdir()) == \
        ["a.landmarks.png", "b.landmarks.png"]


@pytest.mark.parametrize("where", ["under_a_file", "unwritable"])
def test_unwritable_output_is_one_line_naming_the_path(tmp_path, model_dir, capsys, where):
    img = _image(tmp_path / "a.png")
    if where == "under_a_file":
        target = tmp_path / "a.png" / "sub" / "out.png"
    else:  # /proc refuses new files even for root (a chmod'ed folder would not stop root)
        target = Path("/proc/facekd-test/out.png")
    rc, _, err = _detect(capsys, model_dir, img, "-o", target)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and str(target) in lines[0], err


def test_batch_reports_each_bad_image_and_goes_on(tmp_path, model_dir, capsys):
    good1, good2 = _image(tmp_path / "g1.png"), _image(tmp_path / "g2.png", 1)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    missing = tmp_path / "missing.jpg"
    outdir = tmp_path / "out"
    rc, stdout, err = _detect(capsys, model_dir, good1, corrupt, missing, good2, "-o", outdir)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 3, err  # one per bad image, then the summary
    assert str(corrupt) in lines[0] and str(missing) in lines[1]
    assert "2 of 4 images failed" in lines[2] and "2 processed" in lines[2]
    assert (outdir / "g1.landmarks.png").is_file() and (outdir / "g2.landmarks.png").is_file()
    assert stdout.count("face(s)") == 2


def test_demo_keeps_an_existing_file(tmp_path, model_dir, capsys):
    out = tmp_path / "demo.png"
    out.write_bytes(b"keep")
    rc = main(["demo", "-o", str(out), "--model", str(model_dir), "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "--overwrite" in err and out.read_bytes() == b"keep"


def test_video_keeps_existing_files(tmp_path, model_dir, capsys):
    clip = tmp_path / "clip.avi"
    clip.write_bytes(b"placeholder")  # the output checks come before the video is opened
    for flag in ("-o", "--landmarks"):
        target = tmp_path / ("v.avi" if flag == "-o" else "v.json")
        target.write_bytes(b"keep")
        rc = main(["video", str(clip), flag, str(target), "--model", str(model_dir), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and str(target) in err and "--overwrite" in err and target.read_bytes() == b"keep"
