"""`facekd models`: the model table (params, FLOPs, single-thread CPU latency)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-size", type=int, default=128, help="square input size (default 128)")
    p.add_argument("--names", nargs="+", help="models to list (default: teachers, students, baselines)")
    p.add_argument("--all", action="store_true", help="every registered name (the whole student grid)")
    p.add_argument("--keypoints", type=int, help="output points (default: the scheme's)")
    p.add_argument("--scheme", default="ibug68", help="landmark scheme for the point count (default ibug68)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    p.add_argument("--runs", type=int, default=10, help="timed runs per model (median reported)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from facekd.errors import FacekdError
    from facekd.models import BASELINES, MODELS, STUDENTS, TEACHERS, model_report

    if args.input_size < 32 or args.input_size % 32:
        raise FacekdError(f"--input-size must be a multiple of 32 (>= 32), got {args.input_size}")
    if args.keypoints is not None:
        k = args.keypoints
        if k < 1:
            raise FacekdError(f"--keypoints must be >= 1, got {k}")
    else:
        from facekd.schemes import as_scheme
        k = as_scheme(args.scheme).num_points
    names = list(MODELS) if args.all else (args.names or [*TEACHERS, *STUDENTS, *BASELINES])
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise FacekdError(f"unknown model(s) {unknown}; known: {', '.join(MODELS)}")
    role = {**{n: "teacher" for n in TEACHERS}, **{n: "student" for n in STUDENTS},
            **{n: "baseline" for n in BASELINES}}

    from tqdm import tqdm

    rows = []
    for name in tqdm(names, desc="measuring", disable=args.json or len(names) < 2, leave=False):
        r = model_report(name, k, args.input_size, latency=not args.no_latency, runs=args.runs)
        rows.append({"name": name, "role": role.get(name, "student" if name.startswith("hrnet_slim") else ""),
                     "params_m": r.params / 1e6, "gflops": r.flops / 1e9, "latency_ms": r.latency_ms,
                     "output": r.output_type, "output_shape": list(r.output_shape)})
    if args.json:
        print(json.dumps({"input_size": args.input_size, "keypoints": k, "models": rows}, indent=2))
        return 0
    print(f"input {args.input_size}x{args.input_size}, {k} keypoints; FLOPs = 2 x multiply-adds; "
          f"latency: CPU, fp32, batch 1, 1 thread, median of {args.runs}")
    head = f"{'model':24s} {'role':9s} {'params (M)':>10s} {'GFLOPs':>8s} {'latency (ms)':>13s}  output"
    print(head)
    print("-" * len(head))
    for r in rows:
        lat = "-" if r["latency_ms"] is None else f"{r['latency_ms']:.2f}"
        shape = "x".join(str(v) for v in r["output_shape"][1:])
        print(f"{r['name']:24s} {r['role']:9s} {r['params_m']:10.3f} {r['gflops']:8.3f} {lat:>13s}  "
              f"{r['output']} [{shape}]")
    return 0
