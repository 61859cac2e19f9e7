"""Per-seed val NME of every counted run of the light-student ablation with the T2 + w24 targets (runs.py gathers
them from the sessions' reports).

    python docs/results/ablation_68pt_t2w24/plot_seeds.py
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from runs import here, load

runs = load()
labels = {"gt": "GT only", "pseudo": "GT +\npseudo-labels", "kd_multi": "+ KD,\nT2 + w24", "cwd": "KD + CWD", "gt_cwd": "GT + CWD\non labels",
          "adversarial": "KD + adv.\n(balanced)", "full": "full"}
rows = [g for g in labels if any(r["group"] == g for r in runs)]
keys = [("nme", "mean val"), ("ytf68/nme", "ytf68/val"), ("helen_afw/nme", "helen_afw/val")]
fig, axes = plt.subplots(1, 3, figsize=(4 + 2.2 * len(rows), 4))
for ax, (key, title) in zip(axes, keys):
    for x, group in enumerate(rows):
        vals = [100 * r["val"][key] for r in runs if r["group"] == group]
        seeds = [r["seed"] for r in runs if r["group"] == group]
        ax.scatter([x] * len(vals), vals, s=36, zorder=3)
        for v, s in zip(vals, seeds):
            ax.annotate(f"s{s}", (x, v), textcoords="offset points", xytext=(6, -3), fontsize=7)
        ax.hlines(sum(vals) / len(vals), x - 0.25, x + 0.25, color="k")
    gt = [100 * r["val"][key] for r in runs if r["group"] == "gt"]
    if gt:
        ax.axhline(sum(gt) / len(gt), color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(rows)), [labels[g] for g in rows], fontsize=8)
    ax.set_xlim(-0.5, len(rows) - 0.2)
    ax.set_title(title)
    ax.set_ylabel("NME (%)")
    ax.grid(axis="y", alpha=0.3)
fig.suptitle("hrnet_slim_w16_d1 @96, 10 x 13,831 faces: per seed; black = row mean, dashed = GT-only mean\n(adversarial term with the gradient balance; without it, it diverged: 5.83 %, not shown)")
fig.tight_layout()
fig.savefig(here / "seeds.png", dpi=110)
