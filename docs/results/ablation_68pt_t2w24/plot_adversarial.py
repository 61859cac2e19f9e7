"""Weighted KD + adversarial with the gradient balance (akd_grad_ratio 0.1) against weighted KD alone and against the
unbalanced adversarial run that diverged (seed 2, seventeenth/eighteenth session): val curves per seed, the
adversarial weight the balance chose against the scheduled λ_AKD, and the discriminator loss.

    python docs/results/ablation_68pt_t2w24/plot_adversarial.py
"""
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from facekd.distill import DistillConfig

here = Path(__file__).parent
# the λ_AKD schedule of configs/ablate_68pt_unlabelled.yaml, as the distiller computes it
SCHEDULE = DistillConfig(lambda_akd=0.005, akd_warmup_steps=500, akd_ramp_steps=2000)


def read(name):
    f = here / name
    return list(csv.DictReader(open(f))) if f.exists() else []


def finish(ax, title, xlabel, log=False):
    if log:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


fig, (ax_v, ax_l, ax_d) = plt.subplots(1, 3, figsize=(15, 4.4))
for seed in (0, 1, 2):
    kd = read(f"kd_multi_seed{seed}_val_log.csv")
    if kd:
        ax_v.plot([int(r["epoch"]) for r in kd], [100 * float(r["val_nme"]) for r in kd], color="grey", lw=1,
                  marker=".", label="weighted KD (T2 + w24)" if seed == 0 else None)
    adv = read(f"adversarial_balanced_seed{seed}_val_log.csv")
    if adv:
        ax_v.plot([int(r["epoch"]) for r in adv], [100 * float(r["val_nme"]) for r in adv], lw=1.5, marker="o",
                  ms=3, label=f"KD + adversarial, balanced, seed {seed}")
old = read("adversarial_seed2_val_log.csv")
if old:
    ep, v = [int(r["epoch"]) for r in old], [100 * float(r["val_nme"]) for r in old]
    ax_v.plot(ep, [min(x, 7.0) for x in v], color="red", ls="--", marker="x",
              label="KD + adversarial, unbalanced, seed 2 (clipped at 7 %)")
    top = max(v)
    ax_v.annotate(f"{top:.0f} %", (ep[v.index(top)], 7.0), textcoords="offset points", xytext=(0, -12),
                  color="red", fontsize=8, ha="center")
ax_v.set_ylim(4.4, 7.05)
ax_v.set_ylabel("mean val NME (%)  (ytf68/val, helen_afw/val)")
finish(ax_v, "val NME per epoch", "epoch")

bal = read("adversarial_balanced_seed0_train_log.csv")
unb = read("adversarial_seed2_train_log.csv")
if bal:
    steps = [int(r["step"]) for r in bal]
    ax_l.plot(steps, [max(SCHEDULE.lambda_akd * SCHEDULE.akd_scale(s), 1e-7) for s in steps], color="k", ls=":",
              label="scheduled λ_AKD·ramp")
    ax_l.plot(steps, [max(float(r["lam_w18"]), 1e-7) for r in bal], lw=1,
              label="weight used: min(λ·ramp, 0.1·‖∂L_KD/∂S‖/‖∂L_A/∂S‖)")
    finish(ax_l, "adversarial weight, balanced seed 0", "step", log=True)
    ax_d.plot(steps, [float(r["d_w18"]) for r in bal], lw=1, label="D loss, balanced (seed 0)")
    ax_d.plot(steps, [float(r["a_w18"]) / float(r["kd"]) for r in bal], lw=1,
              label="λ·L_A / L_KD, balanced (seed 0)")
if unb:
    s = [int(r["step"]) for r in unb]
    ax_d.plot(s, [float(r["d_w18"]) for r in unb], lw=1, color="red", alpha=0.6, label="D loss, unbalanced (seed 2)")
    ax_d.plot(s, [float(r["a_w18"]) / float(r["kd"]) for r in unb], lw=1, color="darkred", ls="--",
              label="λ·L_A / L_KD, unbalanced (seed 2)")
finish(ax_d, "discriminator loss and the adversarial share of the loss", "step", log=True)
fig.suptitle("hrnet_slim_w16_d1 @96, 10 x 13,831 faces, λ_AKD 0.005, warm-up 500, ramp 2,000, spectral norm, D lr 1e-4")
fig.tight_layout()
fig.savefig(here / "adversarial_balanced.png", dpi=110)
print("wrote", here / "adversarial_balanced.png")
