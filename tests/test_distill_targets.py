"""Unlabelled sources, the teacher targets cache (round trip, warping under augmentation, weighting), named
teachers, `facekd teach` -> `facekd distill --targets` end to end, and the adversarial term's stability."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from facekd.config import DataSource, TrainConfig, load_config
from facekd.distill import DistillConfig
from facekd.distill.targets import TargetSampler, TeacherTargets, WeightKnobs, crop_key, point_weights
from facekd.errors import FacekdError
from facekd.schemes import LandmarkScheme
from test_trainer import make_pts_dataset, tiny_config

# three colour-coded points: R, G, B blobs (point 2 on the mirror axis)
TRI = LandmarkScheme(name="tri3", num_points=3, flip_perm=(1, 0, 2), eye_corners=(0, 1))


def _blob_image(pts: np.ndarray, size: int = 96, sigma: float = 3.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.zeros((size, size, 3))
    for c, (x, y) in enumerate(pts):
        img[..., c] = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    return (255 * img).round().astype(np.uint8)


def _write_tri_pts(root: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = np.array([[32.0, 40.0], [64.0, 40.0], [48.0, 66.0]])
        pts = base + rng.uniform(-4, 4, size=(3, 2))
        Image.fromarray(_blob_image(pts)).save(root / f"f{i:02d}.png")
        with open(root / f"f{i:02d}.pts", "w") as fh:
            fh.write("version: 1\nn_points: 3\n{\n" + "".join(f"{x + 1:.3f} {y + 1:.3f}\n" for x, y in pts) + "}\n")
    return root


class BlobTeacher(torch.nn.Module):
    """Equivariant by construction: heatmap k is colour channel k of the crop, average-pooled to stride 4
    (a face's point k is where its colour-k blob is, in any crop of it). ``shift`` moves its answers."""

    output_type = "heatmap"

    def __init__(self, shift: float = 0.0):
        super().__init__()
        self.shift = shift

    def forward(self, x):
        from facekd import kernels

        mean = torch.tensor(kernels.IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(kernels.IMAGENET_STD).view(1, 3, 1, 1)
        img = (x * std + mean).clamp(0, 1)
        if self.shift:
            img = torch.roll(img, shifts=int(self.shift), dims=3)
        return F.avg_pool2d(img, 4)


def _card(size: int = 64, k: int = 3, crop_scale: float = 2.0):
    from facekd.codecs import HeatmapCodec

    codec = HeatmapCodec(size, size // 4, 1.0, decode="dark")
    return SimpleNamespace(input_size=size, crop_scale=crop_scale, output_type="heatmap", num_keypoints=k,
                           get_codec=lambda: codec, to_dict=lambda: {"model": "blob"})


# -- unlabelled sources ---------------------------------------------------------------------------

def _image_folder(root: Path, n: int = 4, size: int = 40) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / f"u{i}.jpg")
    (root / "notes.txt").write_text("not an image")
    return root


def test_unlabelled_folder_loads_and_crops_with_padding(tmp_path):
    from facekd.codecs import HeatmapCodec
    from facekd.data import CropDataset, load_dataset

    ds = load_dataset(f"images:{_image_folder(tmp_path / 'u')}", scheme="ibug68")
    assert len(ds) == 4 and getattr(ds, "labelled") is False
    it = ds[0]
    assert np.isnan(it["landmarks"]).all() and not it["visible"].any() and it["meta"]["labelled"] is False
    crops = CropDataset(ds, HeatmapCodec(32, 8, 1.0), augment=None)
    c = crops[0]
    assert c["labelled"] is False and c["weight"].sum() == 0 and c["heatmap"].max() == 0
    # the 1.25x crop around a box of 91 % of the width reaches past the image: its corners map outside
    a = c["affine"].astype(np.float64)
    x0 = a @ np.array([0.0, 0.0, 1.0])
    x1 = a @ np.array([31.0, 31.0, 1.0])
    assert x0[0] < 0 and x1[0] > 39
    with pytest.raises(FacekdError, match="image folder not found"):
        load_dataset(f"images:{tmp_path / 'nope'}", scheme="ibug68")


def test_config_marks_unlabelled_sources_and_gt_training_refuses_them(tmp_path):
    from facekd.engine.trainer import Trainer

    train = make_pts_dataset(tmp_path / "train", 8, seed=1)
    pool = _image_folder(tmp_path / "pool")
    d = tiny_config(train, None)
    d["data"]["train"] = [{"path": str(train)}, {"path": str(pool), "labelled": False, "name": "pool"}]
    cfg = TrainConfig.from_dict(d)
    assert DataSource(str(pool), labelled=False).spec == f"images:{pool}"
    with pytest.raises(FacekdError, match="unlabelled.*ground-truth training cannot"):
        Trainer(cfg, tmp_path / "run")
    bad = tiny_config(train, None)
    bad["data"]["train"] = [{"path": f"images:{pool}"}]
    with pytest.raises(FacekdError, match="labelled: false"):
        TrainConfig.from_dict(bad)
    bad = tiny_config(train, None)
    bad["data"]["val"] = [{"path": str(pool), "labelled": False}]
    with pytest.raises(FacekdError, match="validation needs landmarks"):
        TrainConfig.from_dict(bad)


# -- the cache ------------------------------------------------------------------------------------

def test_cache_round_trip_and_lookup(tmp_path):
    rng = np.random.default_rng(0)
    t, n, k = 2, 5, 3
    keys = [crop_key(f"/img/{i}.jpg", np.array([i, 2.0, 30.0, 31.5])) for i in range(n)]
    meta = {"teachers": [{"name": "w32"}, {"name": "w18"}], "input_size": 64}
    tt = TeacherTargets(meta, rng.uniform(0, 64, (t, n, k, 2)).astype(np.float16),
                        rng.uniform(0, 1, (t, n, k)).astype(np.float16), rng.normal(size=(n, 2, 3)).astype(np.float32),
                        np.full((n, 2), 100, np.int32), keys)
    back = TeacherTargets.load(tt.save(tmp_path / "c"))
    assert back.teacher_names == ["w32", "w18"] and back.keys == keys
    assert back.points.dtype == np.float16 and back.conf.dtype == np.float16
    np.testing.assert_array_equal(back.points, tt.points)
    np.testing.assert_array_equal(back.conf, tt.conf)
    np.testing.assert_array_equal(back.affine, tt.affine)
    assert back.row(keys[3]) == 3 and back.row("/img/9.jpg|0,0,0,0") is None
    # image points = affine applied to the stored crop points
    p = back.image_points(2)
    a = back.affine[2].astype(np.float64)
    np.testing.assert_allclose(p[1, 0], a[:, :2] @ back.points[1, 2, 0].astype(np.float64) + a[:, 2], rtol=1e-5)
    with pytest.raises(FacekdError, match="not a teacher targets cache"):
        TeacherTargets.load(tmp_path)
    with pytest.raises(FacekdError, match="no teacher"):
        TargetSampler(back, None, teachers=["w48"])


class SidedBlobTeacher(BlobTeacher):
    """A BlobTeacher that names the two upper blobs by side, as a face model names the eyes: point 0 is
    the left one of colour channels 0 / 1, so a mirrored crop gets its points by the flipped convention."""

    def forward(self, x):
        out = super().forward(x)
        xs = torch.arange(out.shape[-1], dtype=out.dtype)
        cx = (out[:, :2].sum(2) * xs).sum(-1) / out[:, :2].sum((2, 3)).clamp_min(1e-6)  # [N, 2]
        swap = cx[:, 0] > cx[:, 1]
        out[swap] = out[swap][:, [1, 0, 2]]
        return out


def test_teach_flip_test_averages_out_a_teacher_bias(tmp_path):
    from facekd.data import load_dataset
    from facekd.distill.teach import build_targets

    root = _write_tri_pts(tmp_path / "tri", 6)
    gt = np.stack([load_dataset(str(root), TRI)[i]["landmarks"] for i in range(6)])
    err = {}
    for flip in (False, True):
        targets, _ = build_targets([DataSource(str(root))], TRI, {"blob": (SidedBlobTeacher(shift=2), _card())},
                                   batch_size=4, progress=False, flip_test=flip)
        assert targets.meta["flip_test"] is flip
        order = np.argsort(targets.keys)  # keys sort like the file names
        pts = np.stack([targets.image_points(int(r))[0] for r in order])
        err[flip] = (pts - gt)[..., 0].mean()  # signed x error, image px
    assert 1.5 < err[False] < 2.5  # the teacher answers 2 px to the right
    assert abs(err[True]) < 0.5    # its mirrored answer is 2 px to the left: the mean cancels


def test_score_targets_ranks_teachers_and_their_mixes_against_the_labels(tmp_path):
    """An exact teacher and one 3 px off: the exact one scores lower NME, and the consensus gets worse as
    the shifted teacher's share grows (share 0 equals the exact teacher alone)."""
    from facekd.data import load_dataset
    from facekd.distill.teach import score_targets
    from facekd.distill.teach import build_targets

    root = _write_tri_pts(tmp_path / "tri", 6)
    targets, _ = build_targets([DataSource(str(root))], TRI, {"good": (BlobTeacher(), _card()),
                                                            "off": (BlobTeacher(shift=3), _card())},
                               batch_size=4, progress=False)
    r = score_targets(targets, load_dataset(str(root), TRI), TRI, [[1, 0], [0.7, 0.3], [0.3, 0.7]])
    assert r["faces"] == 6
    assert r["teachers"]["good"] < 0.5 * r["teachers"]["off"]
    assert r["consensus"][0] == pytest.approx(r["teachers"]["good"], rel=1e-5)
    assert r["consensus"][0] < r["consensus"][1] < r["consensus"][2]
    with pytest.raises(FacekdError, match="2 shares"):
        score_targets(targets, load_dataset(str(root), TRI), TRI, [[1.0]])
    other = _write_tri_pts(tmp_path / "other", 2, seed=5)
    with pytest.raises(FacekdError, match="not in the targets cache"):
        score_targets(targets, load_dataset(str(other), TRI), TRI)


class _CountingTeacher(BlobTeacher):
    """A BlobTeacher that counts its forward calls and fails after ``fail_after`` of them (an interruption)."""

    def __init__(self, fail_after: int | None = None):
        super().__init__()
        self.calls, self.fail_after = 0, fail_after

    def forward(self, x):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("stopped")
        self.calls += 1
        return super().forward(x)


def test_teach_resumes_from_finished_chunks_and_refuses_other_settings(tmp_path):
    from facekd.distill.teach import build_targets

    root = _write_tri_pts(tmp_path / "tri", 10)
    src = [DataSource(str(root))]
    kw = dict(batch_size=2, progress=False, chunk=4)  # chunks of 4 faces = 2 batches: 3 chunks
    whole, _ = build_targets(src, TRI, {"blob": (BlobTeacher(), _card())}, **kw)
    parts = tmp_path / "parts"
    with pytest.raises(KeyboardInterrupt):  # stopped in the 3rd batch: chunk 0 is on disk, chunk 1 is not
        build_targets(src, TRI, {"blob": (_CountingTeacher(fail_after=3), _card())}, parts=parts, **kw)
    assert sorted(f.name for f in parts.glob("*.npz")) == ["00_00000.npz"]
    with pytest.raises(FacekdError, match="--resume"):  # never silently mixed with a new run
        build_targets(src, TRI, {"blob": (BlobTeacher(), _card())}, parts=parts, **kw)
    with pytest.raises(FacekdError, match="flip_test"):  # chunks of other settings are not reused
        build_targets(src, TRI, {"blob": (BlobTeacher(), _card())}, parts=parts, resume=True, flip_test=True, **kw)
    t = _CountingTeacher()
    resumed, summary = build_targets(src, TRI, {"blob": (t, _card())}, parts=parts, resume=True, **kw)
    assert t.calls == 3 and summary["resumed_faces"] == 4  # only chunks 1 and 2 ran (2 + 1 batches)
    assert resumed.keys == whole.keys
    np.testing.assert_array_equal(resumed.points, whole.points)
    np.testing.assert_array_equal(resumed.affine, whole.affine)


def test_warped_cached_targets_equal_the_teacher_run_on_the_augmented_crop(tmp_path):
    from facekd.codecs import HeatmapCodec
    from facekd.data import AugmentConfig, CropDataset, load_dataset
    from facekd.distill.teach import build_targets

    root = _write_tri_pts(tmp_path / "tri", 6)
    card = _card()
    targets, summary = build_targets([DataSource(str(root))], TRI, {"blob": (BlobTeacher(), card)}, batch_size=4,
                                     progress=False)
    assert summary["faces"] == 6 and summary["sources"][DataSource(str(root)).label]["faces"] == 6
    targets = TeacherTargets.load(targets.save(tmp_path / "cache"))
    codec = HeatmapCodec(64, 16, 1.0, decode="dark")
    aug = AugmentConfig(scale=0.2, rotation=40.0, rotation_p=1.0, translate=0.05, flip_p=0.5, color_p=0.0,
                        grayscale_p=0.0, blur_p=0.0, occlusion_p=0.0)
    # crop scale 2: the points stay well inside the crop (a truncated blob at the border biases any decoder)
    ds = CropDataset(load_dataset(str(root), TRI), codec, TRI, augment=aug, seed=5, crop_scale=2.0,
                     targets=TargetSampler(targets, codec, source="test"))
    teacher = BlobTeacher()
    errs, edge_errs, flips = [], [], 0
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            it = ds[i]
            direct, _ = codec.decode(teacher(torch.from_numpy(it["image"])[None]))
            direct = direct[0]
            if it["flipped"]:  # a mirrored crop names its points by the flipped convention
                direct = direct[list(TRI.flip_perm)]
                flips += 1
            err = np.abs(it["t_points"][0] - direct).max(-1)
            keep = ((direct > 10) & (direct < 53)).all(-1)  # away from the crop border (decoder bias there)
            errs += err[keep].tolist()
            edge_errs += err[~keep].tolist()
            assert it["t_heatmap"].shape == (1, 3, 16, 16) and it["t_weight"].shape == (1, 3)
            # the re-encoded heatmap peaks where the warped point is (away from the border, where a truncated
            # Gaussian biases any decoder)
            hm_peak = codec.decode(it["t_heatmap"])[0][0]
            inner = ((it["t_points"][0] > 10) & (it["t_points"][0] < 53)).all(-1)
            assert np.abs(hm_peak - it["t_points"][0])[inner].max(initial=0) < 0.3
    assert flips > 0
    assert len(errs) > 40 and max(errs) < 0.2, f"warped points differ from the teacher on the augmented crop by {max(errs):.2f} px"
    assert max(edge_errs, default=0) < 1.5
    # without augmentation the warp is the identity: the cached points come back (fp16 rounding)
    ds0 = CropDataset(load_dataset(str(root), TRI), codec, TRI, augment=None, crop_scale=2.0,
                      targets=TargetSampler(targets, codec))
    it = ds0[0]
    np.testing.assert_allclose(it["t_points"][0], targets.points[0, 0].astype(np.float32), atol=0.05)
    bad = CropDataset(load_dataset(str(_write_tri_pts(tmp_path / "other", 1, seed=9)), TRI), codec, TRI,
                      augment=None, targets=TargetSampler(targets, codec))
    with pytest.raises(FacekdError, match="not in the teacher targets cache"):
        bad[0]


def test_point_weights_agreement_confidence_inside_and_share():
    k = WeightKnobs(agreement_sigma=0.03, min_confidence=0.5, outside_weight=0.1)
    pts = np.array([[[10.0, 10.0], [20.0, 20.0], [30.0, 30.0], [40.0, 40.0]],
                    [[10.2, 10.0], [35.0, 20.0], [30.0, 30.0], [40.0, 40.0]]])  # point 1: teachers 15 px apart
    conf = np.array([[0.9, 0.9, 0.2, 0.9], [0.9, 0.9, 0.2, 0.9]])
    inside = np.array([[True, True, True, False], [True, True, True, True]])  # point 3 leaves the crop
    w, r, cons = point_weights(pts, conf, inside, 64, None, k)
    assert r[0] > 0.95  # agree, confident, inside
    assert r[1] < 0.01  # disagreement
    assert r[2] == pytest.approx(0.4, abs=1e-3)  # confidence 0.2 / 0.5
    assert r[3] == pytest.approx(0.1, abs=1e-3)  # outside the crop
    np.testing.assert_allclose(w.sum(0), r, rtol=1e-5)
    np.testing.assert_allclose(cons[1], [27.5, 20.0], atol=1e-4)
    # with ground truth, the teacher closer to it gets the larger share of the point's weight
    ref = np.array([[10.0, 10.0], [34.0, 20.0], [np.nan, np.nan], [40.0, 40.0]], dtype=np.float32)
    w2, _, _ = point_weights(pts, conf, inside, 64, ref, k)
    assert w2[1, 1] > 0.9 * w2[:, 1].sum() and w2[0, 0] > w2[1, 0]
    wu, _, _ = point_weights(pts, conf, inside, 64, ref, WeightKnobs(teacher_weighting="uniform"))
    np.testing.assert_allclose(wu[0], wu[1])
    # a single teacher: agreement is 1 and the weight is confidence x inside
    w1, r1, _ = point_weights(pts[:1], conf[:1], inside[:1], 64, None, k)
    np.testing.assert_allclose(r1, [1.0, 1.0, 0.4, 0.1], atol=1e-5)


def test_cached_targets_flow_into_the_kd_term_with_their_weights():
    from facekd.losses.kd import cached_kd_loss

    g = torch.Generator().manual_seed(0)
    s = torch.rand(2, 3, 8, 8, generator=g)
    t = torch.rand(2, 3, 8, 8, generator=g)
    gt = torch.rand(2, 3, 8, 8, generator=g)
    v = torch.tensor([[1.0, 1, 1], [0, 0, 0]])  # the second face has no ground truth
    w = torch.tensor([[1.0, 1, 1], [1, 0, 0.5]])
    out = cached_kd_loss(s, gt, v, [t], [w], w, alpha=0.5)
    mse_t = (s - t).pow(2).mean((2, 3))
    torch.testing.assert_close(out["teacher"], (w * mse_t).mean())
    torch.testing.assert_close(out["gt"], (v * (s - gt).pow(2).mean((2, 3))).mean())
    # a zero-weight point contributes nothing: changing the student there leaves the loss unchanged
    s2 = s.clone()
    s2[1, 1] += 5
    torch.testing.assert_close(cached_kd_loss(s2, gt, v, [t], [w], w)["kd"], out["kd"])


# -- named teachers ---------------------------------------------------------------------------------

def test_named_teachers_and_legacy_migration():
    d = DistillConfig(teachers={"w32": "a", "w18": "b", "slim": "c"}, kd_teachers=["w18", "slim"], cd_teacher="w32",
                      akd_teachers=["w18"], lambda_pl=0.0)
    assert d.validate() == [] and d.needed_teachers() == ["w32", "w18", "slim"]
    d.lambda_cd = 0.0
    assert d.needed_teachers() == ["w18", "slim"]
    d.alpha, d.lambda_akd, d.lambda_pl = 0.0, 0.0, 1.0  # pseudo-labels: the KD teachers' consensus only
    assert d.needed_teachers() == ["w18", "slim"]
    d.kd_teachers = []  # empty: every teacher
    assert d.needed_teachers() == ["w32", "w18", "slim"]
    assert DistillConfig(teachers={"w32": "a"}, kd_teachers=["w18"]).validate()[0].startswith("distill.kd_teachers")
    with pytest.warns(FutureWarning, match="teacher1 is deprecated"):
        old = DistillConfig(teacher1="p1", teacher2="p2", kd_teachers=["t1", "t2"])
    assert old.teachers == {"t1": "p1", "t2": "p2"} and old.teacher1 is None and old.cd_name == "t1"
    assert DistillConfig().lambda_cd == 0.003  # the value measured at heatmap-MSE magnitude
    ramp = DistillConfig(akd_warmup_steps=10, akd_ramp_steps=4)
    assert [ramp.akd_scale(s) for s in (0, 9, 10, 11, 13, 100)] == [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]


def test_any_model_can_be_a_teacher_under_any_name():
    from facekd.distill import Distiller
    from facekd.models import create_model

    torch.manual_seed(0)
    teachers = {"slim16": create_model("hrnet_slim_w16", 5), "w8": create_model("hrnet_slim_w8", 5)}
    cfg = DistillConfig(kd_teachers=["slim16", "w8"], cd_teacher="w8", akd_teachers=["slim16"], lambda_akd=0.01,
                        akd_warmup_steps=0, akd_ramp_steps=0)
    student = create_model("hrnet_slim_w8", 5)
    d = Distiller(cfg, teachers, student)
    assert list(d.discriminators) == ["slim16"]
    batch = {"image": torch.randn(2, 3, 64, 64), "heatmap": torch.rand(2, 5, 16, 16), "weight": torch.ones(2, 5)}
    terms = d.losses(batch, student)
    assert set(terms) == {"kd", "cd", "a_slim16"} and all(torch.isfinite(v) for v in terms.values())
    assert set(d.extra_step(batch)) == {"d_slim16", "lam_slim16"}


class _Tapped(torch.nn.Module):
    """A student whose last heatmaps keep their gradient (to measure each term's pull on them)."""

    def __init__(self, m):
        super().__init__()
        self.m, self.feature_info, self.output_type = m, m.feature_info, m.output_type

    def forward(self, x, return_features=False):
        self.out = self.m(x)
        return self.out


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5])
def test_adversarial_pull_on_the_student_is_capped_at_a_share_of_the_rest(ratio):
    from facekd.distill import Distiller
    from facekd.models import create_model

    torch.manual_seed(0)
    student = _Tapped(create_model("hrnet_slim_w8", 5))
    cfg = DistillConfig(kd_teachers=["t"], akd_teachers=["t"], lambda_cd=0.0, lambda_akd=1.0, akd_warmup_steps=0,
                        akd_ramp_steps=0, akd_grad_ratio=ratio)
    d = Distiller(cfg, {"t": create_model("hrnet_slim_w8", 5)}, student)
    batch = {"image": torch.randn(2, 3, 64, 64), "heatmap": torch.rand(2, 5, 16, 16), "weight": torch.ones(2, 5)}
    terms = d.losses(batch, student)
    pull = {k: float(torch.autograd.grad(v, student.out, retain_graph=True)[0].norm()) for k, v in terms.items()}
    lam = d.extra_step(batch)["lam_t"]
    if ratio == 0:  # unbalanced, λ 1: the discriminator pulls harder than the heatmap KD
        assert lam == 1.0 and pull["a_t"] > 2 * pull["kd"], pull
    else:
        assert lam < 1.0 and pull["a_t"] == pytest.approx(ratio * pull["kd"], rel=1e-3), pull


# -- end to end: teach -> distill --targets ----------------------------------------------------------

def _save_teacher(out: Path, model_name: str, size: int = 32) -> Path:
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for, create_model, save_model
    from facekd.schemes import get_scheme

    torch.manual_seed(1)
    m = create_model(model_name, 68, **TINY_OVERRIDES)
    save_model(out, m, card_for(m, scheme=get_scheme("ibug68"), input_size=size, codec=HeatmapCodec(size, size // 4, 1.0)))
    return out


TINY_OVERRIDES = {"num_stages": 2, "stage_modules": [1], "stage_blocks": [1], "stage1_blocks": 1, "width": 4,
                  "stem_width": 8, "stage1_width": 8, "head_channels": 16}


def test_teach_then_distill_from_the_cache_with_an_unlabelled_pool(tmp_path, capsys):
    from facekd.cli import main

    train = make_pts_dataset(tmp_path / "train", 8, seed=1)
    val = make_pts_dataset(tmp_path / "val", 4, seed=2)
    pool = _image_folder(tmp_path / "pool", n=4, size=64)
    d = tiny_config(train, val)
    d["data"]["train"] = [{"path": str(train), "name": "lab"}, {"path": str(pool), "labelled": False, "name": "pool"}]
    d["data"]["epoch_size"] = 8
    d["distill"] = {"teachers": {"a": str(_save_teacher(tmp_path / "ta", "hrnet_slim_w8")),
                                 "b": str(_save_teacher(tmp_path / "tb", "hrnet_slim_w8"))},
                    "lambda_pl": 0.5, "lambda_akd": 0.0}
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(d))
    cache = tmp_path / "cache"
    assert main(["teach", "--config", str(cfg_path), "--out", str(cache), "--no-progress", "--batch-size", "5"]) == 0
    out = capsys.readouterr().out
    assert "12 faces x 2 teacher(s)" in out and "pool: 4 faces (unlabelled)" in out
    summary = json.loads((cache / "summary.json").read_text())
    assert summary["sources"]["lab"]["faces"] == 8 and 0 <= summary["low_weight_share"] <= 1
    assert (cache / "preview.png").stat().st_size > 5000  # crops with the consensus coloured by weight
    assert not (cache / "parts").exists()  # the chunks of the run are removed once the cache is written
    # never overwritten without being asked
    assert main(["teach", "--config", str(cfg_path), "--out", str(cache), "--no-progress"]) == 2
    assert "--force" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["distill", "--config", str(cfg_path), "--out", str(run), "--targets", str(cache),
                 "--set", "runtime.max_steps=4", "--set", "runtime.log_every=1"]) == 0
    rows = list(csv.DictReader(open(run / "train_log.csv")))
    assert {"kd", "cd", "pl"} <= set(rows[0]) and all(math.isfinite(float(r["loss"])) for r in rows)
    # the same config without the cache (and the pool) trains with live teachers
    assert main(["distill", "--config", str(cfg_path), "--out", str(tmp_path / "live"),
                 "--set", f"data.train={train}", "--set", "distill.lambda_pl=0", "--set", "runtime.max_steps=2"]) == 0


# -- the adversarial term does not diverge -------------------------------------------------------------

def _oracle_cache(cfg: TrainConfig, out: Path) -> Path:
    """A targets cache whose one teacher ('gt') answers the ground truth (confidence 1)."""
    from facekd.codecs import HeatmapCodec
    from facekd.data import CropDataset, load_dataset

    base = load_dataset(cfg.data.train, scheme=cfg.data.scheme)
    crops = CropDataset(base, None, cfg.data.scheme, augment=None, input_size=cfg.data.input_size, with_key=True)
    from facekd.data.base import transform_points
    from facekd import kernels

    pts, aff, wh, keys = [], [], [], []
    for i in range(len(crops)):
        it = crops[i]
        pts.append(transform_points(it["landmarks"], kernels.affine_invert(it["affine"])))
        aff.append(it["affine"])
        wh.append(it["image_wh"])
        keys.append(it["key"])
    p = np.stack(pts)[None].astype(np.float16)
    meta = {"teachers": [{"name": "gt"}], "input_size": cfg.data.input_size}
    tt = TeacherTargets(meta, p, np.ones(p.shape[:3], np.float16), np.stack(aff), np.stack(wh), keys)
    return tt.save(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adversarial_term_with_stabilisers_does_not_diverge(tmp_path, seed):
    from facekd.commands.distill import build_task
    from facekd.engine.trainer import train as run_train

    tr = make_pts_dataset(tmp_path / "train", 16, seed=1)
    va = make_pts_dataset(tmp_path / "val", 6, seed=2)
    base = tiny_config(tr, va, schedule__epochs=6, runtime__val_every=6, runtime__log_every=1)
    base["seed"] = seed
    gt = run_train(load_config(None, base=base), tmp_path / "gt")
    cache = _oracle_cache(load_config(None, base=base), tmp_path / "cache")
    adv = dict(base)
    adv["distill"] = {"targets": str(cache), "alpha": 0.0, "lambda_cd": 0.0, "lambda_akd": 0.05,
                      "akd_warmup_steps": 4, "akd_ramp_steps": 8, "disc_width": 8, "disc_layers": 2}
    cfg = load_config(None, base=adv)
    res = run_train(cfg, tmp_path / "adv", task=build_task(cfg))
    rows = list(csv.DictReader(open(tmp_path / "adv" / "train_log.csv")))
    a = [float(r["a_gt"]) for r in rows]
    assert all(math.isfinite(float(r["loss"])) for r in rows) and all(math.isfinite(v) for v in a)
    assert a[0] == 0.0 and max(a) > 0  # off during warm-up, on afterwards
    assert all(math.isfinite(float(r["d_gt"])) for r in rows)
    assert res.best_nme is not None and math.isfinite(res.best_nme)
    assert res.best_nme < 1.5 * gt.best_nme + 0.02, (res.best_nme, gt.best_nme)


def test_ablate_rows_from_a_cache_gt_drops_the_pool_and_pseudo_uses_it(tmp_path, capsys):
    from facekd.cli import main

    train = make_pts_dataset(tmp_path / "train", 8, seed=1)
    val = make_pts_dataset(tmp_path / "val", 4, seed=2)
    pool = _image_folder(tmp_path / "pool", n=4, size=64)
    d = tiny_config(train, val)
    d["data"]["train"] = [{"path": str(train), "name": "lab"}, {"path": str(pool), "labelled": False, "name": "pool"}]
    d["data"]["epoch_size"] = 8
    d["distill"] = {"teachers": {"a": str(_save_teacher(tmp_path / "ta", "hrnet_slim_w8"))}, "akd_warmup_steps": 0}
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(d))
    assert main(["teach", "--config", str(cfg_path), "--out", str(tmp_path / "cache"), "--no-progress"]) == 0
    # without a cache the pseudo-label row cannot run: refused before any training
    base = ["ablate", "--config", str(cfg_path), "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "rep"),
            "--seeds", "0", "--set", "runtime.max_steps=2", "--set", "runtime.log_every=1"]
    assert main(base + ["--rows", "gt,pseudo"]) == 2
    assert "pseudo-labels come from a teacher targets cache" in capsys.readouterr().err
    assert main(base + ["--rows", "gt,pseudo,full", "--targets", str(tmp_path / "cache")]) == 0
    gt_cfg = yaml.safe_load((tmp_path / "runs" / "gt" / "seed0" / "config.yaml").read_text())
    assert [s["name"] for s in gt_cfg["data"]["train"]] == ["lab"] and gt_cfg["distill"] is None
    head = lambda row: (tmp_path / "runs" / row / "seed0" / "train_log.csv").read_text().splitlines()[0].split(",")
    assert "pl" in head("pseudo") and "kd" in head("pseudo") and "cd" not in head("pseudo")
    assert {"kd", "cd", "a_a", "d_a"} <= set(head("full"))
    md = (tmp_path / "rep" / "ablation.md").read_text()
    assert "| GT + pseudo-labels (no KD) | 1 |" in md and "`pool` (unlabelled)" in md
    # the report names the cache the runs read (--targets), not the config's distill.targets (none here)
    assert f"targets cache `{tmp_path / 'cache'}`" in md
