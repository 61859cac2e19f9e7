"""`facekd robust`: NME of one or more models under image corruptions (5 severities) and FGSM / PGD
attacks; writes robustness.json, robustness.md, robustness.png and corruptions.png (one face under
every corruption)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facekd.commands import csv_list
from facekd.errors import FacekdError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from facekd.robust.corruptions import CORRUPTIONS

    p.add_argument("--model", action="append", required=True,
                   help="'default' (bundled), model directory, .safetensors or training checkpoint "
                        "(repeat for several)")
    p.add_argument("--name", action="append", default=None,
                   help="display name of each --model, in order (default: from the path)")
    p.add_argument("--data", required=True, help="evaluation data (any format of `facekd eval --data`)")
    p.add_argument("--scheme", default=None, help="landmark scheme of the data (default: from the point count)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--corruptions", type=csv_list(str), default=tuple(CORRUPTIONS),
                   help="comma-separated subset of: " + ", ".join(CORRUPTIONS) + " (default: all; "
                        "'none' for no corruption)")
    p.add_argument("--severities", type=csv_list(int), default=(1, 2, 3, 4, 5), help="default: 1,2,3,4,5")
    p.add_argument("--attacks", type=csv_list(str), default=("fgsm", "pgd"),
                   help="comma-separated subset of fgsm, pgd (default: both; 'none' for no attack)")
    p.add_argument("--epsilons", type=csv_list(float), default=(1.0, 2.0, 4.0, 8.0),
                   help="L-inf budgets in pixel units of 255 (default: 1,2,4,8)")
    p.add_argument("--pgd-steps", type=int, default=10)
    p.add_argument("--max-faces", type=int, default=None, help="evenly spread subset of the data")
    p.add_argument("--attack-faces", type=int, default=64,
                   help="evenly spread subset of the faces for the attacks (default 64; 0 = all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--norm", default="interocular", choices=("interocular", "interpupil", "bbox"))
    p.add_argument("--box", default="landmarks", choices=("landmarks", "item"),
                   help="crop around the landmarks' tight box or the annotation's face box")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a busy machine more threads than free cores "
                        "slow small models down many times; use 2+ on an idle machine)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from facekd.data import load_dataset
    from facekd.robust.runner import ModelUnderTest, RobustnessConfig, run_robustness

    if args.name is not None and len(args.name) != len(args.model):
        raise FacekdError(f"--name given {len(args.name)} time(s) for {len(args.model)} --model")
    if args.threads < 1:
        raise FacekdError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    corruptions = () if tuple(args.corruptions) == ("none",) else args.corruptions
    attacks = () if tuple(args.attacks) == ("none",) else args.attacks
    cfg = RobustnessConfig(corruptions=corruptions, severities=args.severities, attacks=attacks,
                           epsilons=args.epsilons, pgd_steps=args.pgd_steps, max_faces=args.max_faces,
                           attack_faces=args.attack_faces or None, batch_size=args.batch_size,
                           seed=args.seed, norm=args.norm, box_from=args.box)
    data = load_dataset(args.data, args.scheme)
    models = [ModelUnderTest.load(spec, name=(args.name[i] if args.name else None), device=args.device)
              for i, spec in enumerate(args.model)]
    seen: dict[str, int] = {}
    for m in models:  # unique display names
        if m.name in seen:
            seen[m.name] += 1
            m.name = f"{m.name}#{seen[m.name]}"
        else:
            seen[m.name] = 1
    report = run_robustness(models, data, cfg, progress=not args.quiet,
                            settings={"data": args.data, "models": list(args.model)})
    files = report.save(args.out)
    if corruptions:
        from facekd.robust.runner import corruption_sheet

        skipped = set(report.skipped)
        files["corruptions"] = corruption_sheet(
            data, args.out / "corruptions.png", corruptions=[c for c in corruptions if c not in skipped],
            severities=args.severities, input_size=models[0].input_size, crop_scale=models[0].crop_scale,
            seed=args.seed, box_from=args.box)
    print(report.to_markdown())
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0
