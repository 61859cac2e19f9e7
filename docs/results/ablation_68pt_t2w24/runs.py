"""The runs of the light-student ablation with the T2 + w24 targets, gathered from the reports of the sessions that
measured them (one list, read by plot_seeds.py and summary.py).

Every run: hrnet_slim_w16_d1 @96, 10 epochs x 13,831 faces (UTKFace 0.4 unlabelled, ytf68 0.4, helen_afw 0.2; the gt
row the labelled sources only), `facekd ablate --config configs/ablate_68pt_unlabelled.yaml` with the command in
docs/results/README.md. Left out on purpose: seed2.json's adversarial run (before the gradient balance; it diverged)
and kd_multi_seed0_rerun19.json (a rerun of a seed already counted, kept as the reproduction check).
"""
import json
from pathlib import Path

here = Path(__file__).parent
SOURCES = [
    (here.parent / "ablation_68pt" / "ablation.json", {"gt"}),  # session 8: gt seed 0 (same command and data)
    (here / "ablation.json", None),  # session 15: gt, kd_multi seed 1
    (here / "kd_multi_seed0.json", None),  # session 15
    (here / "seed2.json", {"gt", "pseudo", "kd_multi", "cwd"}),  # sessions 17/18
    (here / "adversarial_balanced.json", None),  # session 19: seeds 0-2 with akd_grad_ratio 0.1
    (here / "cwd_seeds01.json", None),  # session 20: cwd seeds 0, 1
    (here / "gt_cwd.json", None),  # session 20: the gt_cwd control (CWD on the labels, no teacher)
    (here / "pseudo_seed0.json", None),  # session 20
]
ROWS = {"gt": "GT only", "pseudo": "GT + pseudo-labels on UTKFace (no KD)", "kd_multi": "+ weighted heatmap KD, T2 + w24",
        "cwd": "weighted KD + CWD (T2)", "gt_cwd": "GT + CWD on the labels (no teacher; control)", "adversarial": "weighted KD + adversarial (T2, balanced)",
        "full": "full objective (KD + CWD + balanced adversarial)"}


def load() -> list[dict]:
    """Every counted run (dicts as `facekd ablate` writes them), at most one per (row, seed)."""
    runs, seen = [], set()
    for f, groups in SOURCES:
        if not f.exists():
            continue
        for r in json.loads(f.read_text())["runs"]:
            key = (r["group"], r["seed"])
            if (groups is None or r["group"] in groups) and key not in seen:
                seen.add(key)
                runs.append(r)
    return runs
