"""Per-seed val NME of the gt and kd_multi rows (this folder plus the session-8 gt seed 0 in ../ablation_68pt).

    python docs/results/ablation_68pt_t2w24/plot_seeds.py
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

here = Path(__file__).parent
runs = []
for f, groups in [(here.parent / "ablation_68pt" / "ablation.json", {"gt"}), (here / "ablation.json", {"gt", "kd_multi"}),
                  (here / "kd_multi_seed0.json", {"kd_multi"})]:
    runs += [r for r in json.loads(f.read_text())["runs"] if r["group"] in groups]
keys = [("nme", "mean val"), ("ytf68/nme", "ytf68/val"), ("helen_afw/nme", "helen_afw/val")]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, (key, title) in zip(axes, keys):
    for x, (group, label) in enumerate([("gt", "GT only"), ("kd_multi", "KD, T2 + w24")]):
        vals = [100 * r["val"][key] for r in runs if r["group"] == group]
        seeds = [r["seed"] for r in runs if r["group"] == group]
        ax.scatter([x] * len(vals), vals, s=40, zorder=3)
        for v, s in zip(vals, seeds):
            ax.annotate(f"seed {s}", (x, v), textcoords="offset points", xytext=(8, -3), fontsize=8)
        ax.hlines(sum(vals) / len(vals), x - 0.2, x + 0.2, color="k")
    ax.set_xticks([0, 1], ["GT only", "KD, T2 + w24"])
    ax.set_xlim(-0.5, 1.8)
    ax.set_title(title)
    ax.set_ylabel("NME (%)")
    ax.grid(axis="y", alpha=0.3)
fig.suptitle("hrnet_slim_w16_d1 @96, 10 x 13,831 faces: per seed, line = mean")
fig.tight_layout()
fig.savefig(here / "seeds.png", dpi=110)
