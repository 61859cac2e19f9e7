"""Robustness tooling: corruptions (effect, monotone severity, determinism, geometry), FGSM / PGD
(budget, loss increase), the `facekd robust` runner and its report, adversarial training."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from facekd import kernels
from facekd.errors import FacekdError
from facekd.robust.corruptions import (CORRUPTIONS, GEOMETRY_CORRUPTIONS, IMAGE_CORRUPTIONS, SEVERITIES,
                                       CorruptionError, corrupt_image, psnr)
from facekd.schemes import get_scheme

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_trainer import TINY_MODEL, make_pts_dataset, tiny_config  # noqa: E402

SCHEME = get_scheme("ibug68")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: one thread avoids OpenMP oversubscription on a shared machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


_PARTS = {"right_brow": (-0.4, -0.55), "left_brow": (0.4, -0.55), "right_eye": (-0.4, -0.3),
          "left_eye": (0.4, -0.3), "nose": (0.0, 0.05), "mouth": (0.0, 0.5)}


def _layout(scheme) -> np.ndarray:
    """A face-like layout in [-1, 1]^2 from the scheme's groups: each part's points on a small
    ellipse at its place, the jaw on a U below."""
    pts = np.zeros((scheme.num_points, 2))
    for name, idx in scheme.groups.items():
        t = np.linspace(0, 2 * np.pi, len(idx), endpoint=False)
        if name == "jaw":
            a = np.linspace(np.pi * 0.05, np.pi * 0.95, len(idx))
            pts[list(idx)] = np.stack([-0.9 * np.cos(a), 0.1 + 0.8 * np.sin(a)], axis=1)
        elif name in _PARTS:
            cx, cy = _PARTS[name]
            pts[list(idx)] = np.stack([cx + 0.12 * np.cos(t), cy + 0.06 * np.sin(t)], axis=1)
    return pts


def _face(size: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured RGB image with a face-like point layout: (image, landmarks [K, 2], box)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.stack([120 + 60 * np.sin(xx / 7.0 + c) * np.cos(yy / 11.0 - c) for c in range(3)], axis=-1)
    img += rng.normal(0, 12, img.shape)
    pts = _layout(SCHEME) * size * 0.35 + size / 2
    for x, y in pts:  # dark dots at the points, as edges to blur
        img[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2] = 20
    box = kernels.box_from_landmarks(pts.astype(np.float32))[0]
    return np.clip(img, 0, 255).astype(np.uint8), pts.astype(np.float32), box


# -- image corruptions ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", IMAGE_CORRUPTIONS)
def test_image_corruption_changes_image_and_severity_is_monotone(name):
    img, pts, box = _face()
    outs = [corrupt_image(img, name, s, np.random.default_rng(7), box=box, landmarks=pts, scheme=SCHEME)
            for s in SEVERITIES]
    for out in outs:
        assert out.dtype == np.uint8 and out.shape == img.shape
    p = [psnr(img, out) for out in outs]
    assert math.isfinite(p[0]), f"{name} severity 1 left the image unchanged"
    assert all(a > b for a, b in zip(p, p[1:])), f"{name}: PSNR not decreasing with severity: {p}"


@pytest.mark.parametrize("name", ["gaussian_noise", "motion_blur", "occlusion_eyes"])
def test_image_corruptions_are_deterministic_given_the_rng(name):
    img, pts, box = _face()
    a = corrupt_image(img, name, 3, np.random.default_rng(5), box=box, landmarks=pts, scheme=SCHEME)
    b = corrupt_image(img, name, 3, np.random.default_rng(5), box=box, landmarks=pts, scheme=SCHEME)
    c = corrupt_image(img, name, 3, np.random.default_rng(6), box=box, landmarks=pts, scheme=SCHEME)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name, covered, other", [("occlusion_eyes", ("right_eye", "left_eye"), "mouth"),
                                                  ("occlusion_mouth", ("mouth",), "right_eye")])
def test_occluder_covers_its_region_only(name, covered, other):
    img, pts, box = _face()
    out = corrupt_image(img, name, 1, np.random.default_rng(3), box=box, landmarks=pts, scheme=SCHEME)
    changed = np.any(out != img, axis=-1)
    idx = [i for g in covered for i in SCHEME.groups[g]]
    for x, y in pts[idx]:
        xi, yi = int(round(x)), int(round(y))
        assert (out[yi, xi] == out[int(round(pts[idx[0], 1])), int(round(pts[idx[0], 0]))]).all()
    for x, y in pts[list(SCHEME.groups[other])]:
        assert not changed[int(round(y)), int(round(x))], f"{name} covered {other}"


def test_occlusion_needs_the_scheme_groups():
    from facekd.schemes import LandmarkScheme

    img, pts, box = _face()
    bare = LandmarkScheme(name="bare68", num_points=SCHEME.num_points, flip_perm=SCHEME.flip_perm,
                          eye_corners=SCHEME.eye_corners)
    with pytest.raises(CorruptionError, match="no group"):
        corrupt_image(img, "occlusion_mouth", 1, np.random.default_rng(0), box=box, landmarks=pts, scheme=bare)
    with pytest.raises(CorruptionError, match="landmarks"):
        corrupt_image(img, "occlusion_eyes", 1, np.random.default_rng(0), box=box)


def test_corruption_argument_errors():
    img, _, box = _face()
    rng = np.random.default_rng(0)
    with pytest.raises(CorruptionError, match="unknown corruption"):
        corrupt_image(img, "fog", 1, rng)
    for bad in (0, 6, 2.5, True):
        with pytest.raises(CorruptionError, match="severity"):
            corrupt_image(img, "jpeg", bad, rng)
    with pytest.raises(CorruptionError, match="uint8 RGB"):
        corrupt_image(img.astype(np.float32), "jpeg", 1, rng)
    with pytest.raises(CorruptionError, match="use corrupt_geometry"):
        corrupt_image(img, "rotation", 1, rng)
    with pytest.raises(CorruptionError, match="positive side"):
        corrupt_image(img, "motion_blur", 1, rng, box=[0, 0, 0, 0])


# -- geometry corruptions -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synth_faces(tmp_path_factory):
    from facekd.data import load_dataset

    root = make_pts_dataset(tmp_path_factory.mktemp("robust") / "faces", 6, size=64, seed=4)
    return root, load_dataset(str(root), scheme="ibug68")


def _crops(data, corruption, severity, seed=0, size=32):
    from facekd.robust.runner import CorruptedCrops

    return CorruptedCrops(data, None, data.scheme, corruption=corruption, severity=severity, seed=seed,
                          crop_scale=1.25, input_size=size)


def test_rotation_turns_the_crop_by_the_severity_angle(synth_faces):
    _, data = synth_faces
    level = CORRUPTIONS["rotation"].levels
    item = data[0]
    box = kernels.box_from_landmarks(item["landmarks"])[0]
    clean = _crops(data, None, 1)[0]["affine"]
    np.testing.assert_allclose(clean, kernels.box_to_affine(box, scale=1.25, out_size=32), atol=1e-5)
    signs = set()
    for s in SEVERITIES:
        crops = _crops(data, "rotation", s)
        a = crops[0]["affine"]
        angle = math.degrees(math.atan2(a[1, 0], a[0, 0]))  # the crop's x axis in the image
        assert abs(abs(angle) - level[s - 1]) < 1e-3, (s, angle)
        signs.add(np.sign(angle))
        rot = crops.geometry_params(0)["rotation"]
        np.testing.assert_allclose(a, kernels.box_to_affine(box, scale=1.25, rotation=rot, out_size=32), atol=1e-5)
        # rotation is about the box centre: the crop centre still maps to it
        centre = a @ np.array([15.5, 15.5, 1.0])
        np.testing.assert_allclose(centre, [box[0] + box[2] / 2, box[1] + box[3] / 2], atol=1e-3)
    assert len(signs) == 1, "the rotation sign must not depend on the severity"
    assert {np.sign(_crops(data, "rotation", 1).geometry_params(i)["rotation"]) for i in range(6)} == {-1.0, 1.0}


def test_box_jitter_moves_edges_within_the_severity_fraction(synth_faces):
    _, data = synth_faces
    item = data[2]
    x, y, w, h = (float(v) for v in kernels.box_from_landmarks(item["landmarks"])[0])
    shifts = []
    for s in SEVERITIES:
        f = CORRUPTIONS["box_jitter"].levels[s - 1]
        crops = _crops(data, "box_jitter", s)
        g = crops.geometry_params(2)
        assert g["box_jitter"] == f and np.all(np.abs(g["u"]) <= 1)
        d = g["u"] * f * np.array([w, h, w, h])
        jittered = np.array([x + d[0], y + d[1], w + d[2] - d[0], h + d[3] - d[1]], np.float32)
        a = crops[2]["affine"]
        np.testing.assert_allclose(a, kernels.box_to_affine(jittered, scale=1.25, out_size=32), atol=1e-4)
        # implied box: centre moves by at most f * side, side within (1 +- 2f) * side
        centre = a @ np.array([15.5, 15.5, 1.0])
        dc = centre - [x + w / 2, y + h / 2]
        assert abs(dc[0]) <= f * w + 1e-4 and abs(dc[1]) <= f * h + 1e-4
        side = math.hypot(a[0, 0], a[1, 0]) * 32 / 1.25
        assert (1 - 2 * f) * max(w, h) - 1e-3 <= side <= (1 + 2 * f) * max(w, h) + 1e-3
        shifts.append(np.abs(dc).sum())
        assert np.array_equal(crops.geometry_params(2)["u"], _crops(data, "box_jitter", 1).geometry_params(2)["u"])
    assert shifts[0] > 0 and all(a < b for a, b in zip(shifts, shifts[1:])), shifts


# -- attacks --------------------------------------------------------------------------------------

def _tiny_model(k: int = 68):
    from facekd.models import create_model

    torch.manual_seed(0)
    model = create_model(TINY_MODEL["name"], k, **TINY_MODEL["overrides"])
    # an untrained model's heatmaps are ~1e-8 (near-zero head, unset BN statistics): give it
    # BN statistics and a head with weight, so that its loss responds to the input
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(torch.randn(8, 3, 32, 32))
        model.get_submodule(model.output_layer).weight.normal_(0.0, 0.3)
    return model.eval()


def _attack_batch(synth_faces):
    from facekd.codecs import HeatmapCodec
    from facekd.data import CropDataset
    from facekd.robust.attacks import denormalize

    _, data = synth_faces
    codec = HeatmapCodec(32, 8, 1.0)
    crops = CropDataset(data, codec, augment=None, strict=True)
    items = [crops[i] for i in range(4)]
    x = torch.from_numpy(np.stack([it["image"] for it in items]))
    hm = torch.from_numpy(np.stack([it["heatmap"] for it in items]))
    w = torch.from_numpy(np.stack([it["weight"] for it in items]))
    return denormalize(x, kernels.IMAGENET_MEAN, kernels.IMAGENET_STD).clamp(0, 1), hm, w


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
@pytest.mark.parametrize("eps_pixels", [2.0, 8.0])
def test_attacks_stay_within_epsilon_and_increase_the_loss(synth_faces, attack, eps_pixels):
    from facekd.robust.attacks import fgsm, landmark_loss, normalize, pgd

    model = _tiny_model()
    x01, hm, w = _attack_batch(synth_faces)
    loss = landmark_loss("heatmap", hm, w)
    eps = eps_pixels / 255
    mean, std = kernels.IMAGENET_MEAN, kernels.IMAGENET_STD
    if attack == "fgsm":
        adv = fgsm(model, x01, loss, eps, mean=mean, std=std)
    else:
        adv = pgd(model, x01, loss, eps, steps=5, mean=mean, std=std, generator=torch.Generator().manual_seed(0))
    delta = (adv - x01).abs()
    assert delta.max() <= eps + 1e-6 and delta.max() > 0.5 * eps
    assert adv.min() >= 0 and adv.max() <= 1
    # in the normalised input the budget is eps / std per channel
    dn = (normalize(adv, mean, std) - normalize(x01, mean, std)).abs().amax(dim=(0, 2, 3))
    assert torch.all(dn <= torch.tensor(std).reciprocal() * eps + 1e-5)
    with torch.no_grad():
        clean_loss = float(loss(model(normalize(x01, mean, std))))
        adv_loss = float(loss(model(normalize(adv, mean, std))))
    assert adv_loss > clean_loss, (attack, clean_loss, adv_loss)


def test_fgsm_from_gradient_equals_fgsm(synth_faces):
    from facekd.robust.attacks import fgsm, fgsm_from_gradient, input_gradient, landmark_loss

    model = _tiny_model()
    x01, hm, w = _attack_batch(synth_faces)
    loss = landmark_loss("heatmap", hm, w)
    g = input_gradient(model, x01, loss, mean=kernels.IMAGENET_MEAN, std=kernels.IMAGENET_STD)
    for eps in (1 / 255, 4 / 255):
        torch.testing.assert_close(fgsm_from_gradient(x01, g, eps),
                                   fgsm(model, x01, loss, eps, mean=kernels.IMAGENET_MEAN, std=kernels.IMAGENET_STD))


def test_attack_argument_errors(synth_faces):
    from facekd.robust.attacks import landmark_loss, linf_attack

    x01, hm, w = _attack_batch(synth_faces)
    loss = landmark_loss("heatmap", hm, w)
    with pytest.raises(FacekdError, match="epsilon"):
        linf_attack(_tiny_model(), x01, loss, float("nan"), steps=1, step_size=0.1, random_start=False,
                    mean=kernels.IMAGENET_MEAN, std=kernels.IMAGENET_STD)
    with pytest.raises(FacekdError, match="steps"):
        linf_attack(_tiny_model(), x01, loss, 0.1, steps=0, step_size=0.1, random_start=False,
                    mean=kernels.IMAGENET_MEAN, std=kernels.IMAGENET_STD)
    with pytest.raises(FacekdError, match="output_type"):
        landmark_loss("segmentation", hm, w)


# -- runner ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for, save_model

    out = tmp_path_factory.mktemp("robust_model") / "tiny"
    model = _tiny_model()
    save_model(out, model, card_for(model, scheme=SCHEME, input_size=32, codec=HeatmapCodec(32, 8, 1.0)))
    return out


def test_robust_command_writes_its_tables(synth_faces, saved_model, tmp_path):
    from facekd.cli import main

    root, _ = synth_faces
    out = tmp_path / "rob"
    rc = main(["robust", "--model", str(saved_model), "--model", str(saved_model), "--name", "a", "--name", "b",
               "--data", str(root), "--out", str(out), "--corruptions", "jpeg,occlusion_mouth,box_jitter",
               "--severities", "1,4", "--epsilons", "2,8", "--pgd-steps", "2", "--attack-faces", "3",
               "--threads", "1", "--quiet"])
    assert rc == 0
    rep = json.loads((out / "robustness.json").read_text())
    assert set(rep["models"]) == {"a", "b"}
    assert rep["settings"]["faces"] == 6 and rep["settings"]["attack_faces"] == 3
    a = rep["models"]["a"]
    assert set(a["corruptions"]) == {"jpeg", "occlusion_mouth", "box_jitter"}
    assert set(a["corruptions"]["jpeg"]) == {"1", "4"}
    rel = [a["corruptions"][c][s]["nme"] / a["clean"]["nme"] - 1 for c in a["corruptions"] for s in ("1", "4")]
    assert a["mean_relative_degradation"] == pytest.approx(float(np.mean(rel)))
    assert set(a["attacks"]) == {"fgsm", "pgd"} and set(a["attacks"]["pgd"]) == {"2", "8"}
    for row in [a["clean"], a["attack_clean"], *a["attacks"]["fgsm"].values()]:
        assert math.isfinite(row["nme"]) and row["nme"] > 0
    assert rep["models"]["b"] == {**a, "source": rep["models"]["b"]["source"]}  # same model, same numbers
    md = (out / "robustness.md").read_text()
    assert "| jpeg |" in md and "| box_jitter |" in md and "| PGD |" in md and "mean relative degradation" in md
    from PIL import Image

    with Image.open(out / "robustness.png") as im:
        assert im.size[0] > 300 and im.size[1] > 200
    with Image.open(out / "corruptions.png") as im:  # 3 corruptions x (clean + 2 severities) crops of 32 px
        assert im.size[0] == 3 * 32 and im.size[1] > 3 * 32


def test_runner_clean_nme_matches_evaluate(synth_faces, saved_model):
    """The runner's clean column is `facekd eval`'s number (same crops, decoding and NME)."""
    from facekd.engine.evaluator import evaluate
    from facekd.robust.runner import ModelUnderTest, RobustnessConfig, run_robustness

    _, data = synth_faces
    m = ModelUnderTest.load(saved_model, name="tiny")
    rep = run_robustness([m], data, RobustnessConfig(corruptions=("gaussian_noise",), severities=(2,), attacks=()),
                         progress=False)
    ev = evaluate(m.module, data, m.codec, data.scheme, batch_size=4, progress=False)
    assert rep.results["tiny"]["clean"]["nme"] == pytest.approx(float(ev.nme.mean()), rel=1e-4)
    assert rep.results["tiny"]["corruptions"]["gaussian_noise"]["2"]["nme"] != pytest.approx(
        rep.results["tiny"]["clean"]["nme"], rel=1e-9)
    assert "attacks" not in rep.results["tiny"]


def test_runner_config_errors():
    from facekd.robust.runner import RobustnessConfig

    with pytest.raises(CorruptionError, match="unknown corruption"):
        RobustnessConfig(corruptions=("fog",))
    with pytest.raises(CorruptionError, match="severities"):
        RobustnessConfig(severities=(0,))
    with pytest.raises(FacekdError, match="unknown attack"):
        RobustnessConfig(attacks=("cw",))
    with pytest.raises(FacekdError, match="epsilon"):
        RobustnessConfig(epsilons=(0.0,))
    assert set(GEOMETRY_CORRUPTIONS) | set(IMAGE_CORRUPTIONS) == set(CORRUPTIONS)


# -- adversarial training -------------------------------------------------------------------------

def test_adversarial_training_runs_and_perturbs_within_epsilon(tmp_path):
    import yaml

    from facekd.config import load_config
    from facekd.engine.trainer import Trainer
    from facekd.robust.adversarial_training import AdversarialTask, AdversarialTrainingConfig
    from facekd.robust.attacks import denormalize

    train = make_pts_dataset(tmp_path / "train", 8, seed=11)
    cfg_path = tmp_path / "cfg.yaml"
    cfg = tiny_config(train, None, runtime__max_steps=2, schedule__epochs=1)
    cfg["augment"] = {"scale": 0.0, "rotation": 0.0, "flip_p": 0.0, "color_p": 0.0, "occlusion_p": 0.0}
    cfg_path.write_text(yaml.safe_dump(cfg))
    eps = 4.0
    task = AdversarialTask(AdversarialTrainingConfig(epsilon=eps, steps=2, fraction=0.5))
    trainer = Trainer(load_config(cfg_path), tmp_path / "run", task=task)
    seen = []
    real = task.losses

    def spy(batch, model):
        terms = real(batch, model)
        seen.append({k: v.detach().clone() for k, v in task.last.items()} | {"terms": terms})
        return terms

    task.losses = spy
    trainer.fit()
    assert len(seen) == 2
    mean, std = kernels.IMAGENET_MEAN, kernels.IMAGENET_STD
    for s in seen:
        assert s["clean"].shape[0] == 2  # half of the batch of 4
        d = (denormalize(s["adversarial"].float(), mean, std) - denormalize(s["clean"].float(), mean, std)).abs()
        assert 0.5 * eps / 255 < float(d.max()) <= eps / 255 + 1e-5
        assert set(s["terms"]) == {"heatmap", "adversarial"}
    log = (tmp_path / "run" / "train_log.csv").read_text().splitlines()
    assert "adversarial" in log[0] and "adv_linf" in log[0]
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


def test_adversarial_loss_is_kurakins_mix():
    from facekd.robust.adversarial_training import AdversarialTask, AdversarialTrainingConfig

    model = _tiny_model(k=68)
    torch.manual_seed(1)
    batch = {"image": torch.randn(4, 3, 32, 32), "heatmap": torch.rand(4, 68, 8, 8), "weight": torch.ones(4, 68)}
    task = AdversarialTask(AdversarialTrainingConfig(epsilon=2, steps=1, fraction=0.25, adv_weight=0.5))
    task.output_type = "heatmap"
    terms = task.losses(batch, model)
    mixed = torch.cat([task.last["adversarial"], batch["image"][1:]])
    with torch.no_grad():
        per = (model(mixed) - batch["heatmap"]).pow(2).mean(dim=(1, 2, 3))
    denom = 3 + 0.5 * 1
    torch.testing.assert_close(terms["heatmap"].detach(), per[1:].sum() / denom)
    torch.testing.assert_close(terms["adversarial"].detach(), 0.5 * per[:1].sum() / denom)
    assert model.training is False  # the attack restored the mode it found
    with pytest.raises(FacekdError, match="fraction"):
        AdversarialTrainingConfig(fraction=0)
    with pytest.raises(FacekdError, match="unknown key"):
        AdversarialTrainingConfig.from_dict({"eps": 3})


def test_adversarial_training_is_a_config_switch_of_facekd_train(tmp_path, capsys):
    import yaml

    from facekd.cli import main

    train = make_pts_dataset(tmp_path / "train", 8, seed=12)
    cfg = tiny_config(train, None, runtime__max_steps=2, schedule__epochs=1)
    cfg["runtime"]["log_every"] = 1
    cfg["adversarial"] = {"epsilon": 2.0, "steps": 1}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run")]) == 0
    header = (tmp_path / "run" / "train_log.csv").read_text().splitlines()[0]
    assert "adversarial" in header and "adv_linf" in header
    # a bad key is named, and the switch does not combine with distillation
    assert main(["train", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "r2"),
                 "--set", "adversarial.epsilom=2"]) == 2
    assert "epsilom" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "r3"),
                 "--set", "distill.alpha=0.5"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()
