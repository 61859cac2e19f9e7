"""Distiller: frozen teachers, named terms, alternating discriminator step."""

import copy

import pytest
import torch

from facekd.distill import DistillConfig, Distiller
from facekd.errors import FacekdError
from facekd.models import create_model

K = 5


def _batch(n=2, size=64):
    g = torch.Generator().manual_seed(0)
    return {"image": torch.randn(n, 3, size, size, generator=g),
            "heatmap": torch.rand(n, K, size // 4, size // 4, generator=g),
            "weight": torch.ones(n, K)}


def _setup(**kw):
    torch.manual_seed(0)
    teachers = {"t1": create_model("hrnet_slim_w8", K), "t2": create_model("hrnet_slim_w10_d1", K)}
    student = create_model("hrnet_slim_w8", K)
    cfg = DistillConfig(**kw)
    return Distiller(cfg, teachers, student), student, teachers


def _params(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_all_terms_present_and_finite():
    d, student, _ = _setup(cd_taps=["heatmaps", "neck"], lambda_akd=0.01)
    terms = d.losses(_batch(), student)
    assert set(terms) == {"kd", "cd", "a_t1", "a_t2"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in terms.values())
    assert "neck" in d.adapters and len(d.extra_parameters()) > 0


def test_student_step_leaves_teachers_bit_identical():
    d, student, teachers = _setup(cd_taps=["heatmaps", "neck"])
    before = {k: _params(t) for k, t in teachers.items()}
    opt = torch.optim.SGD(list(student.parameters()) + d.extra_parameters(), lr=0.1)
    student.train()
    for t in teachers.values():
        t.train()  # a trainer calling train() must not unfreeze BN statistics
    for _ in range(2):
        total = sum(d.losses(_batch(), student).values())
        opt.zero_grad()
        total.backward()
        opt.step()
        d.extra_step(_batch())
    for k, t in teachers.items():
        assert not t.training
        after = _params(t)
        assert all(torch.equal(before[k][n], after[n]) for n in after), f"teacher {k} changed"
        assert all(p.grad is None for p in t.parameters())


def test_discriminator_step_leaves_student_unchanged_and_moves_discriminator():
    d, student, _ = _setup(lambda_akd=0.01)
    batch = _batch()
    total = sum(d.losses(batch, student).values())
    total.backward()
    assert all(p.grad is None for p in d.discriminators.parameters())  # student step does not train D
    s_before, d_before = _params(student), _params(d.discriminators)
    logs = d.extra_step(batch)
    assert set(logs) == {"d_t1", "d_t2", "lam_t1", "lam_t2"}  # D losses, the adversarial weights used
    s_after, d_after = _params(student), _params(d.discriminators)
    assert all(torch.equal(s_before[n], s_after[n]) for n in s_after)
    assert any(not torch.equal(d_before[n], d_after[n]) for n in d_after)


def test_lambda_zero_switches_terms_and_teachers_off():
    cfg = DistillConfig(lambda_cd=0, lambda_akd=0, kd_teachers=["t1"])
    assert cfg.needed_teachers() == ["t1"]
    d = Distiller(cfg, {"t1": create_model("hrnet_slim_w8", K)}, create_model("hrnet_slim_w8", K))
    assert set(d.losses(_batch(), create_model("hrnet_slim_w8", K))) == {"kd"}
    gt_only = DistillConfig(alpha=0.0, lambda_cd=0, lambda_akd=0)
    assert gt_only.needed_teachers() == []


def test_shared_discriminator_and_hinge():
    d, student, _ = _setup(lambda_akd=0.01, shared_discriminator=True, gan_mode="hinge",
                           disc_condition_on_image=True)
    assert list(d.discriminators) == ["shared"]
    terms = d.losses(_batch(), student)
    assert torch.isfinite(terms["a_t1"]) and torch.isfinite(terms["a_t2"])


def test_config_errors_name_the_key():
    with pytest.raises(FacekdError, match="distill.alpha"):
        Distiller(DistillConfig(alpha=2.0), {})
    with pytest.raises(FacekdError, match="kd_teachers"):
        Distiller(DistillConfig(kd_teachers=["t1", "t2"]), {"t1": create_model("hrnet_slim_w8", K)})
    with pytest.raises(FacekdError, match="cd_taps"):
        Distiller(DistillConfig(cd_taps=["nope"], lambda_akd=0, kd_teachers=["t1"]),
                  {"t1": create_model("hrnet_slim_w8", K)}, create_model("hrnet_slim_w8", K))
    with pytest.raises(FacekdError, match="heatmaps"):
        Distiller(DistillConfig(lambda_akd=0, kd_teachers=["t1"], lambda_cd=0),
                  {"t1": create_model("hrnet_slim_w8", K + 1)}, create_model("hrnet_slim_w8", K))


def test_teacher_cache_gives_the_same_terms_and_runs_each_teacher_once_per_crop():
    from facekd.distill import distiller as dmod

    d_plain, student, teachers = _setup(cd_taps=["heatmaps", "neck"], lambda_akd=0.0)
    d_cache = Distiller(DistillConfig(cd_taps=["heatmaps", "neck"], lambda_akd=0.0, teacher_cache=True),
                        teachers, student)
    d_cache.adapters.load_state_dict(d_plain.adapters.state_dict())
    calls = {"n": 0}
    for t in teachers.values():
        t.register_forward_hook(lambda m, i, o: calls.__setitem__("n", calls["n"] + i[0].shape[0]))
    batch = _batch(3)
    dmod._TEACHER_MEMO.clear()
    with torch.no_grad():
        ref = d_plain.losses(batch, student)
        n_plain = calls["n"]
        first = d_cache.losses(batch, student)
        second = d_cache.losses(batch, student)
        # a batch with one new crop runs the teachers on that crop only
        mixed = {k: v.clone() for k, v in batch.items()}
        mixed["image"][1] += 0.5
        d_cache.losses(mixed, student)
    assert calls["n"] == 2 * n_plain + 2  # plain: 3 crops x 2 teachers; cached: the same once, then 1 crop x 2
    for k in ref:
        torch.testing.assert_close(first[k], ref[k])
        torch.testing.assert_close(second[k], ref[k])
    dmod._TEACHER_MEMO.clear()


def test_teacher_cache_refuses_random_augmentation():
    from types import SimpleNamespace

    d, student, _ = _setup(teacher_cache=True)
    trainer = SimpleNamespace(device=torch.device("cpu"), model=student,
                              cfg=SimpleNamespace(runtime=SimpleNamespace(channels_last=False), augment={"flip_p": 0.5}))
    with pytest.raises(FacekdError, match="augment: null"):
        d.setup(trainer)


def test_cwd_on_the_labels_needs_no_teacher_and_adds_only_its_term():
    """The gt_cwd control: GT loss as plain training, plus CWD towards the labels' heatmaps on labelled points."""
    from facekd.engine.trainer import GroundTruthTask

    cfg = DistillConfig(alpha=0.0, lambda_akd=0.0, lambda_cd=0.003, cd_target="ground_truth",
                        teachers={"t1": "unused/path"})
    assert cfg.needed_teachers() == []
    torch.manual_seed(0)
    student = create_model("hrnet_slim_w8", K)
    d = Distiller(cfg, {}, student)
    assert not d.adapters and not d.discriminators
    batch = _batch()
    batch["weight"][1, 2:] = 0.0  # unlabelled points of face 1
    terms = d.losses(batch, student)
    assert set(terms) == {"kd", "cd"} and terms["cd"].item() > 0
    gt = GroundTruthTask("heatmap").losses(batch, student)["heatmap"]
    assert terms["kd"].item() == pytest.approx(gt.item(), rel=1e-6)  # the GT term is plain training's loss
    # the CWD term pulls on labelled points only
    s_hm = student(batch["image"])
    from facekd.losses.cwd import channel_wise_distillation
    g, = torch.autograd.grad(channel_wise_distillation(s_hm, batch["heatmap"], tau=1.0, normalize="standardize",
                                                       weight=(batch["weight"] > 0).float()), s_hm)
    assert g[1, 2:].abs().max().item() == 0.0 and g[1, :2].abs().max().item() > 0
    with pytest.raises(FacekdError, match="cd_target"):
        Distiller(DistillConfig(cd_target="labels", lambda_akd=0.0), {}, create_model("hrnet_slim_w8", K))
    with pytest.raises(FacekdError, match="cd_taps"):
        Distiller(DistillConfig(alpha=0.0, cd_target="ground_truth", cd_taps=["heatmaps", "neck"], lambda_akd=0.0),
                  {}, create_model("hrnet_slim_w8", K))
