"""Evaluator and `facekd eval`: oracle predictors score ~0, flip testing, scheme conversion,
subset tables, reports, the mean-shape baseline and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facekd import kernels
from facekd.codecs import HeatmapCodec
from facekd.data import DataError, Pts300W, load_dataset
from facekd.engine.evaluator import EvalResult, MeanShapePredictor, evaluate, subset_table
from facekd.schemes import LandmarkScheme, convert, get_scheme

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLES = SHARED / "data" / "samples"
YTF = SHARED / "data" / "ytf68"


def _need_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")


class Oracle:
    """Knows the ground truth of each face (in dataset order) and renders it as the model output
    for the crops it is shown; with flip testing, every second call gets mirrored crops."""

    def __init__(self, base, codec, *, flip_test=False, out_scheme=None, output="heatmap",
                 crop_scale=1.25):
        self.base, self.codec, self.flip_test = base, codec, flip_test
        self.scheme = out_scheme or base.scheme
        self.output, self.crop_scale = output, crop_scale
        self.cursor, self.calls = 0, 0

    def _crop_points(self, i, flipped):
        r = self.base.records[i]
        box, _ = kernels.box_from_landmarks(r.landmarks)
        aff = kernels.box_to_affine(box, scale=self.crop_scale, flip=flipped, out_size=self.codec.input_size)
        pts = kernels.points_transform(r.landmarks, kernels.affine_invert(aff))
        pts = convert(pts, self.base.scheme, self.scheme)
        return pts[list(self.scheme.flip_perm)] if flipped else pts

    def __call__(self, crops):
        import torch

        flipped = self.flip_test and self.calls % 2 == 1
        n = crops.shape[0]
        idx = range(self.cursor, self.cursor + n)
        if not self.flip_test or flipped:
            self.cursor += n
        self.calls += 1
        pts = [self._crop_points(i, flipped) for i in idx]
        if self.output == "coords":
            return torch.from_numpy((np.stack(pts) + 0.5) / self.codec.input_size)
        return torch.from_numpy(np.stack([self.codec.encode(p)[0] for p in pts]))


@pytest.fixture(scope="module")
def val():
    _need_shared()
    return load_dataset(YTF / "val")


@pytest.mark.parametrize("flip_test", [False, True])
@pytest.mark.parametrize("output", ["heatmap", "coords"])
def test_oracle_scores_zero(val, flip_test, output):
    codec = HeatmapCodec(128, 32, 1.5, "dark")
    sub = val.select(range(40))
    res = evaluate(Oracle(sub, codec, flip_test=flip_test, output=output), sub, codec, sub.scheme,
                   batch_size=16, flip_test=flip_test, output_type=output, progress=False)
    assert res.nme.shape == (40,)
    assert res.nme.max() < 2e-3, res.nme.max()
    assert res.table["all"]["fr@0.10"] == 0 and res.table["all"]["auc@0.10"] > 0.98


def test_flip_test_uses_the_model_flip_table(val):
    """Un-flipping with a wrong table (mouth pairs left unswapped) must hurt: not a no-op."""
    codec = HeatmapCodec(128, 32, 1.5, "dark")
    sub = val.select(range(16))
    ibug = get_scheme("ibug68")
    bad_perm = list(ibug.flip_perm)
    bad_perm[48:68] = range(48, 68)
    bad = LandmarkScheme.from_dict(ibug.to_dict() | {"flip_perm": bad_perm})
    good = evaluate(Oracle(sub, codec, flip_test=True), sub, codec, ibug, flip_test=True, progress=False)
    wrong = evaluate(Oracle(sub, codec, flip_test=True), sub, codec, ibug, flip_test=True,
                     model_scheme=bad, progress=False)
    assert good.nme.max() < 2e-3
    assert wrong.nme.min() > 0.01


def test_model_with_another_scheme_is_scored_on_shared_points():
    """A 68-point model on 98-point WFLW faces: scored on the 68 common points."""
    _need_shared()
    wflw = load_dataset(SAMPLES / "wflw")
    codec = HeatmapCodec(128, 32, 1.5)
    oracle = Oracle(wflw, codec, out_scheme=get_scheme("ibug68"))
    res = evaluate(oracle, wflw, codec, "wflw98", model_scheme="ibug68", progress=False)
    assert res.pred.shape == (4, 98, 2)
    assert np.isnan(res.pred[:, :, 0]).sum(axis=1).tolist() == [30] * 4
    assert res.nme.max() < 2e-3
    assert res.settings["model_scheme"] == "ibug68"


def test_mean_shape_baseline_matches_an_independent_computation(val):
    """The baseline's NME equals a plain-numpy mean shape in box-normalised coordinates."""
    train = load_dataset(YTF / "train")
    codec = HeatmapCodec(128, 32, 1.5, "dark")
    res = evaluate(MeanShapePredictor.from_dataset(train, codec), val, codec, val.scheme, progress=False)

    def normalised(ds):
        out = []
        for r in ds.records:
            lo, hi = r.landmarks.min(0), r.landmarks.max(0)
            out.append(((r.landmarks - (lo + hi) / 2) / (hi - lo).max(), (lo + hi) / 2, (hi - lo).max()))
        return out

    mean = np.mean([q for q, _, _ in normalised(train)], axis=0)
    ref = []
    for (q, c, s), r in zip(normalised(val), val.records):
        pred = mean * s + c
        iod = np.linalg.norm(r.landmarks[36] - r.landmarks[45])
        ref.append(np.linalg.norm(pred - r.landmarks, axis=1).mean() / iod)
    np.testing.assert_allclose(res.nme, ref, atol=2e-3)
    assert 0.05 < res.table["all"]["nme"] < 0.5


def test_subset_table_by_hand():
    e = np.array([0.01, 0.09, 0.2, 0.05])
    t = subset_table(e, [["common", "full"], ["common", "full"], ["challenging", "full"], []])
    assert list(t) == ["all", "common", "full", "challenging"]
    assert t["common"]["n"] == 2 and t["common"]["nme"] == pytest.approx(0.05)
    assert t["full"]["fr@0.10"] == pytest.approx(1 / 3) and t["full"]["fr@0.08"] == pytest.approx(2 / 3)
    assert t["challenging"]["auc@0.10"] == 0.0
    assert t["all"]["auc@0.10"] == pytest.approx((0.09 + 0.01 + 0 + 0.05) / 4 / 0.1)


def test_reports_are_written(val, tmp_path):
    codec = HeatmapCodec(128, 32, 1.5)
    sub = val.select(range(20))
    res = evaluate(MeanShapePredictor.from_dataset(sub, codec), sub, codec, sub.scheme, progress=False,
                   settings={"model": "mean", "data": "ytf68/val[:20]"})
    files = res.save(tmp_path, sub, worst_n=4)
    assert set(files) == {"json", "markdown", "csv", "ced", "worst"}
    d = json.loads(files["json"].read_text())
    assert d["table"]["all"]["n"] == 20 and len(d["faces"]) == 20
    assert d["table"]["all"]["nme"] == pytest.approx(float(res.nme.mean()))
    md = files["markdown"].read_text()
    assert "| all | 20 |" in md and f"{100 * res.nme.mean():.2f}" in md
    assert len(files["csv"].read_text().strip().splitlines()) == 21
    for k in ("ced", "worst"):
        with Image.open(files[k]) as im:
            assert im.size[0] > 200 and im.size[1] > 100
    assert isinstance(res, EvalResult)


def test_evaluation_is_strict_about_bad_samples(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.uniform(20, 60, (68, 2))
    pts[36], pts[45] = (25, 40), (55, 40)
    for i in range(3):
        body = "".join(f"{x + 1:.3f} {y + 1:.3f}\n" for x, y in pts)
        (tmp_path / f"f{i}.pts").write_text(f"version: 1\nn_points: 68\n{{\n{body}}}\n")
        Image.new("RGB", (80, 80), (50, 60, 70)).save(tmp_path / f"f{i}.png")
    (tmp_path / "f1.png").write_bytes(b"garbage")
    ds = Pts300W(tmp_path)
    codec = HeatmapCodec(64, 16, 1.0)
    with pytest.raises(DataError, match="f1.png: cannot read image"):
        evaluate(MeanShapePredictor.from_dataset(ds, codec), ds, codec, ds.scheme, progress=False)


# -- CLI -------------------------------------------------------------------------------------------

def test_cli_eval_baseline_on_ytf68_val(tmp_path, capsys):
    _need_shared()
    from facekd.cli import main

    rc = main(["eval", "--data", str(YTF / "val"), "--model", "baseline:mean-shape", "--out", str(tmp_path),
               "--quiet", "--input-size", "128", "--heatmap-size", "32", "--worst", "8"])
    out = capsys.readouterr().out
    assert rc == 0, out
    d = json.loads((tmp_path / "results.json").read_text())
    assert d["table"]["all"]["n"] == 428
    assert d["settings"]["baseline_train_data"].endswith("train")  # the sibling training split
    assert d["settings"]["model"] == "baseline:mean-shape"
    assert "| all | 428 |" in out
    for f in ("results.md", "per_face.csv", "ced.png", "worst.png"):
        assert (tmp_path / f).is_file()


def test_cli_eval_errors(tmp_path, capsys):
    _need_shared()
    from facekd.cli import main

    assert main(["eval", "--data", str(tmp_path / "none"), "--model", "baseline:mean-shape"]) == 2
    assert "dataset path not found" in capsys.readouterr().err
    assert main(["eval", "--data", str(SAMPLES / "300w"), "--model", "baseline:median"]) == 2
    assert "unknown baseline 'median'" in capsys.readouterr().err
    assert main(["eval", "--data", str(SAMPLES / "300w"), "--model", str(tmp_path / "m.safetensors"),
                 "--quiet"]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("name, codec", [("hrnet_slim_w8_d1", HeatmapCodec(64, 16, 1.5)), ("pfld_regress", None)])
def test_cli_eval_saved_models(tmp_path, capsys, name, codec):
    """A saved model (heatmap or coordinate output) evaluates through its card."""
    _need_shared()
    from facekd.cli import main
    from facekd.models import card_for, create_model, save_model

    model = create_model(name, 68)
    save_model(tmp_path / "m", model, card_for(model, scheme=get_scheme("ibug68"), input_size=64, codec=codec))
    rc = main(["eval", "--data", str(SAMPLES / "300w"), "--model", str(tmp_path / "m"), "--out",
               str(tmp_path / "out"), "--quiet", "--flip-test", "--worst", "2"])
    assert rc == 0, capsys.readouterr().err
    d = json.loads((tmp_path / "out" / "results.json").read_text())
    assert d["settings"]["output_type"] == model.output_type and d["settings"]["input_size"] == 64
    assert d["table"]["all"]["n"] == 2 and np.isfinite(d["table"]["all"]["nme"])
    assert set(d["table"]) == {"all", "indoor", "300w-test"}
