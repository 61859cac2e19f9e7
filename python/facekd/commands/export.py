"""`facekd export`: ExecuTorch (.pte fp32/int8), CoreML (.mlpackage) or ONNX, with parity checks."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from facekd.errors import FacekdError


def _default_data(split: str) -> Path | None:
    """ytf68/<split> under $FACEKD_DATA, else under shared/data in or beside the working directory."""
    roots = [Path(os.environ["FACEKD_DATA"])] if os.environ.get("FACEKD_DATA") else []
    roots += [Path.cwd() / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for root in roots:
        p = root / "ytf68" / split
        if p.is_dir():
            return p
    return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="'default' (bundled), model directory, .safetensors file or training checkpoint")
    p.add_argument("--to", required=True, choices=("pte", "coreml", "onnx"), help="export format")
    p.add_argument("--int8", action="store_true", help="PT2E int8 quantization (pte only)")
    p.add_argument("--out", help="output file (or directory); default: <model dir>/<name>[_int8].<ext> (the current "
                        "folder for 'default')")
    p.add_argument("--parity-data", action="append",
                   help="dataset for the parity check, repeatable (e.g. ytf68/val and helen_afw/val: the NME "
                        "change is then that of their mean; default: ytf68/val under $FACEKD_DATA, "
                        "./shared/data or ../shared/data)")
    p.add_argument("--parity-faces", type=int, default=64, help="faces used by the parity check (default 64)")
    p.add_argument("--calib-data", help="int8 calibration dataset (default: ytf68/train beside --parity-data)")
    p.add_argument("--calib-faces", type=int, default=256, help="int8 calibration faces (default 256)")
    p.add_argument("--max-nme-diff", type=float,
                   help="tolerated NME change in percentage points (default: fp32 0.05, fp16 0.25, "
                        "int8 cost 1.0)")
    p.add_argument("--max-output-diff", type=float,
                   help="tolerated max|output diff| / max(1, max|eager output|) (default: fp32 1e-3, "
                        "fp16 2e-2, int8 unchecked)")
    p.add_argument("--require-full-delegation", action="store_true",
                   help="fail when any op of the .pte runs outside the XNNPACK delegate")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import sys
    from dataclasses import replace

    from facekd.export import TOLERANCES, export_model

    parities = [Path(p) for p in args.parity_data] if args.parity_data else [_default_data("val")]
    if parities[0] is None:
        raise FacekdError("no parity data: pass --parity-data DIR (e.g. ytf68/val) or set FACEKD_DATA")
    for parity in parities:
        if not parity.exists():
            raise FacekdError(f"--parity-data {parity} does not exist")
    parity = parities[0] if len(parities) == 1 else parities
    calib = None
    if args.int8:
        calib = Path(args.calib_data) if args.calib_data else parities[0].parent / "train"
        if not calib.exists():
            raise FacekdError(f"int8 calibration data {calib} does not exist; pass --calib-data DIR")
    for name in ("parity_faces", "calib_faces"):
        if getattr(args, name) < 1:
            raise FacekdError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    precision = "int8" if args.int8 else ("fp16" if args.to == "coreml" else "fp32")
    tol = TOLERANCES[precision]
    if args.max_nme_diff is not None:
        tol = replace(tol, nme_diff=args.max_nme_diff)
    if args.max_output_diff is not None:
        tol = replace(tol, output_rel=args.max_output_diff)
    log = (lambda s: print(s, file=sys.stderr)) if args.json else print
    result = export_model(args.model, args.to, out=args.out, int8=args.int8, parity_data=parity,
                          calib_data=calib, parity_faces=args.parity_faces, calib_faces=args.calib_faces,
                          tolerance=tol, require_full_delegation=args.require_full_delegation,
                          progress=not args.no_progress, log=log)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    return 0
