"""How strong can a teacher get from the models we have? Each model alone and heatmap-averaged
ensembles, with and without flip test, on the val sets (mean val NME = the selection metric).

Run from the repo root (a few minutes on 2 cores):
    python docs/results/label_noise/ensemble.py --val ../shared/data/ytf68/val --val ../shared/data/helen_afw/val \
        --model w18=models/teachers/hrnetv2_w18_68pt --model w24=models/students/hrnet_slim_w24_d1_128_gt \
        --out docs/results/label_noise/ensemble.json
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from facekd.data import load_dataset
from facekd.engine.evaluator import evaluate
from facekd.models import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--val", action="append", required=True)
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    models = {}
    for spec in args.model:
        name, path = spec.split("=", 1)
        module, card = load_model(path)
        models[name] = (module.eval(), card)
    cards = [c for _, c in models.values()]
    if len({(c.input_size, c.crop_scale, c.get_scheme().name) for c in cards}) != 1:
        raise SystemExit("the models need one input size, crop scale and scheme to average heatmaps")
    card = cards[0]
    data = {v: load_dataset(v, "ibug68") for v in args.val}
    results = []
    for k in range(1, len(models) + 1):
        for combo in itertools.combinations(models, k):
            nets = [models[n][0] for n in combo]

            def predict(x, nets=nets):
                with torch.inference_mode():
                    return torch.stack([m(x) for m in nets]).mean(0)

            for flip in (False, True):
                row = {"models": list(combo), "flip_test": flip}
                for v, d in data.items():
                    r = evaluate(predict, d, card.get_codec(), d.scheme, batch_size=64, flip_test=flip,
                                 model_scheme=card.get_scheme(), input_size=card.input_size,
                                 crop_scale=card.crop_scale, progress=False)
                    row[v] = float(r.table["all"]["nme"])
                row["mean_val"] = float(np.mean([row[v] for v in data]))
                results.append(row)
                print(f"{'+'.join(combo):>12} flip={flip!s:5}  " +
                      "  ".join(f"{100 * row[v]:.3f}" for v in data) + f"  mean {100 * row['mean_val']:.3f} %")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"val": args.val, "models": {n: s.split("=", 1)[1] for n, s in
                                                                zip(models, args.model)}, "rows": results}, indent=1))


if __name__ == "__main__":
    main()
