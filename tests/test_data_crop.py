"""CropDataset + AugmentConfig: geometry through the crop kernel, flips, determinism, bad samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facekd import kernels
from facekd.codecs import HeatmapCodec
from facekd.data import AugmentConfig, CropDataset, DataError, Pts300W, load_dataset
from facekd.errors import FacekdError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLES = SHARED / "data" / "samples"
YTF = SHARED / "data" / "ytf68"

NO_PHOTO = dict(color_p=0.0, grayscale_p=0.0, blur_p=0.0, occlusion_p=0.0)


@pytest.fixture(scope="module")
def val():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    return load_dataset(YTF / "val")


def _synthetic(tmp_path: Path, n=6, corrupt=()):
    """Faces on a textured background with a 68-point layout (a .pts folder)."""
    rng = np.random.default_rng(0)
    base = rng.uniform(-1, 1, size=(68, 2)) * [30, 36]
    for i in range(n):
        img = (rng.random((120, 100, 3)) * 255).astype(np.uint8)
        pts = base + [50 + i, 60 - i] + 1.0  # .pts are 1-based
        body = "".join(f"{x:.3f} {y:.3f}\n" for x, y in pts)
        (tmp_path / f"f{i}.pts").write_text(f"version: 1\nn_points:  68\n{{\n{body}}}\n")
        if i in corrupt:
            (tmp_path / f"f{i}.jpg").write_bytes(b"\xff\xd8\xff broken")
        else:
            Image.fromarray(img).save(tmp_path / f"f{i}.png")
    return Pts300W(tmp_path)


def test_eval_crop_targets_decode_back_to_the_ground_truth(val):
    codec = HeatmapCodec(256, 64, 1.5, "dark")
    ds = CropDataset(val, codec)
    for i in (0, 100, 427):
        it = ds[i]
        assert it["image"].shape == (3, 256, 256) and it["image"].dtype == np.float32
        assert it["heatmap"].shape == (68, 64, 64) and it["weight"].shape == (68,)
        assert it["affine"].shape == (2, 3) and not it["flipped"] and it["skipped"] == 0
        np.testing.assert_array_equal(it["landmarks"], val[i]["landmarks"])
        dec, _ = codec.decode(it["heatmap"][None], it["affine"][None])
        scale = np.hypot(*it["affine"][:, 0])  # image pixels per crop pixel
        assert np.abs(dec[0] - it["landmarks"]).max() < 0.05 * codec.stride * scale


def test_crop_is_the_kernel_crop_of_the_landmark_box(val):
    codec = HeatmapCodec(128, 32, 1.5)
    it = CropDataset(val, codec, crop_scale=1.3)[5]
    src = val[5]
    box, _ = kernels.box_from_landmarks(src["landmarks"])
    crop, affine = kernels.crop_box(src["image"], box, 128, scale=1.3)
    np.testing.assert_allclose(it["affine"], affine, atol=1e-4)
    np.testing.assert_allclose(it["image"], crop, atol=1e-5)
    # the normalisation is ImageNet mean/std
    assert it["image"].min() >= (0 - max(kernels.IMAGENET_MEAN)) / min(kernels.IMAGENET_STD) - 1e-4


def test_flip_mirrors_the_crop_and_permutes_the_targets(val):
    codec = HeatmapCodec(128, 32, 1.0)
    plain = CropDataset(val, codec, augment=AugmentConfig.none())
    flipped = CropDataset(val, codec, augment=AugmentConfig(**{**AugmentConfig.none().to_dict(), "flip_p": 1.0}))
    perm = list(val.scheme.flip_perm)
    for i in (3, 200):
        a, b = plain[i], flipped[i]
        assert not a["flipped"] and b["flipped"]
        # the flipped crop is the mirror image of the plain crop (bilinear sampling at mirrored points)
        np.testing.assert_allclose(b["image"], a["image"][:, :, ::-1], atol=1e-4)
        # channel k of the flipped target = mirrored channel perm[k] of the plain target
        np.testing.assert_allclose(b["heatmap"], a["heatmap"][perm][:, :, ::-1], atol=1e-5)
        np.testing.assert_array_equal(b["landmarks"], a["landmarks"])  # GT stays unflipped
        # decoding the flipped targets through the flipped affine gives the permuted ground truth
        dec, _ = codec.decode(b["heatmap"][None], b["affine"][None])
        np.testing.assert_allclose(dec[0], a["landmarks"][perm], atol=0.3)


def test_flipped_real_faces_keep_right_eye_on_the_image_left():
    if not SHARED.is_dir():
        pytest.skip("../shared not found")
    codec = HeatmapCodec(128, 32, 1.0)
    cfg = AugmentConfig(**{**AugmentConfig.none().to_dict(), "flip_p": 1.0})
    n = 0
    for src in ["300w", "wflw", "cofw/test_cofw.json", "aflw/test_aflw.json", "menpo"]:
        base = load_dataset(SAMPLES / src)
        s = base.scheme
        ds = CropDataset(base, codec, augment=cfg)
        for i in range(len(ds)):
            it = ds[i]
            inv = kernels.affine_invert(it["affine"])
            # where the heatmap targets are, in crop pixels
            dec, _ = codec.decode(it["heatmap"][None])
            r = dec[0, list(s.groups["right_eye"])].mean(0)
            l_ = dec[0, list(s.groups["left_eye"])].mean(0)
            assert r[0] < l_[0], (src, i)
            # and they sit on the mirrored image positions of the partner points
            gt_crop = kernels.points_transform(it["landmarks"], inv)
            np.testing.assert_allclose(dec[0], gt_crop[list(s.flip_perm)], atol=0.3)
            n += 1
    assert n >= 13


def test_augmentation_is_deterministic_per_seed_epoch_index(val):
    codec = HeatmapCodec(64, 16, 1.0)
    a = CropDataset(val, codec, augment=AugmentConfig(), seed=3)
    b = CropDataset(val, codec, augment=AugmentConfig(), seed=3)
    for i in (0, 7):
        x, y = a[i], b[i]
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["affine"], y["affine"])
    before = a[7]["affine"]
    a.set_epoch(1)
    assert a.epoch == 1
    assert not np.array_equal(a[7]["affine"], before)
    c = CropDataset(val, codec, augment=AugmentConfig(), seed=4)
    assert not np.array_equal(c[7]["affine"], before)


def test_dataloader_workers_match_a_single_process(val):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, Subset

    codec = HeatmapCodec(64, 16, 1.0)
    ds = CropDataset(val, codec, augment=AugmentConfig(), seed=1)
    sub = Subset(ds, list(range(8)))
    loader = DataLoader(sub, batch_size=4, num_workers=2, persistent_workers=True)
    ds.set_epoch(0)
    e0 = torch.cat([b["image"] for b in loader])
    ds.set_epoch(5)
    e5 = torch.cat([b["image"] for b in loader])  # the persistent workers see the new epoch
    single = np.stack([ds[i]["image"] for i in range(8)])
    np.testing.assert_array_equal(e5.numpy(), single)
    assert not torch.equal(e0, e5)


def test_augmentation_ranges(val):
    codec = HeatmapCodec(64, 16, 1.0)
    cfg = AugmentConfig(**{**AugmentConfig().to_dict(), **NO_PHOTO})
    ds = CropDataset(val, codec, augment=cfg)
    plain = CropDataset(val, codec)
    scales, rots, flips = [], [], []
    for i in range(0, 400, 4):
        a = ds[i]["affine"]
        p = plain[i]["affine"]
        scales.append(np.hypot(*a[:, 0]) / np.hypot(*p[:, 0]))
        flips.append(ds[i]["flipped"])
        # the crop's v axis (unaffected by the mirror) is (-sin r, cos r) * scale in the image
        rots.append(np.degrees(np.arctan2(-a[0, 1], a[1, 1])))
    scales, rots = np.array(scales), np.abs(np.array(rots))
    assert scales.min() >= 0.75 - 1e-4 and scales.max() <= 1.25 + 1e-4 and np.ptp(scales) > 0.3
    assert rots.max() <= 30 + 1e-3 and 0.4 < (rots > 1e-3).mean() < 0.8   # rotation_p = 0.6
    assert 0.3 < np.mean(flips) < 0.7


def test_photometric_changes_pixels_not_geometry(val):
    codec = HeatmapCodec(64, 16, 1.0)
    geo = {k: 0.0 for k in ("scale", "rotation", "translate", "flip_p", "rotation_p")}
    photo = CropDataset(val, codec, augment=AugmentConfig(**{**AugmentConfig().to_dict(), **geo,
                                                             "color_p": 1.0, "occlusion_p": 1.0}))
    plain = CropDataset(val, codec)
    a, b = photo[2], plain[2]
    np.testing.assert_allclose(a["affine"], b["affine"], atol=1e-5)
    np.testing.assert_array_equal(a["heatmap"], b["heatmap"])
    assert np.abs(a["image"] - b["image"]).mean() > 0.05


def test_box_jitter_and_annotation_boxes(val):
    codec = HeatmapCodec(64, 16, 1.0)
    a = CropDataset(val, codec, box_jitter=0.1)[0]["affine"]
    b = CropDataset(val, codec)[0]["affine"]
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, CropDataset(val, codec, box_jitter=0.1)[0]["affine"])  # reproducible
    if SHARED.is_dir():
        wflw = load_dataset(SAMPLES / "wflw")
        item_box = CropDataset(wflw, codec, box_from="item")[0]["affine"]
        expect = kernels.box_to_affine(wflw.records[0].box, scale=1.25, out_size=64)
        np.testing.assert_allclose(item_box, expect, atol=1e-4)


def test_bad_samples_skip_in_training_and_raise_in_evaluation(tmp_path):
    base = _synthetic(tmp_path, corrupt=(2,))
    bad = [i for i, r in enumerate(base.records) if r.image_path.endswith("f2.jpg")][0]
    codec = HeatmapCodec(64, 16, 1.0)
    with pytest.raises(DataError, match="f2.jpg: cannot read image"):
        CropDataset(base, codec)[bad]
    train = CropDataset(base, codec, augment=AugmentConfig())
    it = train[bad]
    assert it["skipped"] == 1 and it["index"] == (bad + 1) % len(base)
    assert "f2.jpg" in train.summary() and sum(train.skipped.values()) == 1
    assert all(train[i]["skipped"] == 0 for i in range(len(base)) if i != bad)


def test_unusable_crop_is_reported_as_data_error(tmp_path):
    base = _synthetic(tmp_path, n=2)
    base.records[0].landmarks[:] = base.records[0].landmarks + 5000  # far outside the image
    with pytest.raises(DataError, match="f0.png: face box .* lies outside the 100x120 image"):
        CropDataset(base, HeatmapCodec(64, 16, 1.0), box_from="landmarks")[0]


def test_configuration_errors(val):
    codec = HeatmapCodec(64, 16, 1.0)
    with pytest.raises(FacekdError, match="scheme 'wflw98' has 98 points"):
        CropDataset(val, codec, scheme="wflw98")
    with pytest.raises(FacekdError, match="box_from"):
        CropDataset(val, codec, box_from="detector")
    with pytest.raises(FacekdError, match="flip_p must be a probability"):
        AugmentConfig(flip_p=1.5)
    with pytest.raises(FacekdError, match="unknown key"):
        AugmentConfig.from_dict({"flip": 0.5})
    cfg = AugmentConfig(rotation=20.0, blur_sigma=(0.3, 1.0))
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    no_codec = CropDataset(val, None, input_size=96)[0]
    assert no_codec["image"].shape == (3, 96, 96) and "heatmap" not in no_codec


# -- the decoded-image cache ($FACEKD_IMAGE_CACHE_MB) ------------------------------------------------

def test_image_cache_keeps_decoded_images_read_only_within_its_budget(tmp_path, monkeypatch):
    from PIL import Image

    from facekd.data import base
    from facekd.errors import FacekdError

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    monkeypatch.setattr(base, "_CACHE", {})
    monkeypatch.setattr(base, "_CACHE_BYTES", [0])
    monkeypatch.delenv(base.IMAGE_CACHE_ENV, raising=False)
    plain = base.load_image(paths[0])
    assert base._CACHE == {}  # unset: no cache
    monkeypatch.setenv(base.IMAGE_CACHE_ENV, str(2.5 * 40 * 50 * 3 / 2 ** 20))  # room for two images
    a = base.load_image(paths[0])
    assert base.load_image(paths[0]) is a and not a.flags.writeable  # kept, and callers cannot write into it
    np.testing.assert_array_equal(a, plain)  # the same pixels
    base.load_image(paths[1])
    c = base.load_image(paths[2])  # over the budget: decoded, not kept
    assert str(paths[2]) not in base._CACHE and len(base._CACHE) == 2
    np.testing.assert_array_equal(c, base._decode(paths[2]))
    monkeypatch.setenv(base.IMAGE_CACHE_ENV, "lots")
    with pytest.raises(FacekdError, match="FACEKD_IMAGE_CACHE_MB"):
        base.load_image(paths[0])


def test_training_with_the_image_cache_and_persistent_workers_gives_the_same_run(tmp_path, monkeypatch):
    import csv

    from facekd.config import TrainConfig
    from facekd.data import base
    from facekd.engine.trainer import Trainer
    from test_trainer import make_pts_dataset, tiny_config

    train = make_pts_dataset(tmp_path / "train", 8, seed=1)
    val = make_pts_dataset(tmp_path / "val", 4, seed=2)
    losses = {}
    for cache in ("", "64"):
        monkeypatch.setenv(base.IMAGE_CACHE_ENV, cache)
        d = tiny_config(train, val)
        d["data"]["workers"] = 1
        d["schedule"]["epochs"] = 2
        cfg = TrainConfig.from_dict(d)
        out = tmp_path / f"run{cache or 'plain'}"
        trainer = Trainer(cfg, out)
        trainer.fit()
        assert not trainer._persistent_loaders  # the workers end with the run
        losses[cache] = [r["loss"] for r in csv.DictReader(open(out / "train_log.csv"))]
    assert losses[""] == losses["64"] and len(losses[""]) >= 2  # the same samples, the same run
