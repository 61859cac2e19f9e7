"""`facekd demo`: the model on the bundled sample photo (public domain, see facekd/assets/README.md)."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from facekd.commands.detect import add_model_arguments, annotate, load_landmarker
from facekd.commands.outputs import IMAGE_SUFFIXES, add_overwrite_argument, check_outputs, save_image, save_text
from facekd.errors import FacekdError, NoFaceFoundError

SAMPLE = "astronaut.jpg"


def sample_image_path() -> Path:
    """Path of the bundled sample photo."""
    f = resources.files("facekd").joinpath("assets", SAMPLE)
    if not f.is_file():
        raise FacekdError(f"the sample image {SAMPLE} is missing from this installation")
    return Path(str(f))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", type=Path, default=Path("facekd-demo.png"),
                   help="annotated image to write (default: facekd-demo.png; never replaced without --overwrite)")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON on stdout and write it beside the image (.json)")
    add_overwrite_argument(p)
    add_model_arguments(p)


def run(args: argparse.Namespace) -> int:
    from facekd.api import read_image

    if args.output.suffix.lower() not in IMAGE_SUFFIXES:
        raise FacekdError(f"-o {args.output}: use a .png or .jpg file name")
    sidecar = args.output.with_suffix(".json")
    check_outputs([args.output] + ([sidecar] if args.json else []), overwrite=args.overwrite)
    path = sample_image_path()
    lm = load_landmarker(args)
    img = read_image(path)
    faces = lm.detect(img, max_faces=1)
    if not faces:
        raise NoFaceFoundError(f"no face found in the sample image {path}")
    save_image(annotate(img, faces, lm.scheme), args.output)
    rec = {"image": SAMPLE, "width": int(img.shape[1]), "height": int(img.shape[0]), "model": lm.card.model,
           "scheme": lm.scheme.name, "faces": [f.to_dict() for f in faces], "output": str(args.output)}
    if args.json:
        save_text(json.dumps(rec, indent=1) + "\n", sidecar)
        json.dump(rec, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        f = faces[0]
        print(f"{SAMPLE}: face box [{', '.join(f'{v:.1f}' for v in f.box)}], {len(f.landmarks)} landmarks, "
              f"mean score {f.score:.3f} ({lm.card.model}) -> {args.output}")
    return 0
