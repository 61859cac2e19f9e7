"""`facekd detect IMG...`: landmarks on images -> annotated images (points + box) and JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facekd.commands.outputs import (IMAGE_SUFFIXES, add_overwrite_argument, check_folder, check_outputs,
                                     save_image, save_text)
from facekd.errors import FacekdError, NoFaceFoundError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", help="image file(s)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="annotated image (one input) or folder (needed for several inputs): "
                        "<name>.landmarks.png per image")
    p.add_argument("--json", action="store_true",
                   help="print the results as JSON on stdout; with -o also write a .json beside each image")
    add_overwrite_argument(p)
    add_model_arguments(p)
    p.add_argument("--box", default=None, metavar="X,Y,W,H",
                   help="face box instead of the detector (tight landmark-box convention unless "
                        "--box-convention detector)")
    p.add_argument("--box-convention", default="landmarks", choices=("landmarks", "detector"),
                   help="convention of --box: the tight box of the landmarks (default) or a face "
                        "detector's box, mapped with the detector's calibrated transform")
    p.add_argument("--max-faces", type=int, default=None, help="at most N faces per image (largest first)")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default",
                   help="'default' (bundled), a model directory, .safetensors, checkpoint, .pte or .onnx")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads")


def parse_box(text: str | None):
    if text is None:
        return None
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise FacekdError(f"--box must be X,Y,W,H numbers, got {text!r}") from None
    if len(vals) != 4:
        raise FacekdError(f"--box must be 4 numbers X,Y,W,H, got {len(vals)}")
    if not (vals[2] > 0 and vals[3] > 0):
        raise FacekdError(f"--box width and height must be > 0, got {text!r}")
    return vals


def load_landmarker(args: argparse.Namespace):
    from facekd.api import Landmarker

    if args.threads is not None and args.threads < 1:
        raise FacekdError(f"--threads must be >= 1, got {args.threads}")
    return Landmarker(args.model, device=args.device, threads=args.threads)


def annotate(image, faces, scheme, *, radius: float | None = None):
    """A Pillow image of ``image`` (RGB array) with each face's box and landmarks drawn."""
    import numpy as np
    from PIL import Image, ImageDraw

    from facekd.engine.plots import draw_landmarks

    im = Image.fromarray(np.asarray(image))
    draw = ImageDraw.Draw(im)
    for f in faces:
        x, y, w, h = (float(v) for v in f.box)
        r = radius if radius is not None else max(1.5, min(w, h) / 60)
        if f.rotation:
            import math

            c, s = math.cos(math.radians(f.rotation)), math.sin(math.radians(f.rotation))
            cx, cy = x + w / 2, y + h / 2
            corners = [(cx + c * dx - s * dy, cy + s * dx + c * dy)
                       for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))]
            draw.polygon(corners, outline=(0, 255, 0))
        else:
            draw.rectangle((x, y, x + w, y + h), outline=(0, 255, 0), width=max(1, int(r // 2)))
        draw_landmarks(draw, f.landmarks, scheme, radius=r)
        label = f"{f.score:.2f}"
        draw.text((x + 2, max(0.0, y - 12)), label, fill=(0, 255, 0))
    return im


def _outputs(out: Path | None, images: list[Path]) -> list[Path | None]:
    """The annotated image of each input: ``-o`` names the file for one input, a folder for
    several (``<name>.landmarks.png`` per image)."""
    if out is None:
        return [None] * len(images)
    as_dir = out.is_dir() or str(out).endswith(("/", "\\")) or (out.suffix == "" and not out.exists())
    if len(images) > 1 and not as_dir:
        what = "is a file" if out.exists() else "is an image file name"
        raise FacekdError(f"-o {out}: {len(images)} images need a folder for -o, and {out} {what}")
    if as_dir:
        check_folder(out, "-o")
        names = [p.stem for p in images]
        dup = {n for n in names if names.count(n) > 1}
        stems = [f"{p.stem}-{i}" if p.stem in dup else p.stem for i, p in enumerate(images)]
        return [out / f"{s}.landmarks.png" for s in stems]
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise FacekdError(f"-o {out}: unknown image extension (use .png or .jpg, or a folder)")
    return [out]


def _report(rec: dict[str, Any], faces, out: Path | None) -> str:
    return (f"{rec['image']}: {len(faces)} face(s)"
            + "".join(f"; box [{', '.join(f'{v:.1f}' for v in f.box)}] score {f.score:.3f}" for f in faces)
            + (f" -> {out}" if out is not None else ""))


def run(args: argparse.Namespace) -> int:
    from facekd.api import read_image

    box = parse_box(args.box)
    if args.max_faces is not None and args.max_faces < 1:
        raise FacekdError(f"--max-faces must be >= 1, got {args.max_faces}")
    images = [Path(p) for p in args.images]
    outs = _outputs(args.output, images)
    written = [o for o in outs if o is not None]
    check_outputs(written + ([o.with_suffix(".json") for o in written] if args.json else []),
                  overwrite=args.overwrite)
    batch = len(images) > 1
    failed: list[str] = []  # images of a batch that could not be processed: reported, the batch goes on
    results: list[dict[str, Any]] = []
    missing = []
    lm = None  # loaded at the first readable image: a missing file is reported without the model

    def skip(path: Path, e: FacekdError) -> None:
        if not batch:
            raise e
        print(f"facekd detect: error: {e}", file=sys.stderr)
        failed.append(str(path))
        results.append({"image": str(path), "error": str(e)})

    for path, out in zip(images, outs):
        try:
            if not path.is_file():
                raise FacekdError(f"{path}: image file not found" if not path.exists() else f"{path}: not a file")
            img = read_image(path)
        except FacekdError as e:
            skip(path, e)
            continue
        lm = lm or load_landmarker(args)  # a bad --model stops the run: not a per-image problem
        try:
            faces = lm.detect(img, None if box is None else [box], box_convention=args.box_convention,
                              max_faces=args.max_faces)
        except FacekdError as e:
            skip(path, e)
            continue
        rec = {"image": str(path), "width": int(img.shape[1]), "height": int(img.shape[0]),
               "model": lm.card.model, "scheme": lm.scheme.name, "faces": [f.to_dict() for f in faces]}
        results.append(rec)
        if not faces:
            missing.append(str(path))
        if out is not None:
            save_image(annotate(img, faces, lm.scheme), out)
            rec["output"] = str(out)
            if args.json:
                save_text(json.dumps(rec, indent=1) + "\n", out.with_suffix(".json"))
        if not args.json:
            print(_report(rec, faces, out))
    if args.json:
        json.dump(results if len(results) > 1 else results[0], sys.stdout, indent=1)
        sys.stdout.write("\n")
    if failed:
        raise FacekdError(f"{len(failed)} of {len(images)} images failed ({', '.join(failed)})"
                          + (f"; no face found in {len(missing)}" if missing else "")
                          + f"; {len(images) - len(failed)} processed")
    if missing:
        raise NoFaceFoundError("no face found in " + ", ".join(missing)
                               + " (pass --box X,Y,W,H to give the face box)")
    return 0
