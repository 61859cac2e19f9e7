"""Pipeline hardening: bad files and degenerate inputs give a clear error (never a crash or a silent
wrong number), and nothing of ours unpickles an untrusted file."""

from __future__ import annotations

import ast
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import facekd
from facekd import kernels
from facekd.errors import FacekdError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_trainer import TINY_MODEL, make_pts_dataset, tiny_config  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return make_pts_dataset(tmp_path_factory.mktemp("hardening") / "faces", 4, size=64, seed=21)


def _copy_faces(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- images ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncated_jpeg", "truncated_png", "garbage", "empty"])
def test_corrupt_or_truncated_image_is_a_clear_error(tmp_path, damage):
    from PIL import Image

    from facekd.data import DataError, load_image

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8))
    path = tmp_path / ("x.png" if damage == "truncated_png" else "x.jpg")
    if damage.startswith("truncated"):
        img.save(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"" if damage == "empty" else b"not an image at all" * 10)
    with pytest.raises(DataError, match="cannot read image") as e:
        load_image(path)
    assert str(path) in str(e.value)


def test_evaluation_raises_on_a_corrupt_image_instead_of_skipping_it(faces, tmp_path):
    from facekd.codecs import HeatmapCodec
    from facekd.data import DataError, load_dataset
    from facekd.engine.evaluator import MeanShapePredictor, evaluate

    root = _copy_faces(faces, tmp_path / "faces")
    bad = sorted(root.glob("*.jpg"))[2]
    bad.write_bytes(bad.read_bytes()[:100])
    data = load_dataset(str(root), scheme="ibug68")
    codec = HeatmapCodec(32, 8, 1.0)
    predictor = MeanShapePredictor.from_dataset(data, codec)
    with pytest.raises(DataError, match=bad.name):
        evaluate(predictor, data, codec, data.scheme, batch_size=2, progress=False)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height 1-bit pixels (one zero IDAT row)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 8))
            + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    from PIL import Image

    from facekd.data import DataError, load_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(60000, 60000))  # 3.6 gigapixels in 100 bytes
    assert bomb.stat().st_size < 200
    with pytest.raises(DataError, match="(?i)decompression bomb|exceeds limit"):
        load_image(bomb)
    # just above Pillow's warning limit (no error from Pillow itself) is refused too
    side = int((Image.MAX_IMAGE_PIXELS * 1.1) ** 0.5) + 1
    bomb.write_bytes(_png_claiming(side, side))
    with pytest.raises(DataError, match="(?i)decompression bomb|exceeds limit"):
        load_image(bomb)


# -- boxes ----------------------------------------------------------------------------------------

def test_zero_size_box_is_refused_and_one_pixel_box_works():
    img = np.full((20, 30, 3), 100, np.uint8)
    for box in ([5, 5, 0, 4], [5, 5, 4, 0], [5, 5, -3, 4], [5, 5, float("nan"), 4], [5, 5, float("inf"), 2]):
        with pytest.raises(ValueError, match="box"):
            kernels.crop_box(img, box, 16)
        with pytest.raises(ValueError, match="box"):
            kernels.box_to_affine(box, out_size=16)
    img[7, 11] = (250, 10, 10)  # the one-pixel box's pixel
    crop, affine = kernels.crop_box(img, [10.5, 6.5, 1, 1], 8, scale=1.0, mean=(0, 0, 0), std=(1, 1, 1))
    assert crop.shape == (3, 8, 8) and np.isfinite(crop).all()
    np.testing.assert_allclose(affine @ [3.5, 3.5, 1], [11.0, 7.0], atol=1e-5)  # crop centre -> box centre
    # the 8x8 crop magnifies that one pixel: its centre is mostly the pixel, all values lie between
    # the pixel and the background (bilinear)
    centre = crop[:, 3:5, 3:5].mean(axis=(1, 2)) * 255
    assert centre[0] > 200 and centre[1] < 40 and centre[2] < 40, centre
    v = crop * 255
    assert v[0].min() >= 100 - 1e-3 and v[0].max() <= 250 + 1e-3 and v[1:].min() >= 10 - 1e-3


def test_landmarks_on_one_point_give_a_clear_data_error(faces, tmp_path):
    from facekd.data import CropDataset, DataError, load_dataset

    root = _copy_faces(faces, tmp_path / "faces")
    pts = sorted(root.glob("*.pts"))[1]
    k = len(pts.read_text().split("{")[1].split("}")[0].split("\n")) - 2
    pts.write_text(f"version: 1\nn_points: {k}\n{{\n" + "20.0 20.0\n" * k + "}\n")
    data = load_dataset(str(root), scheme="ibug68")
    crops = CropDataset(data, None, data.scheme, input_size=32)
    crops[0]
    with pytest.raises(DataError, match=pts.stem):
        crops[1]


def test_box_outside_the_image_is_refused():
    from facekd.data import CropDataset, DataError

    img = np.zeros((20, 30, 3), np.uint8)
    for box in ([40, 5, 5, 5], [-20, 5, 5, 5], [5, 25, 5, 5], [-10.5, 2, 10, 3]):  # last: only touches the edge
        with pytest.raises(ValueError, match="overlap"):
            kernels.crop_box(img, box, 16)

    from facekd.schemes import get_scheme

    class Faces:
        scheme = get_scheme("ibug68")

        def __len__(self):
            return 1

        def __getitem__(self, i):
            k = self.scheme.num_points
            lm = np.stack([np.linspace(100, 120, k), np.linspace(100, 130, k)], axis=1).astype(np.float32)
            return {"image": img, "landmarks": lm, "visible": np.ones(k, bool),
                    "box": np.array([100, 100, 20, 30], np.float32), "meta": {"path": "far_away.jpg"}}

    crops = CropDataset(Faces(), None, "ibug68", input_size=16)
    with pytest.raises(DataError, match="far_away.jpg.*outside"):
        crops[0]


# -- annotations ----------------------------------------------------------------------------------

def test_nan_landmarks_in_annotations(faces, tmp_path):
    from facekd.data import DataError, load_dataset
    from facekd.engine.metrics import nme
    from facekd.schemes import get_scheme

    root = _copy_faces(faces, tmp_path / "faces")
    pts = sorted(root.glob("*.pts"))[0]
    lines = pts.read_text().splitlines()
    lines[5] = "nan 12.0"
    pts.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=f"{pts.name}.*not all finite"):
        load_dataset(str(root), scheme="ibug68")
    skipping = load_dataset(str(root), scheme="ibug68", on_error="skip")
    assert len(skipping) == 3 and any(pts.name in p for p, _ in skipping.skipped)

    # NaN ground truth (unlabelled points) is excluded from NME, never averaged in as NaN
    s = get_scheme("ibug68")
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (2, s.num_points, 2))
    pred = gt + 1.0
    gt[0, 30] = np.nan
    e = nme(pred, gt, s)
    assert np.isfinite(e).all()
    gt[1, s.eye_corners[0]] = np.nan  # no normalising distance: an error, not NaN
    with pytest.raises(FacekdError, match="interocular distance"):
        nme(pred, gt, s)


# -- checkpoints and model cards ------------------------------------------------------------------

def _tiny_module(k: int = 68):
    from facekd.models import create_model

    return create_model(TINY_MODEL["name"], k, **TINY_MODEL["overrides"])


def _save_tiny(path: Path, k: int = 68):
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for, save_model
    from facekd.schemes import get_scheme

    scheme = get_scheme("ibug68" if k == 68 else "wflw98")
    model = _tiny_module(k)
    return save_model(path, model, card_for(model, scheme=scheme, input_size=32, codec=HeatmapCodec(32, 8, 1.0)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, faces):
    """A one-step training run: (run dir with last.pt, config path)."""
    import yaml

    from facekd.config import load_config
    from facekd.engine.trainer import train

    d = tmp_path_factory.mktemp("ckpt")
    cfg_path = d / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_config(faces, None, runtime__max_steps=1, schedule__epochs=1)))
    train(load_config(cfg_path), d / "run")
    assert (d / "run" / "last.pt").is_file()
    return d / "run", cfg_path


def test_truncated_checkpoint_is_a_clear_error_and_nothing_is_overwritten(trained, tmp_path):
    from facekd.config import load_config
    from facekd.engine.trainer import Trainer
    from facekd.models import load_model

    run, cfg_path = trained
    out = tmp_path / "run"
    shutil.copytree(run, out)
    ckpt = out / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 3])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(FacekdError, match="cannot read checkpoint"):
        Trainer(load_config(cfg_path), out, resume=True)
    with pytest.raises(FacekdError, match="cannot read checkpoint"):
        load_model(ckpt)
    st = out / "final" / "model.safetensors"
    st.write_bytes(st.read_bytes()[:200])
    before[st] = st.read_bytes()
    with pytest.raises(FacekdError, match="cannot read weights"):
        load_model(out / "final")
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "a failed load changed files"


def test_checkpoint_from_another_model_is_refused(trained, tmp_path):
    import yaml

    from facekd.config import load_config
    from facekd.engine.trainer import Trainer

    run, cfg_path = trained
    out = tmp_path / "run"
    shutil.copytree(run, out)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["model"]["overrides"]["width"] = 8  # another architecture
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(cfg))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(FacekdError, match="another model"):
        Trainer(load_config(other), out, resume=True).fit()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # a fresh run into a folder holding a checkpoint refuses too (no silent overwrite)
    with pytest.raises(FacekdError, match="already holds a checkpoint"):
        Trainer(load_config(other), out)


def test_model_card_that_does_not_match_the_weights(tmp_path):
    import json

    from facekd.models import init_from_file, load_model

    st = _save_tiny(tmp_path / "m")
    card_path = tmp_path / "m" / "model.json"
    card = json.loads(card_path.read_text())
    weights = st.read_bytes()

    wide = dict(card, config={**card["config"], "width": card["config"]["width"] * 2})
    card_path.write_text(json.dumps(wide))
    with pytest.raises(FacekdError, match="do not match the card"):
        load_model(tmp_path / "m")

    from facekd.schemes import get_scheme

    w98 = get_scheme("wflw98")
    more = dict(card, num_keypoints=w98.num_points, scheme=w98.to_dict(),
                config={**card["config"], "num_keypoints": w98.num_points})
    card_path.write_text(json.dumps(more))
    with pytest.raises(FacekdError, match="keypoints"):
        load_model(tmp_path / "m")

    card_path.write_text(json.dumps(dict(card, num_keypoints=5)))  # inconsistent card
    with pytest.raises(FacekdError, match="invalid model card"):
        load_model(tmp_path / "m")
    card_path.write_text("{not json")
    with pytest.raises(FacekdError, match="invalid model card JSON"):
        load_model(tmp_path / "m")
    assert st.read_bytes() == weights

    other = _tiny_module(98)
    with pytest.raises(FacekdError, match="do not fit the model"):
        init_from_file(other, st, strict=True)


# -- untrusted files: no unpickling ---------------------------------------------------------------

def _package_sources() -> list[Path]:
    return sorted(Path(facekd.__file__).resolve().parent.rglob("*.py"))


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def test_torch_load_is_always_weights_only():
    """Every torch.load in the installed package passes weights_only=True, and nothing else
    unpickles (pickle/dill/joblib loads, numpy allow_pickle, unsafe YAML)."""
    sources = _package_sources()
    assert len(sources) > 20, sources
    torch_loads, problems = 0, []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        aliases = {a.asname or a.name: f"{n.module}.{a.name}" for n in ast.walk(tree)
                   if isinstance(n, ast.ImportFrom) and n.module for a in n.names}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            name = aliases.get(name, name)
            kw = {k.arg: k.value for k in node.keywords}
            where = f"{path.name}:{node.lineno}"
            if name in ("torch.load", "torch.serialization.load"):
                torch_loads += 1
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    problems.append(f"{where}: torch.load without weights_only=True")
            elif name.split(".")[0] in ("pickle", "cPickle", "dill", "joblib", "cloudpickle", "_pickle") \
                    and name.rsplit(".", 1)[-1] in ("load", "loads", "Unpickler"):
                problems.append(f"{where}: {name}")
            elif name in ("numpy.load", "np.load") and "allow_pickle" in kw and not (
                    isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False):
                problems.append(f"{where}: np.load with allow_pickle")
            elif name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load"):
                loader = _dotted(kw["Loader"]) if "Loader" in kw else ""
                if not loader.endswith("SafeLoader"):
                    problems.append(f"{where}: {name} without SafeLoader")
    assert torch_loads >= 2, "expected the checkpoint readers' torch.load calls"
    assert not problems, "\n".join(problems)


class _Payload:
    """Unpickling this runs ``os.makedirs(marker)``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _malicious_files(tmp_path: Path, marker: Path) -> list[Path]:
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for
    from facekd.schemes import get_scheme

    model = _tiny_module()
    card = card_for(model, scheme=get_scheme("ibug68"), input_size=32, codec=HeatmapCodec(32, 8, 1.0)).to_dict()
    state = {"format": 1, "card": card, "model": model.state_dict(), "ema": None, "evil": _Payload(marker)}
    files = []
    for suffix in (".pt", ".pth", ".ckpt"):  # torch's zip format
        p = tmp_path / f"evil{suffix}"
        torch.save(state, p)
        files.append(p)
    legacy = tmp_path / "legacy.pt"  # a plain pickle stream
    legacy.write_bytes(pickle.dumps(state))
    files.append(legacy)
    return files


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_is_refused_by_every_checkpoint_loader(tmp_path, trained):
    from facekd.config import load_config
    from facekd.engine.checkpoint import load_checkpoint
    from facekd.engine.trainer import Trainer
    from facekd.models import init_from_file, load_model
    from facekd.models.io import load_checkpoint_file, load_state_file

    marker = tmp_path / "PWNED"
    files = _malicious_files(tmp_path, marker)
    # control: the payload is real -- an unsafe load runs it
    torch.load(files[0], weights_only=False)
    assert marker.exists()
    marker.rmdir()

    _, cfg_path = trained
    loaders = {
        "load_model": load_model,
        "load_checkpoint_file": load_checkpoint_file,
        "load_state_file": load_state_file,
        "init_from_file": lambda p: init_from_file(_tiny_module(), p),
        "engine.load_checkpoint": load_checkpoint,
    }
    try:
        from facekd.api import Landmarker

        loaders["api.Landmarker"] = Landmarker
    except ImportError:  # pragma: no cover - facekd.api not built yet
        pass
    try:
        from facekd.robust.runner import ModelUnderTest

        loaders["robust.ModelUnderTest"] = ModelUnderTest.load
    except ImportError:  # pragma: no cover
        pass
    for path in files:
        for name, load in loaders.items():
            with pytest.raises(FacekdError):
                load(path)
            assert not marker.exists(), f"{name} unpickled {path.name}"
        run = tmp_path / f"resume_{path.stem}{path.suffix[1:]}"
        run.mkdir()
        shutil.copy(path, run / "last.pt")
        with pytest.raises(FacekdError, match="cannot read checkpoint"):
            Trainer(load_config(cfg_path), run, resume=True)
        assert not marker.exists(), f"Trainer resume unpickled {path.name}"


def test_malicious_pickle_is_refused_by_the_command_line(tmp_path, faces):
    marker = tmp_path / "PWNED"
    evil = _malicious_files(tmp_path, marker)[0]
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(evil, run / "last.pt")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    commands = [
        ["eval", "--model", str(evil), "--data", str(faces), "--out", str(tmp_path / "e"), "--quiet"],
        ["robust", "--model", str(evil), "--data", str(faces), "--out", str(tmp_path / "r"), "--quiet"],
        ["train", "--resume", "--out", str(run)],
    ]
    for args in commands:
        p = subprocess.run([sys.executable, "-m", "facekd", *args], capture_output=True, text=True, env=env,
                           timeout=300)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "cannot read checkpoint" in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert not marker.exists(), f"facekd {args[0]} unpickled the file"
