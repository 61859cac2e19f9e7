"""Distillation loss terms against hand computations on tiny tensors."""

import math

import pytest
import torch

from facekd.losses.adversarial import HeatmapDiscriminator, discriminator_loss, generator_loss
from facekd.losses.channel import channel_distillation
from facekd.losses.cwd import channel_wise_distillation
from facekd.losses.kd import heatmap_kd_loss, per_point_mse, teacher_weights


def test_per_point_mse_known_shift():
    a = torch.zeros(2, 3, 4, 5)
    assert torch.allclose(per_point_mse(a + 0.1, a), torch.full((2, 3), 0.01))
    b = torch.zeros(1, 1, 2, 2)
    b[0, 0, 0, 0] = 2.0  # one of four pixels off by 2 -> mean 4/4 = 1
    assert per_point_mse(b, torch.zeros_like(b)).item() == pytest.approx(1.0)


def test_kd_identical_teacher_gives_zero_teacher_term():
    torch.manual_seed(0)
    s = torch.rand(2, 4, 8, 8)
    gt = torch.rand(2, 4, 8, 8)
    out = heatmap_kd_loss(s, gt, teachers=[s.clone(), s.clone()], alpha=0.5)
    assert out["teacher"].item() == pytest.approx(0.0, abs=1e-12)
    assert out["kd"].item() == pytest.approx(0.5 * out["gt"].item())


def test_kd_split_and_weights_hand_computed():
    gt = torch.zeros(1, 2, 2, 2)
    s = torch.full_like(gt, 0.5)            # mse(S, GT) = 0.25 per point
    t1 = gt.clone()                          # perfect teacher: mse(S, T1) = 0.25
    t2 = torch.full_like(gt, 1.5)            # mse(S, T2) = 1.0, its own error 2.25
    out = heatmap_kd_loss(s, gt, teachers=[t1, t2], alpha=0.25, mode="uniform")
    assert out["gt"].item() == pytest.approx(0.25)
    assert out["teacher"].item() == pytest.approx(0.5 * 0.25 + 0.5 * 1.0)
    assert out["kd"].item() == pytest.approx(0.75 * 0.25 + 0.25 * 0.625)
    # weighted: e = (0, 2.25), scale = tau * mean(e) = 0.5 * 1.125 -> w2 = sigmoid(-2.25/0.5625) = sigmoid(-4)
    w = teacher_weights([t1, t2], gt, mode="weighted", tau=0.5)
    w2 = 1.0 / (1.0 + math.exp(4.0))
    assert torch.allclose(w[1], torch.full((1, 2), w2), atol=1e-6)
    assert torch.allclose(w.sum(0), torch.ones(1, 2))
    out_w = heatmap_kd_loss(s, gt, teachers=[t1, t2], alpha=1.0, mode="weighted", tau=0.5)
    assert out_w["teacher"].item() == pytest.approx((1 - w2) * 0.25 + w2 * 1.0, rel=1e-5)


def test_kd_missing_points_carry_no_term():
    gt = torch.zeros(1, 2, 2, 2)
    s = torch.ones_like(gt)
    v = torch.tensor([[1.0, 0.0]])
    out = heatmap_kd_loss(s, gt, teachers=[gt.clone()], target_weight=v, alpha=0.5, mode="uniform")
    assert out["gt"].item() == pytest.approx(0.5)       # (1 * 1 + 0 * 1) / 2
    assert out["teacher"].item() == pytest.approx(0.5)


def test_kd_bad_arguments():
    x = torch.zeros(1, 2, 3, 3)
    with pytest.raises(ValueError, match="alpha"):
        heatmap_kd_loss(x, x, alpha=1.5)
    with pytest.raises(ValueError, match="mode"):
        teacher_weights([x], x, mode="best")
    with pytest.raises(ValueError, match="shapes differ"):
        per_point_mse(x, torch.zeros(1, 2, 3, 4))


def test_cwd_identical_is_zero_and_hand_value():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4)
    assert channel_wise_distillation(x, x.clone(), tau=4.0).item() == pytest.approx(0.0, abs=1e-7)
    tau = 2.0
    t = torch.tensor([math.log(3.0) * tau, 0.0]).view(1, 1, 1, 2)  # p_T = (3/4, 1/4)
    s = torch.zeros(1, 1, 1, 2)                                      # p_S = (1/2, 1/2)
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert channel_wise_distillation(s, t, tau=tau).item() == pytest.approx(tau * tau * kl, rel=1e-5)


def test_cwd_standardize_is_scale_invariant_and_informative():
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    g = lambda cx: torch.exp(-((xx - cx) ** 2 + (yy - 16) ** 2) / (2 * 1.5**2)).view(1, 1, 32, 32)
    a, b = g(10.0), g(20.0)
    raw = channel_wise_distillation(a, b, tau=4.0)
    std = channel_wise_distillation(a, b, tau=1.0, normalize="standardize")
    assert raw.item() < 0.05 * std.item()  # raw [0,1] maps at tau=4 are nearly uniform: little signal
    assert channel_wise_distillation(5 * a, b, tau=1.0, normalize="standardize").item() == pytest.approx(std.item(), rel=1e-4)


def test_channel_distillation_hand_value():
    s = torch.zeros(1, 2, 2, 2)
    t = torch.zeros(1, 2, 3, 3)
    t[:, 0] = 1.0  # channel means (1, 0) vs (0, 0) -> mean sq diff = 0.5
    assert channel_distillation(s, t).item() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        channel_distillation(s, torch.zeros(1, 3, 2, 2))


def test_gan_losses_hand_values():
    one, zero = torch.ones(4), torch.zeros(4)
    assert discriminator_loss(one, zero, "lsgan").item() == 0.0
    assert discriminator_loss(zero, one, "lsgan").item() == pytest.approx(2.0)
    assert generator_loss(one, "lsgan").item() == 0.0
    assert generator_loss(zero, "lsgan").item() == pytest.approx(1.0)
    assert discriminator_loss(2 * one, -2 * one, "hinge").item() == 0.0
    assert discriminator_loss(zero, zero, "hinge").item() == pytest.approx(2.0)
    assert generator_loss(3 * one, "hinge").item() == pytest.approx(-3.0)
    with pytest.raises(ValueError, match="gan mode"):
        generator_loss(one, "wgan")


def test_discriminator_shapes_conditioning_and_spectral_norm():
    torch.manual_seed(0)
    d = HeatmapDiscriminator(num_keypoints=5, width=8, num_layers=2, image_channels=3)
    hm = torch.rand(2, 5, 32, 32)
    img = torch.rand(2, 3, 128, 128)
    for _ in range(20):  # power iterations converge in train mode
        out = d(hm, img)
    assert out.shape == (2, 1, 8, 8)
    d.eval()
    w = d.net[0].weight.flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ValueError, match="image"):
        d(hm)


def test_cwd_weight_counts_only_weighted_channels():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    ones = torch.ones(2, 3)
    assert channel_wise_distillation(s, t, tau=1.0, weight=ones).item() == pytest.approx(
        channel_wise_distillation(s, t, tau=1.0).item(), rel=1e-6)
    w = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    s2 = s.clone()
    s2[0, 1] += 5 * torch.randn(4, 4)  # a channel of weight 0: the loss must not see it
    a = channel_wise_distillation(s, t, tau=1.0, weight=w)
    assert channel_wise_distillation(s2, t, tau=1.0, weight=w).item() == pytest.approx(a.item(), rel=1e-6)
    s3 = s.clone()
    s3[1, 2] += 5 * torch.randn(4, 4)  # a channel of weight 1: it must
    assert channel_wise_distillation(s3, t, tau=1.0, weight=w).item() != pytest.approx(a.item(), rel=1e-3)
    # the mean over the 4 weighted channels, not over all 6
    per = [channel_wise_distillation(s[n:n + 1, c:c + 1], t[n:n + 1, c:c + 1], tau=1.0).item()
           for n, c in ((0, 0), (0, 2), (1, 1), (1, 2))]
    assert a.item() == pytest.approx(sum(per) / 4, rel=1e-5)
    with pytest.raises(ValueError, match="weight"):
        channel_wise_distillation(s, t, weight=torch.ones(2, 2))
