"""Evaluation figures: CED curves and learning curves (matplotlib), face contact sheets with landmarks
(Pillow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from facekd.schemes import LandmarkScheme

__all__ = ["plot_ced", "read_val_log", "plot_learning_curves", "draw_landmarks", "face_tile", "contact_sheet", "gt_contact_sheet",
           "worst_faces_sheet", "GROUP_COLORS"]

# Colours per scheme group; the jaw is drawn as a gradient so its order is visible.
GROUP_COLORS: dict[str, tuple[int, int, int]] = {
    "jaw": (255, 220, 0),
    "right_brow": (255, 140, 0),
    "left_brow": (0, 200, 255),
    "nose": (0, 255, 120),
    "right_eye": (255, 40, 40),
    "left_eye": (40, 90, 255),
    "mouth": (255, 0, 255),
    "right_pupil": (255, 255, 255),
    "left_pupil": (255, 255, 255),
}
_OTHER = (200, 200, 200)


def plot_ced(curves: Mapping[str, np.ndarray], path: str | Path, thr: float = 0.10,
             title: str = "Cumulative error distribution") -> Path:
    """CED curves of several methods (name -> per-face NMEs) on one plot, saved as PNG; the
    legend shows NME / FR / AUC at ``thr``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facekd.engine.metrics import auc, ced, failure_rate

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for name, nmes in curves.items():
        e = np.asarray(nmes, dtype=np.float64)
        xs, ys = ced(e, thr, bins=1001)
        label = (f"{name}: NME {100 * e.mean():.2f}%, FR {100 * failure_rate(e, thr):.2f}%, "
                 f"AUC {auc(e, thr):.3f}")
        ax.step(xs * 100, ys, where="post", label=label, linewidth=1.5)
    ax.set_xlim(0, thr * 100)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("fraction of faces")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save_figure(fig, path)


def read_val_log(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a training run's ``val_log.csv`` (a run folder or the file) as float arrays, one
    row per validation; a resumed run's repeated epochs keep their last row."""
    import csv

    p = Path(path)
    if p.is_dir():
        p = p / "val_log.csv"
    if not p.is_file():
        from facekd.errors import FacekdError

        raise FacekdError(f"no val_log.csv at {p}")
    with open(p, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    last: dict[str, dict[str, str]] = {}
    for r in rows:
        last[r["epoch"]] = r
    rows = sorted(last.values(), key=lambda r: float(r["epoch"]))
    cols = rows[0].keys() if rows else ()
    return {c: np.array([float(r[c]) if r.get(c) not in (None, "") else np.nan for r in rows]) for c in cols}


def plot_learning_curves(runs: Mapping[str, str | Path], path: str | Path, *,
                         reference: Mapping[str, float] | None = None,
                         title: str = "Validation NME by epoch") -> Path:
    """Val NME against epoch for training runs (name -> run folder or ``val_log.csv``): the mean over
    the val sets solid, each val set dashed, the best epoch marked; ``reference``: horizontal lines
    (label -> NME as a fraction, e.g. a target)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (name, run) in enumerate(runs.items()):
        log = read_val_log(run)
        c = colors[n % len(colors)]
        ep, mean = log["epoch"], 100 * log["val_nme"]
        if len(ep) == 0:
            continue
        b = int(np.nanargmin(mean))
        ax.plot(ep, mean, "-o", color=c, markersize=3, linewidth=1.6,
                label=f"{name}: mean val, best {mean[b]:.2f}% @ {ep[b]:g}")
        ax.plot(ep[b], mean[b], "*", color=c, markersize=10)
        for key, style in zip(sorted(k for k in log if k.startswith("val_") and k.endswith("/nme")), ("--", ":", "-.")):
            ax.plot(ep, 100 * log[key], style, color=c, linewidth=1, alpha=0.8, label=f"{name}: {key[4:-4]}")
    for label, v in (reference or {}).items():
        ax.axhline(100 * v, color="gray", linestyle="--", linewidth=1)
        ax.annotate(f"{label} {100 * v:.2f}%", (ax.get_xlim()[0], 100 * v), fontsize=7, color="gray",
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("epoch")
    ax.set_ylabel("val NME (%, inter-ocular)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    return _save_figure(fig, path)


def _point_colors(scheme: LandmarkScheme) -> list[tuple[int, int, int]]:
    groups = scheme.group_of()
    colors = [GROUP_COLORS.get(g, _OTHER) if g else _OTHER for g in groups]
    jaw = list(scheme.groups.get("jaw", ()))
    if len(jaw) > 1:  # yellow -> red along the jaw, so its direction is visible
        for t, i in enumerate(jaw):
            f = t / (len(jaw) - 1)
            colors[i] = (255, int(230 * (1 - f)), 0)
    return colors


def draw_landmarks(draw, points: np.ndarray, scheme: LandmarkScheme, *, radius: float = 2.0,
                   lines: bool = True, color: tuple[int, int, int] | None = None,
                   visible: np.ndarray | None = None) -> None:
    """Draw points (tile pixel coordinates) with per-group colours (or one ``color``) and
    polylines in index order within each group; hollow circles for invisible points."""
    pts = np.asarray(points, dtype=np.float64)
    colors = _point_colors(scheme) if color is None else [color] * len(pts)
    if lines:
        for g, idx in scheme.groups.items():
            seq = [tuple(pts[i]) for i in idx if np.isfinite(pts[i]).all()]
            if len(seq) > 1:
                draw.line(seq, fill=color or GROUP_COLORS.get(g, _OTHER), width=1)
    for i, (x, y) in enumerate(pts):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        box = (x - radius, y - radius, x + radius, y + radius)
        if visible is not None and not visible[i]:
            draw.ellipse(box, outline=colors[i], width=1)
        else:
            draw.ellipse(box, fill=colors[i], outline=(0, 0, 0))


def face_tile(image: np.ndarray, points_sets: Sequence[tuple[np.ndarray, dict[str, Any]]],
              box: np.ndarray, scheme: LandmarkScheme, size: int = 192, crop_scale: float = 1.5,
              label: str = ""):
    """A Pillow image: the face cropped around ``box`` (via the crop kernel) with each
    ``(points in image coords, draw_landmarks kwargs)`` drawn on it, plus a label."""
    from PIL import Image, ImageDraw

    from facekd import kernels
    from facekd.data.base import transform_points

    crop, affine = kernels.crop_box(image, np.asarray(box, dtype=np.float32), size, scale=crop_scale,
                                    mean=(0.0, 0.0, 0.0), std=(1.0 / 255, 1.0 / 255, 1.0 / 255))
    tile = Image.fromarray(np.clip(np.asarray(crop).transpose(1, 2, 0), 0, 255).astype(np.uint8))
    inv = kernels.affine_invert(np.asarray(affine, dtype=np.float32))
    draw = ImageDraw.Draw(tile)
    radius = max(1.5, size / 110)
    for pts, kw in points_sets:
        draw_landmarks(draw, transform_points(pts, inv), scheme, radius=radius, **kw)
    if label:
        w = draw.textlength(label)
        draw.rectangle((0, 0, w + 6, 13), fill=(0, 0, 0))
        draw.text((3, 1), label, fill=(255, 255, 255))
    return tile


def contact_sheet(tiles: Sequence, columns: int = 8, title: str = "",
                  background: tuple[int, int, int] = (24, 24, 24)):
    """Arrange equally sized Pillow tiles in a grid, with an optional title bar (lines split
    on newlines)."""
    from PIL import Image, ImageDraw

    if not tiles:
        raise ValueError("contact_sheet: no tiles")
    tw, th = tiles[0].size
    cols = min(columns, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    lines = title.splitlines() if title else []
    top = 14 * len(lines) + 4 if lines else 0
    sheet = Image.new("RGB", (cols * tw, rows * th + top), background)
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % cols) * tw, top + (i // cols) * th))
    draw = ImageDraw.Draw(sheet)
    for k, line in enumerate(lines):
        draw.text((4, 3 + 14 * k), line, fill=(255, 255, 255))
    return sheet


def gt_contact_sheet(dataset, path: str | Path, n: int = 16, *, columns: int = 8, size: int = 192,
                     title: str = "", indices: Sequence[int] | None = None) -> Path:
    """Ground-truth points of ``n`` faces of a loader drawn on their crops (colour per group,
    jaw gradient yellow -> red, hollow = occluded), saved as PNG."""
    idx = list(indices) if indices is not None else _spread(len(dataset), n)
    tiles = []
    for i in idx:
        it = dataset[i]
        name = Path(it["meta"].get("path", "")).name
        tiles.append(face_tile(it["image"], [(it["landmarks"], {"visible": it["visible"]})],
                               it["box"], dataset.scheme, size=size, label=f"{i}: {name}"[:32]))
    return _save(contact_sheet(tiles, columns, title), path)


def worst_faces_sheet(dataset, preds: np.ndarray, nmes: np.ndarray, path: str | Path, n: int = 16,
                      *, scheme: LandmarkScheme, columns: int = 8, size: int = 192,
                      get_item: Callable[[int], dict] | None = None) -> Path:
    """The ``n`` faces with the largest NME: ground truth in green, prediction in per-group
    colours, NME in the label; saved as PNG."""
    order = np.argsort(-np.asarray(nmes))[:n]
    get = get_item or dataset.__getitem__
    tiles = []
    for i in order:
        it = get(int(i))
        tiles.append(face_tile(
            it["image"],
            [(it["landmarks"], {"color": (0, 255, 0), "lines": False}), (preds[i], {"lines": True})],
            it["box"], scheme, size=size, label=f"#{int(i)} NME {100 * nmes[i]:.2f}%"))
    return _save(contact_sheet(tiles, columns, f"worst {len(order)} faces (green: ground truth)"), path)


def _spread(total: int, n: int) -> list[int]:
    if total <= n:
        return list(range(total))
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, n)})


def _save_figure(fig, path: str | Path) -> Path:
    """A matplotlib figure to ``path`` (PNG; folders made), closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _save(img, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)
    return path
