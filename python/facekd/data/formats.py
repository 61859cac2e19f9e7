"""Readers of the landmark annotation formats: 300-W ``.pts``, WFLW lists, COCO-style json (COFW,
AFLW), dlib imglab XML and plain CSV. All produce 0-based pixel coordinates (pixel centres at
integers)."""

from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from facekd.data.base import IMAGE_EXTS, DataError, FaceRecord, LandmarkDataset
from facekd.schemes import LandmarkScheme, as_scheme, scheme_for_count

__all__ = ["Pts300W", "WFLW", "CocoKeypoints", "COFW", "DlibXML", "CSVLandmarks", "UnlabelledImages", "read_pts",
           "WFLW_ATTRIBUTES", "detect_format", "split_spec", "load_dataset"]

WFLW_ATTRIBUTES = ("pose", "expression", "illumination", "make-up", "occlusion", "blur")


def _resolve_scheme(scheme, num_points: int, where: str) -> LandmarkScheme:
    if scheme is not None:
        s = as_scheme(scheme)
        if s.num_points != num_points:
            raise DataError(where, f"has {num_points} points but scheme '{s.name}' has "
                                   f"{s.num_points}")
        return s
    s = scheme_for_count(num_points)
    if s is None:
        raise DataError(where, f"no built-in scheme has {num_points} points; pass scheme= "
                               "(a name or a YAML/JSON scheme file)")
    return s


class _Collector:
    """Collects records; a bad annotation raises or is recorded, per ``on_error``."""

    def __init__(self, on_error: str):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.records: list[FaceRecord] = []
        self.skipped: list[tuple[str, str]] = []

    def bad(self, err: DataError) -> None:
        if self.on_error == "raise":
            raise err
        self.skipped.append((err.path, err.reason))


def _finite_or_fail(pts: np.ndarray, where: str) -> None:
    if not np.isfinite(pts).all():
        raise DataError(where, "landmark coordinates are not all finite")


# ---------------------------------------------------------------------------------------------
# 300-W .pts
# ---------------------------------------------------------------------------------------------

def read_pts(path: str | Path) -> np.ndarray:
    """Parse a 300-W ``.pts`` file; returns float32 [K, 2] as written (1-based)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataError(path, f"cannot read annotation ({e})") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    n_points = None
    try:
        start = lines.index("{")
        end = lines.index("}", start)
    except ValueError:
        raise DataError(path, "not a .pts file (no '{' ... '}' block)") from None
    for ln in lines[:start]:
        key, _, val = ln.partition(":")
        if key.strip().lower() == "n_points":
            try:
                n_points = int(val.strip())
            except ValueError:
                raise DataError(path, f"bad n_points line {ln!r}") from None
    rows = []
    for ln in lines[start + 1:end]:
        parts = ln.split()
        if len(parts) != 2:
            raise DataError(path, f"bad point line {ln!r} (expected 'x y')")
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise DataError(path, f"bad point line {ln!r}") from None
    if n_points is None:
        raise DataError(path, "missing 'n_points:' header")
    if len(rows) != n_points:
        raise DataError(path, f"header says n_points: {n_points} but {len(rows)} points follow")
    pts = np.asarray(rows, dtype=np.float32).reshape(-1, 2)
    _finite_or_fail(pts, str(path))
    return pts


_300W_SUBSETS = {  # folder name (lower case) -> subsets
    "ibug": ("challenging", "full"),
    "01_indoor": ("indoor", "300w-test"),
    "02_outdoor": ("outdoor", "300w-test"),
}


def _300w_subsets(rel_parts: tuple[str, ...]) -> list[str]:
    parts = [p.lower() for p in rel_parts]
    out: list[str] = []
    for p in parts[:-1]:
        out.extend(_300W_SUBSETS.get(p, ()))
    stem = parts[-1]  # 300-W test files are named indoor_NNN / outdoor_NNN
    for prefix in ("indoor", "outdoor"):
        if stem.startswith(prefix + "_"):
            out.extend((prefix, "300w-test"))
    folders = parts[:-1]
    if ("helen" in folders or "lfpw" in folders) and "testset" in folders:
        out.extend(("common", "full"))
    if ("helen" in folders or "lfpw" in folders or "afw" in folders) and "testset" not in folders:
        out.append("train")
    return list(dict.fromkeys(out))


class Pts300W(LandmarkDataset):
    """Images with a 300-W ``.pts`` beside them, found recursively under ``root`` (300W, 300VW's
    ``annot/`` + ``imgs/``, menpo, ytf68). ``.pts`` are 1-based: 1 is subtracted. 300W subsets
    (common / challenging / full, indoor / outdoor) come from folder names."""

    source = "300w-pts"

    def __init__(self, root: str | Path, scheme: LandmarkScheme | str | None = None, *,
                 on_error: str = "raise"):
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "dataset folder not found")
        col = _Collector(on_error)
        pts_files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".pts" and p.is_file())
        if not pts_files:
            raise DataError(root, "no .pts files found under this folder")
        dir_cache: dict[Path, dict[str, Path]] = {}
        resolved: LandmarkScheme | None = None
        for pf in pts_files:
            try:
                pts = read_pts(pf) - 1.0
                if resolved is None:
                    resolved = _resolve_scheme(scheme, len(pts), str(pf))
                elif len(pts) != resolved.num_points:
                    raise DataError(pf, f"has {len(pts)} points, expected {resolved.num_points} "
                                        f"('{resolved.name}')")
                img = self._find_image(pf, dir_cache)
            except DataError as e:
                col.bad(e)
                continue
            rel = pf.relative_to(root)
            col.records.append(FaceRecord(
                image_path=str(img), landmarks=pts.astype(np.float32),
                visible=np.ones(len(pts), dtype=bool), box=None,
                meta={"path": str(img), "annotation": str(pf), "source": self.source,
                      "subsets": _300w_subsets(rel.parts[:-1] + (pf.stem,))}))
        if resolved is None:
            raise DataError(root, "no usable .pts file: " + "; ".join(r for _, r in col.skipped[:3]))
        super().__init__(resolved, col.records, col.skipped)

    @staticmethod
    def _find_image(pts_file: Path, cache: dict[Path, dict[str, Path]]) -> Path:
        folders = [pts_file.parent]
        if pts_file.parent.name.lower() in ("annot", "annots", "annotations", "landmarks"):
            folders += [pts_file.parent.parent / n for n in ("imgs", "images", "frames")]
        for folder in folders:
            if folder not in cache:
                entries: dict[str, Path] = {}
                if folder.is_dir():
                    for e in sorted(os.scandir(folder), key=lambda e: e.name):
                        p = Path(e.path)
                        if p.suffix.lower() in IMAGE_EXTS:
                            entries.setdefault(p.stem, p)
                cache[folder] = entries
            hit = cache[folder].get(pts_file.stem)
            if hit is not None:
                return hit
        raise DataError(pts_file, "no image with the same name beside it "
                                  f"(looked for {'/'.join(IMAGE_EXTS)})")


# ---------------------------------------------------------------------------------------------
# WFLW
# ---------------------------------------------------------------------------------------------

def _find_up(start: Path, name: str, levels: int = 4) -> Path | None:
    p = start
    for _ in range(levels):
        if (p / name).is_dir():
            return p / name
        p = p.parent
    return None


class WFLW(LandmarkDataset):
    """WFLW ``list_98pt_rect_attr_*.txt``: per line 2K coordinates, the face rectangle
    ``x_min y_min x_max y_max``, 6 attribute flags and the image path relative to ``image_root``
    (default: the ``WFLW_images`` folder found beside an ancestor of the list). Attribute flags
    become subsets (pose, expression, illumination, make-up, occlusion, blur). Coordinates are
    used as written (0-based)."""

    source = "wflw"

    def __init__(self, annotation_file: str | Path, image_root: str | Path | None = None,
                 scheme: LandmarkScheme | str | None = None, *, on_error: str = "raise"):
        ann = Path(annotation_file)
        if not ann.is_file():
            raise DataError(ann, "WFLW annotation list not found")
        if image_root is None:
            image_root = _find_up(ann.parent, "WFLW_images") or ann.parent
        image_root = Path(image_root)
        col = _Collector(on_error)
        resolved: LandmarkScheme | None = None
        text = ann.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            tok = line.split()
            if not tok:
                continue
            where = f"{ann}:{lineno}"
            try:
                n_coord = len(tok) - 4 - len(WFLW_ATTRIBUTES) - 1
                if n_coord < 2 or n_coord % 2:
                    raise DataError(where, f"{len(tok)} fields; expected 2K coordinates + 4 box + "
                                           f"{len(WFLW_ATTRIBUTES)} flags + path")
                try:
                    vals = np.asarray([float(t) for t in tok[:-1]], dtype=np.float64)
                except ValueError as e:
                    raise DataError(where, f"non-numeric field ({e})") from None
                pts = vals[:n_coord].reshape(-1, 2).astype(np.float32)
                if resolved is None:
                    resolved = _resolve_scheme(scheme, len(pts), where)
                elif len(pts) != resolved.num_points:
                    raise DataError(where, f"has {len(pts)} points, expected {resolved.num_points}")
                _finite_or_fail(pts, where)
                x0, y0, x1, y1 = vals[n_coord:n_coord + 4]
                flags = vals[n_coord + 4:n_coord + 4 + len(WFLW_ATTRIBUTES)]
                if not np.all(np.isin(flags, (0.0, 1.0))):
                    raise DataError(where, f"attribute flags must be 0/1, got {flags.tolist()}")
                box = np.asarray([x0, y0, x1 - x0, y1 - y0], dtype=np.float32)
                if not (box[2] > 0 and box[3] > 0):
                    box = None  # degenerate rectangle: fall back to the landmarks' box
            except DataError as e:
                col.bad(e)
                continue
            attrs = {a: bool(f) for a, f in zip(WFLW_ATTRIBUTES, flags)}
            img = image_root / tok[-1]
            col.records.append(FaceRecord(
                image_path=str(img), landmarks=pts, visible=np.ones(len(pts), dtype=bool), box=box,
                meta={"path": str(img), "annotation": where, "source": self.source,
                      "attributes": attrs, "subsets": [a for a, f in attrs.items() if f]}))
        if resolved is None:
            raise DataError(ann, "no usable face line" + (": " + col.skipped[0][1] if col.skipped else ""))
        super().__init__(resolved, col.records, col.skipped)


# ---------------------------------------------------------------------------------------------
# COCO-style keypoints json (mmpose COFW / AFLW / 300W / WFLW json)
# ---------------------------------------------------------------------------------------------

class CocoKeypoints(LandmarkDataset):
    """COCO-style json: ``images[]`` + ``annotations[]`` with ``keypoints`` as K x [x, y, v] and an
    optional ``bbox`` [x, y, w, h]. v = 0: not labelled (NaN); v = 2: visible; v = 1: occluded, or,
    in files that never use v = 2 (mmpose's AFLW), labelled and visible (``visibility="auto"``).
    Images are looked up under ``image_root`` (default: the json's folder, then its ``images/``)."""

    source = "coco"

    def __init__(self, json_file: str | Path, image_root: str | Path | None = None,
                 scheme: LandmarkScheme | str | None = None, *, visibility: str = "auto",
                 on_error: str = "raise"):
        jf = Path(json_file)
        if visibility not in ("auto", "coco", "labelled"):
            raise ValueError(f"visibility must be auto|coco|labelled, got {visibility!r}")
        try:
            data = json.loads(jf.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(jf, "json annotation file not found") from None
        except (OSError, ValueError) as e:
            raise DataError(jf, f"cannot parse json ({e})") from None
        if not isinstance(data, dict) or "annotations" not in data or "images" not in data:
            raise DataError(jf, "not a COCO-style keypoint file (needs 'images' and 'annotations')")
        roots = [Path(image_root)] if image_root is not None else [jf.parent, jf.parent / "images"]
        images = {im["id"]: im for im in data["images"]}
        anns = data["annotations"]
        all_v = [kp[2::3] for kp in (a.get("keypoints", []) for a in anns)]
        uses_2 = any(v == 2 for vs in all_v for v in vs)
        visible_is_labelled = visibility == "labelled" or (visibility == "auto" and not uses_2)
        col = _Collector(on_error)
        resolved: LandmarkScheme | None = None
        for a in anns:
            where = f"{jf}: annotation id {a.get('id', '?')}"
            try:
                kp = np.asarray(a.get("keypoints", []), dtype=np.float64)
                if kp.size == 0 or kp.size % 3:
                    raise DataError(where, f"'keypoints' must hold K x [x, y, v], got {kp.size} values")
                kp = kp.reshape(-1, 3)
                if resolved is None:
                    resolved = _resolve_scheme(scheme, len(kp), where)
                elif len(kp) != resolved.num_points:
                    raise DataError(where, f"has {len(kp)} points, expected {resolved.num_points}")
                im = images.get(a.get("image_id"))
                if im is None:
                    raise DataError(where, f"image_id {a.get('image_id')!r} not in 'images'")
                img = next((r / im["file_name"] for r in roots if (r / im["file_name"]).exists()),
                           roots[0] / im["file_name"])
                labelled = kp[:, 2] > 0
                pts = kp[:, :2].astype(np.float32)
                pts[~labelled] = np.nan
                if not np.isfinite(pts[labelled]).all():
                    raise DataError(where, "landmark coordinates are not all finite")
                if not labelled.any():
                    raise DataError(where, "no labelled keypoint")
                visible = labelled if visible_is_labelled else kp[:, 2] >= 2
                box = None
                if a.get("bbox") is not None and len(a["bbox"]) == 4:
                    b = np.asarray(a["bbox"], dtype=np.float32)
                    if np.isfinite(b).all() and b[2] > 0 and b[3] > 0:
                        box = b
            except DataError as e:
                col.bad(e)
                continue
            col.records.append(FaceRecord(
                image_path=str(img), landmarks=pts, visible=visible.astype(bool), box=box,
                meta={"path": str(img), "annotation": where, "source": self.source, "subsets": [],
                      "image_id": a.get("image_id"), "annotation_id": a.get("id")}))
        if resolved is None:
            raise DataError(jf, "no usable annotation" + (": " + col.skipped[0][1] if col.skipped else ""))
        super().__init__(resolved, col.records, col.skipped)


class COFW(CocoKeypoints):
    """COFW in mmpose's COCO-style json (29 points; v = 2 visible, v = 1 occluded)."""

    source = "cofw"

    def __init__(self, json_file: str | Path, image_root: str | Path | None = None, *,
                 on_error: str = "raise"):
        super().__init__(json_file, image_root, scheme="cofw29", visibility="coco",
                         on_error=on_error)


# ---------------------------------------------------------------------------------------------
# dlib imglab XML
# ---------------------------------------------------------------------------------------------

class DlibXML(LandmarkDataset):
    """dlib imglab XML: ``<image file>`` / ``<box top left width height>`` / ``<part name x y>``.
    Each box is one face; boxes marked ``ignore`` are left out; missing parts are NaN."""

    source = "dlib"

    def __init__(self, xml_file: str | Path, image_root: str | Path | None = None,
                 scheme: LandmarkScheme | str | None = None, *, on_error: str = "raise"):
        xf = Path(xml_file)
        try:
            tree = ET.parse(xf)
        except FileNotFoundError:
            raise DataError(xf, "XML annotation file not found") from None
        except (OSError, ET.ParseError) as e:
            raise DataError(xf, f"cannot parse XML ({e})") from None
        root_dir = Path(image_root) if image_root is not None else xf.parent
        col = _Collector(on_error)
        resolved: LandmarkScheme | None = None
        for im in tree.getroot().iter("image"):
            for bi, box_el in enumerate(im.iter("box")):
                if box_el.get("ignore", "0") not in ("0", ""):
                    continue
                where = f"{xf}: {im.get('file')} box {bi}"
                try:
                    parts = {}
                    for p in box_el.iter("part"):
                        try:
                            parts[int(p.get("name"))] = (float(p.get("x")), float(p.get("y")))
                        except (TypeError, ValueError):
                            raise DataError(where, f"bad <part> {ET.tostring(p).decode().strip()}") from None
                    if not parts:
                        raise DataError(where, "box has no <part> landmarks")
                    if resolved is None:
                        resolved = _resolve_scheme(scheme, max(parts) + 1, where)
                    k = resolved.num_points
                    if max(parts) >= k or min(parts) < 0:
                        raise DataError(where, f"part names must be 0..{k - 1}")
                    pts = np.full((k, 2), np.nan, dtype=np.float32)
                    for i, xy in parts.items():
                        pts[i] = xy
                    try:
                        box = np.asarray([float(box_el.get(n)) for n in ("left", "top", "width", "height")],
                                         dtype=np.float32)
                    except (TypeError, ValueError):
                        raise DataError(where, "box needs numeric left/top/width/height") from None
                    if not (box[2] > 0 and box[3] > 0):
                        box = None
                except DataError as e:
                    col.bad(e)
                    continue
                img = root_dir / im.get("file", "")
                col.records.append(FaceRecord(
                    image_path=str(img), landmarks=pts, visible=np.isfinite(pts).all(axis=1), box=box,
                    meta={"path": str(img), "annotation": where, "source": self.source, "subsets": []}))
        if resolved is None:
            raise DataError(xf, "no usable face box" + (": " + col.skipped[0][1] if col.skipped else ""))
        super().__init__(resolved, col.records, col.skipped)


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------

class CSVLandmarks(LandmarkDataset):
    """CSV rows ``image, x0, y0, x1, y1, ...`` (an optional header row is detected). Image paths are
    relative to ``image_root`` (default: the CSV's folder). Coordinates are 0-based unless
    ``one_based=True``; empty or NaN cells mark unlabelled points."""

    source = "csv"

    def __init__(self, csv_file: str | Path, image_root: str | Path | None = None,
                 scheme: LandmarkScheme | str | None = None, *, one_based: bool = False,
                 on_error: str = "raise"):
        cf = Path(csv_file)
        if not cf.is_file():
            raise DataError(cf, "CSV file not found")
        root_dir = Path(image_root) if image_root is not None else cf.parent
        col = _Collector(on_error)
        resolved: LandmarkScheme | None = None
        with cf.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        for lineno, row in enumerate(rows, 1):
            row = [c.strip() for c in row]
            if not row or all(c == "" for c in row):
                continue
            where = f"{cf}:{lineno}"
            if lineno == 1 and not _is_number(row[1] if len(row) > 1 else ""):
                continue  # header
            try:
                vals = row[1:]
                if len(vals) < 2 or len(vals) % 2:
                    raise DataError(where, f"expected image + an even number of coordinates, got "
                                           f"{len(vals)} values")
                try:
                    pts = np.asarray([float(v) if v != "" else np.nan for v in vals],
                                     dtype=np.float32).reshape(-1, 2)
                except ValueError as e:
                    raise DataError(where, f"non-numeric coordinate ({e})") from None
                if resolved is None:
                    resolved = _resolve_scheme(scheme, len(pts), where)
                elif len(pts) != resolved.num_points:
                    raise DataError(where, f"has {len(pts)} points, expected {resolved.num_points}")
                if np.isinf(pts).any():
                    raise DataError(where, "infinite coordinate")
                labelled = np.isfinite(pts).all(axis=1)
                pts[~labelled] = np.nan
                if not labelled.any():
                    raise DataError(where, "no labelled point")
                if one_based:
                    pts = pts - 1.0
            except DataError as e:
                col.bad(e)
                continue
            img = root_dir / row[0]
            col.records.append(FaceRecord(
                image_path=str(img), landmarks=pts, visible=labelled, box=None,
                meta={"path": str(img), "annotation": where, "source": self.source, "subsets": []}))
        if resolved is None:
            raise DataError(cf, "no usable row" + (": " + col.skipped[0][1] if col.skipped else ""))
        super().__init__(resolved, col.records, col.skipped)


# The 68-point tight box of a UTKFace "aligned & cropped" 200x200 face as fractions (x, y, w, h) of the image:
# the median over 40 faces of crop_part1 (every 250th file) of the bundled default model's points, each refined
# by 3 passes from a central guess (10th-90th percentile: x -0.03..0.11, y 0.13..0.19, w 0.82..0.98,
# h 0.77..0.89). The box nearly spans the width, so the 1.25x crop reaches past the image (zero padding).
UTKFACE_FACE_BOX = (0.02, 0.16, 0.91, 0.85)


class UnlabelledImages(LandmarkDataset):
    """A folder of face crops without landmarks (e.g. ``../shared/data/utkface_unlabeled/images``): one face
    per image, its landmarks all NaN (``visible`` all False, ``meta["labelled"] = False``).

    The face box is ``face_box`` (x, y, w, h as fractions of each image's width / height) in the tight-landmark
    convention, so :class:`facekd.data.CropDataset` crops it like a labelled face (``crop_scale`` around it;
    what falls outside the image is padding). The default is measured on UTKFace's tight crops
    (:data:`UTKFACE_FACE_BOX`); the image size is read from the file header only. Spec: ``images:FOLDER``.
    """

    source = "images"

    def __init__(self, root: str | Path, scheme: LandmarkScheme | str | None = None, *,
                 face_box: tuple[float, float, float, float] = UTKFACE_FACE_BOX, on_error: str = "raise"):
        from PIL import Image

        r = Path(root)
        if not r.is_dir():
            raise DataError(r, "image folder not found")
        if scheme is None:
            raise DataError(r, "an unlabelled image folder needs the scheme of the data it joins (scheme=)")
        fb = np.asarray(face_box, dtype=np.float64)
        if fb.shape != (4,) or not np.isfinite(fb).all() or fb[2] <= 0 or fb[3] <= 0:
            raise DataError(r, f"face_box must be 4 finite fractions (x, y, w, h) with w, h > 0, got {face_box}")
        sch = as_scheme(scheme)
        col = _Collector(on_error)
        files = sorted(p for p in r.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
        k = sch.num_points
        for f in files:
            try:
                with Image.open(f) as im:
                    w, h = im.size
            except (OSError, ValueError, SyntaxError) as e:
                col.bad(DataError(f, f"cannot read image ({type(e).__name__}: {e})"))
                continue
            box = (fb * np.array([w, h, w, h])).astype(np.float32)
            col.records.append(FaceRecord(
                image_path=str(f), landmarks=np.full((k, 2), np.nan, np.float32), visible=np.zeros(k, bool),
                box=box, meta={"path": str(f), "source": self.source, "subsets": [], "labelled": False}))
        if not col.records:
            raise DataError(r, "no readable image (" + ", ".join(IMAGE_EXTS) + ")"
                            + (": " + col.skipped[0][1] if col.skipped else ""))
        super().__init__(sch, col.records, col.skipped)

    labelled = False


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# auto-detection
# ---------------------------------------------------------------------------------------------

_FORMATS = {
    "pts": "pts", "300w": "pts", "300vw": "pts", "menpo": "pts", "ytf68": "pts",
    "wflw": "wflw", "coco": "coco", "json": "coco", "cofw": "cofw", "aflw": "coco",
    "dlib": "dlib", "xml": "dlib", "csv": "csv", "images": "images",
}


def _walk_files(root: Path, max_files: int = 100000) -> Iterator[Path]:
    for i, p in enumerate(root.rglob("*")):
        if i >= max_files:
            return
        if p.is_file():
            yield p


def detect_format(path: str | Path) -> tuple[str, Path]:
    """Guess ``(format, annotation path)`` from a file or folder."""
    p = Path(path)
    if p.is_file():
        suf = p.suffix.lower()
        if suf == ".txt":
            return "wflw", p
        if suf == ".json":
            return "coco", p
        if suf == ".xml":
            return "dlib", p
        if suf == ".csv":
            return "csv", p
        if suf == ".pts":
            raise DataError(p, "give the folder holding the .pts files, not one file")
        raise DataError(p, f"unknown annotation file type '{suf}' (expected .txt WFLW list, .json, "
                           ".xml, .csv, or a folder of .pts)")
    if not p.is_dir():
        raise DataError(p, "dataset path not found")
    by_kind: dict[str, list[Path]] = {"pts": [], "wflw": [], "json": [], "xml": [], "csv": []}
    for f in _walk_files(p):
        n, suf = f.name.lower(), f.suffix.lower()
        if suf == ".pts":
            by_kind["pts"].append(f)
            break  # one is enough: a folder of .pts wins
        if suf == ".txt" and n.startswith("list_") and "pt_rect_attr" in n:
            by_kind["wflw"].append(f)
        elif suf == ".json":
            by_kind["json"].append(f)
        elif suf == ".xml":
            by_kind["xml"].append(f)
        elif suf == ".csv":
            by_kind["csv"].append(f)
    if by_kind["pts"]:
        return "pts", p
    for kind, fmt in (("wflw", "wflw"), ("xml", "dlib"), ("json", "coco"), ("csv", "csv")):
        files = by_kind[kind]
        if len(files) == 1:
            return fmt, files[0]
        if len(files) > 1:
            listing = ", ".join(str(f.relative_to(p)) for f in sorted(files)[:6])
            raise DataError(p, f"several {kind} annotation files ({listing}); give one of them")
    raise DataError(p, "no annotations recognised (.pts files, WFLW list_*pt_rect_attr_*.txt, "
                       "COCO json, dlib xml or csv)")


def split_spec(spec: str | Path) -> tuple[str | None, Path]:
    """``"FORMAT:PATH"`` -> (normalised format, path); a plain path -> (None, path)."""
    s = str(spec)
    head, sep, tail = s.partition(":")
    if sep and len(head) > 1 and head.lower() in _FORMATS:
        return _FORMATS[head.lower()], Path(tail).expanduser()
    return None, Path(s).expanduser()


def load_dataset(spec: str | Path, scheme: LandmarkScheme | str | None = None, *,
                 on_error: str = "raise", image_root: str | Path | None = None) -> LandmarkDataset:
    """Open a dataset from a path, auto-detecting the format, or from ``FORMAT:PATH`` with FORMAT in
    pts/300w/300vw/menpo/ytf68, wflw, coco/json/aflw, cofw, dlib/xml, csv, or images (a folder of face
    crops WITHOUT landmarks, :class:`UnlabelledImages`: only for the distiller's unlabelled sources)."""
    fmt, path = split_spec(spec)
    if fmt is None:
        fmt, path = detect_format(path)
    elif fmt not in ("pts", "images") and path.is_dir():
        _, path = detect_format(path)
    kw: dict[str, Any] = {"on_error": on_error}
    if fmt == "pts":
        if image_root is not None:
            raise DataError(path, "image_root is not used by .pts folders (images sit beside them)")
        return Pts300W(path, scheme, **kw)
    if fmt == "wflw":
        return WFLW(path, image_root, scheme, **kw)
    if fmt == "cofw":
        if scheme is not None and as_scheme(scheme).name != "cofw29":
            raise DataError(path, "the cofw format is 29-point ('cofw29'); use coco: for others")
        return COFW(path, image_root, **kw)
    if fmt == "coco":
        return CocoKeypoints(path, image_root, scheme, **kw)
    if fmt == "dlib":
        return DlibXML(path, image_root, scheme, **kw)
    if fmt == "csv":
        return CSVLandmarks(path, image_root, scheme, **kw)
    if fmt == "images":
        if image_root is not None:
            raise DataError(path, "image_root is not used by an image folder")
        return UnlabelledImages(path, scheme, **kw)
    raise DataError(path, f"unknown format {fmt!r}")  # unreachable: _FORMATS is closed
