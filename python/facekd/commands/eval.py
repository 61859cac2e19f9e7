"""`facekd eval`: score a model on a landmark dataset (NME / FR / AUC per subset, CED, worst faces)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from facekd.errors import FacekdError

BASELINE_PREFIX = "baseline:"
BASELINES = ("mean-shape",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True,
                   help="dataset: a folder of .pts, a WFLW list .txt, a COCO json, a dlib xml or a "
                        "csv, optionally as FORMAT:PATH (pts, wflw, coco, cofw, dlib, csv)")
    p.add_argument("--model", required=True,
                   help="'default' (bundled), model directory, .safetensors or training checkpoint; or "
                        f"{BASELINE_PREFIX}mean-shape (the training mean shape as heatmaps)")
    p.add_argument("--scheme", default=None,
                   help="landmark scheme of the data (built-in name or YAML/JSON file; default: "
                        "from the point count)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder for results.json/.md, per_face.csv, ced.png, worst.png "
                        "(default: runs/eval/<data>-<model>)")
    p.add_argument("--norm", default="interocular", choices=("interocular", "interpupil", "bbox"),
                   help="NME normalisation (default: interocular = outer eye corners)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored crop")
    p.add_argument("--decode", default=None, choices=("dark", "argmax", "softargmax"),
                   help="override the model codec's heatmap decoding")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--box", default="landmarks", choices=("landmarks", "item"),
                   help="crop around the landmarks' tight box (protocol default) or the "
                        "annotation's face box when the format has one")
    p.add_argument("--crop-scale", type=float, default=None,
                   help="box enlargement (default: the model card's, 1.25 for baselines)")
    p.add_argument("--worst", type=int, default=16, help="faces in the worst-faces sheet (0: none)")
    p.add_argument("--device", default="cpu", help="torch device for the model")
    p.add_argument("--train-data", default=None,
                   help=f"training data for {BASELINE_PREFIX}mean-shape (default: the 'train' folder "
                        "beside --data when it exists, else --data itself)")
    p.add_argument("--input-size", type=int, default=256, help="crop size for baselines")
    p.add_argument("--heatmap-size", type=int, default=64, help="heatmap size for baselines")
    p.add_argument("--sigma", type=float, default=1.5, help="heatmap sigma for baselines")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _baseline_train_spec(data: str, train: str | None) -> tuple[str, bool]:
    """(training data spec, whether it is separate from the evaluation data)."""
    from facekd.data.formats import split_spec

    if train:
        return train, True
    _, p = split_spec(data)
    sibling = p.parent / "train"
    if p.is_dir() and p.name != "train" and sibling.is_dir():
        return str(sibling), True
    return data, False


@dataclass
class _Predictor:
    fn: Callable
    codec: Any               # HeatmapCodec or None (coordinate models)
    scheme: Any              # LandmarkScheme of the model's outputs
    output_type: str
    input_size: int
    crop_scale: float
    settings: dict[str, Any]


def run(args: argparse.Namespace) -> int:
    from facekd.data import load_dataset
    from facekd.engine.evaluator import evaluate

    if args.batch_size < 1:
        raise FacekdError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.crop_scale is not None and not args.crop_scale > 0:
        raise FacekdError(f"--crop-scale must be > 0, got {args.crop_scale}")
    data = load_dataset(args.data, args.scheme)
    if args.model.startswith(BASELINE_PREFIX):
        model = _baseline(args, data.scheme)
    else:
        model = _load_model(args)
    result = evaluate(model.fn, data, model.codec, data.scheme, batch_size=args.batch_size,
                      flip_test=args.flip_test, norm=args.norm, output_type=model.output_type,
                      model_scheme=model.scheme, input_size=model.input_size,
                      crop_scale=args.crop_scale or model.crop_scale, box_from=args.box,
                      num_workers=args.workers, progress=not args.quiet,
                      settings={"model": args.model, "data": args.data, **model.settings})
    out = args.out or Path("runs") / "eval" / f"{_slug(args.data)}-{_slug(args.model)}"
    files = result.save(out, data, worst_n=args.worst)
    print(result.to_markdown())
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0


def _baseline(args: argparse.Namespace, scheme) -> _Predictor:
    from facekd.codecs import HeatmapCodec
    from facekd.data import load_dataset
    from facekd.engine.evaluator import MeanShapePredictor

    kind = args.model[len(BASELINE_PREFIX):]
    if kind not in BASELINES:
        raise FacekdError(f"unknown baseline '{kind}'; available: "
                          + ", ".join(BASELINE_PREFIX + b for b in BASELINES))
    codec = HeatmapCodec(args.input_size, args.heatmap_size, args.sigma, args.decode or "dark")
    crop_scale = args.crop_scale or 1.25
    spec, separate = _baseline_train_spec(args.data, args.train_data)
    if not separate:
        print("facekd eval: warning: no training data found; the mean shape comes from the "
              f"evaluation data itself ({args.data})", file=sys.stderr)
    train = load_dataset(spec, scheme)
    fn = MeanShapePredictor.from_dataset(train, codec, crop_scale=crop_scale, box_from=args.box)
    return _Predictor(fn, codec, scheme, "heatmap", codec.input_size, crop_scale,
                      {"baseline_train_data": spec, "baseline_train_faces": len(train)})


def _load_model(args: argparse.Namespace) -> _Predictor:
    import torch

    from facekd.card import ModelCard
    from facekd.devices import torch_device
    from facekd.models import load_model

    module, card = load_model(args.model)
    if isinstance(card, dict):
        card = ModelCard.from_dict(card)
    codec = card.get_codec()
    if codec is not None and args.decode:
        codec = type(codec).from_dict({**codec.to_dict(), "decode": args.decode})
    if isinstance(module, torch.nn.Module):
        module = module.to(torch_device(args.device)).eval()
    keys = ("model", "arch", "input_size", "output_type", "codec", "crop_scale", "training_data")
    return _Predictor(module, codec, card.get_scheme(), card.output_type, card.input_size,
                      card.crop_scale, {"model_card": {k: getattr(card, k) for k in keys}})


def _slug(spec: str) -> str:
    from facekd.data.formats import split_spec

    name = split_spec(spec)[1].name
    out = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
    return out.strip("-.") or "data"
