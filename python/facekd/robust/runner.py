"""Robustness evaluation of landmark models: NME under image corruptions and adversarial attacks.

For every corruption x severity the faces are corrupted once (deterministically from the seed) and
cropped once per preprocessing (input size, crop scale); every model with that preprocessing runs
on the same crops. Attacks (FGSM, PGD) run per model on its clean crops, on ``attack_faces`` faces.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facekd.data.augment import GeometricParams
from facekd.data.base import DataError, box_from_points, transform_points
from facekd.data.crop import CropDataset
from facekd.errors import FacekdError
from facekd.robust.corruptions import (CORRUPTIONS, SEVERITIES, CorruptionError, corrupt_geometry,
                                       corrupt_image, get_corruption)
from facekd.schemes import LandmarkScheme, as_scheme, common_points, convert

__all__ = ["RobustnessConfig", "ModelUnderTest", "RobustnessReport", "run_robustness", "corruption_sheet",
           "CachedFaces", "CorruptedFaces", "CorruptedCrops", "ATTACKS", "corruption_seed"]

ATTACKS = ("fgsm", "pgd")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def corruption_seed(seed: int, name: str) -> int:
    """Seed of one corruption's random draws (stable across runs and corruption orders)."""
    return (int(seed) * 1_000_003 + zlib.crc32(name.encode("utf-8"))) % 2**63


@dataclass
class RobustnessConfig:
    """What :func:`run_robustness` measures. ``epsilons`` are in pixel units (of 255)."""

    corruptions: tuple[str, ...] = tuple(CORRUPTIONS)
    severities: tuple[int, ...] = SEVERITIES
    attacks: tuple[str, ...] = ATTACKS
    epsilons: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    pgd_steps: int = 10
    pgd_step_ratio: float = 0.25      # PGD step size = ratio * epsilon
    max_faces: int | None = None      # evenly spread subset of the data (None: all)
    attack_faces: int | None = 64     # evenly spread subset of those for the attacks (None: all)
    batch_size: int = 32
    seed: int = 0
    norm: str = "interocular"
    box_from: str = "landmarks"

    def __post_init__(self) -> None:
        self.corruptions = tuple(self.corruptions)
        self.severities = tuple(int(s) for s in self.severities)
        self.attacks = tuple(self.attacks)
        self.epsilons = tuple(float(e) for e in self.epsilons)
        for c in self.corruptions:
            get_corruption(c)
        for s in self.severities:
            if not 1 <= s <= len(SEVERITIES):
                raise CorruptionError(f"severities must be in 1..{len(SEVERITIES)}, got {s}")
        for a in self.attacks:
            if a not in ATTACKS:
                raise FacekdError(f"unknown attack {a!r}; available: {', '.join(ATTACKS)}")
        if self.attacks and not self.epsilons:
            raise FacekdError("attacks need at least one epsilon")
        for e in self.epsilons:
            if not (math.isfinite(e) and 0 < e <= 255):
                raise FacekdError(f"epsilon must be in (0, 255] pixel units, got {e}")
        if self.pgd_steps < 1:
            raise FacekdError(f"pgd_steps must be >= 1, got {self.pgd_steps}")
        if not self.pgd_step_ratio > 0:
            raise FacekdError(f"pgd_step_ratio must be > 0, got {self.pgd_step_ratio}")
        for name in ("max_faces", "attack_faces"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise FacekdError(f"{name} must be >= 1 (or None for all), got {v}")
        if self.batch_size < 1:
            raise FacekdError(f"batch_size must be >= 1, got {self.batch_size}")


# ---------------------------------------------------------------------------------------------
# models

@dataclass
class ModelUnderTest:
    """A loaded model with what is needed to feed and decode it."""

    name: str
    module: Any
    scheme: LandmarkScheme
    output_type: str
    input_size: int
    crop_scale: float
    codec: Any = None
    mean: tuple[float, float, float] = _IMAGENET_MEAN
    std: tuple[float, float, float] = _IMAGENET_STD
    source: str = ""
    channels_last: bool = False   # feed NHWC-strided crops (the module was converted)

    @classmethod
    def load(cls, spec: str | Path, name: str | None = None, device: str = "cpu") -> "ModelUnderTest":
        """From a model directory, ``.safetensors`` file or training checkpoint (see
        :func:`facekd.models.load_model`)."""
        import torch

        from facekd.devices import torch_device
        from facekd.models import load_model

        dev = torch_device(device)  # before the (slow) load: a bad --device is one line at once
        module, card = load_model(spec)
        # channels-last convolutions run ~1.5-2x faster on CPU
        module = module.to(dev, memory_format=torch.channels_last).eval()
        m = cls.from_card(module, card, name=name or _model_label(spec), source=str(spec))
        m.channels_last = True
        return m

    @classmethod
    def from_card(cls, module, card, *, name: str, source: str = "") -> "ModelUnderTest":
        return cls(name=name, module=module, scheme=card.get_scheme(), output_type=card.output_type,
                   input_size=int(card.input_size), crop_scale=float(card.crop_scale),
                   codec=card.get_codec(), mean=tuple(card.mean), std=tuple(card.std), source=source)

    @property
    def preprocessing(self) -> tuple[int, float]:
        return self.input_size, self.crop_scale


def _model_label(spec: str | Path) -> str:
    p = Path(spec)
    parts = [x for x in p.parts if x not in ("/", "")]
    if p.name in ("model.safetensors", "model.json") or p.name in ("best", "final", "last.pt"):
        parts = parts[:-1] if p.name.startswith("model.") else parts
        return "/".join(parts[-2:]) if len(parts) >= 2 else p.name
    return p.stem if p.suffix else p.name


# ---------------------------------------------------------------------------------------------
# data

class CachedFaces:
    """A loader whose items (decoded images included) are read once and kept in memory."""

    def __init__(self, base):
        self.base = base
        self.scheme = base.scheme
        self.records = getattr(base, "records", None)
        self._items: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index)
        if index not in self._items:
            self._items[index] = self.base[index]
        item = self._items[index]
        return {**item, "landmarks": item["landmarks"].copy(), "visible": item["visible"].copy(),
                "box": item["box"].copy(), "meta": dict(item["meta"])}


class CorruptedFaces:
    """Items of ``base`` with an *image* corruption applied (``corruption=None``: unchanged).

    Face sizes refer to the crop box (the landmarks' tight box with ``box_from="landmarks"``).
    Random draws depend on (seed, corruption, index), not on the severity."""

    def __init__(self, base, corruption: str | None, severity: int = 1, seed: int = 0,
                 box_from: str = "landmarks"):
        self.base = base
        self.scheme = base.scheme
        self.records = getattr(base, "records", None)
        self.corruption = corruption
        if corruption is not None:
            c = get_corruption(corruption)
            if c.kind != "image":
                raise CorruptionError(f"{corruption} is a geometry corruption: use CorruptedCrops")
            c.level(severity)
        self.severity = severity
        self.seed = corruption_seed(seed, corruption or "clean")
        self.box_from = box_from

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.base[index]
        if self.corruption is None:
            return item
        lm = np.asarray(item["landmarks"], dtype=np.float32)
        box = box_from_points(lm) if self.box_from == "landmarks" else item["box"]
        rng = np.random.default_rng([self.seed, int(index)])
        try:
            item["image"] = corrupt_image(item["image"], self.corruption, self.severity, rng, box=box,
                                          landmarks=lm, scheme=self.scheme)
        except CorruptionError as e:
            raise DataError(item.get("meta", {}).get("path", f"item {index}"), str(e)) from None
        return item


class CorruptedCrops(CropDataset):
    """Strict, augmentation-free crops with an optional *geometry* corruption: ``rotation`` turns
    the crop's axes by the angle about the box centre (the face appears rotated by minus that
    angle); ``box_jitter`` moves each edge of the box by ``u * level * side`` (``u`` uniform in
    [-1, 1] per edge, the side being the box width for x edges and height for y edges)."""

    def __init__(self, base, codec, scheme=None, *, corruption: str | None = None, severity: int = 1,
                 seed: int = 0, crop_scale: float = 1.25, box_from: str = "landmarks",
                 input_size: int | None = None):
        if corruption is not None:
            c = get_corruption(corruption)
            if c.kind != "geometry":
                raise CorruptionError(f"{corruption} is an image corruption: use CorruptedFaces")
            c.level(severity)
        super().__init__(base, codec, scheme, augment=None, seed=corruption_seed(seed, corruption or "clean"),
                         crop_scale=crop_scale, box_from=box_from, strict=True, input_size=input_size)
        self.corruption = corruption
        self.severity = severity

    def geometry_params(self, index: int) -> dict[str, Any]:
        """The geometry corruption of face ``index``: {"rotation": deg} or {"box_jitter": f,
        "u": [4]} ({} when clean)."""
        return self._geometry(self.rng(index))

    def _geometry(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.corruption is None:
            return {}
        p = corrupt_geometry(self.corruption, self.severity, rng)
        if "box_jitter" in p:
            p["u"] = rng.uniform(-1.0, 1.0, size=4)
        return p

    def crop_affine(self, item: dict[str, Any], rng: np.random.Generator
                    ) -> tuple[np.ndarray, GeometricParams]:
        from facekd import kernels

        box = (box_from_points(item["landmarks"]) if self.box_from == "landmarks"
               else np.asarray(item["box"], dtype=np.float32)).astype(np.float64)
        h, w = np.shape(item["image"])[:2]
        if not (box[0] < w - 0.5 and box[1] < h - 0.5 and box[0] + box[2] > -0.5
                and box[1] + box[3] > -0.5):
            raise DataError(item.get("meta", {}).get("path", "?"),
                            f"face box {np.round(box, 1).tolist()} lies outside the {w}x{h} image")
        g = self._geometry(rng)
        rotation = float(g.get("rotation", 0.0))
        if "box_jitter" in g:
            d = g["u"] * g["box_jitter"] * np.array([box[2], box[3], box[2], box[3]])
            x0, y0 = box[0] + d[0], box[1] + d[1]
            x1, y1 = box[0] + box[2] + d[2], box[1] + box[3] + d[3]
            box = np.array([x0, y0, max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)])
        affine = kernels.box_to_affine(box.astype(np.float32), scale=self.crop_scale, rotation=rotation,
                                       out_size=self.input_size)
        return np.asarray(affine, dtype=np.float32), GeometricParams()


class _Subset:
    """Faces ``indices`` of a loader (keeps its scheme and records)."""

    def __init__(self, base, indices: Sequence[int]):
        self.base, self.indices = base, list(indices)
        self.scheme = base.scheme
        recs = getattr(base, "records", None)
        self.records = None if recs is None else [recs[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.base[self.indices[index]]


def _spread(n: int, k: int | None) -> list[int]:
    if k is None or k >= n:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


def _materialise(crops: CropDataset) -> dict[str, np.ndarray]:
    items = [crops[i] for i in range(len(crops))]
    return {"image": np.stack([it["image"] for it in items]),
            "affine": np.stack([it["affine"] for it in items]),
            "landmarks": np.stack([it["landmarks"] for it in items])}


# ---------------------------------------------------------------------------------------------
# running models

def _renormalize(x, m: ModelUnderTest):
    """Crops come ImageNet-normalised from the crop kernel; re-normalise for the model's card."""
    if tuple(m.mean) == _IMAGENET_MEAN and tuple(m.std) == _IMAGENET_STD:
        return x
    from facekd.robust.attacks import denormalize, normalize

    return normalize(denormalize(x, _IMAGENET_MEAN, _IMAGENET_STD), m.mean, m.std)


def _predict(m: ModelUnderTest, x, affines: np.ndarray, batch_size: int) -> np.ndarray:
    """Image-coordinate points [N, K, 2] in the model's scheme for normalised crops x [N, 3, S, S]."""
    import torch

    from facekd.engine.evaluator import predict_points

    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = _renormalize(torch.as_tensor(x[i:i + batch_size]), m)
        if m.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        out.append(predict_points(m.module, xb, affines[i:i + batch_size], output_type=m.output_type,
                                  codec=m.codec, input_size=m.input_size))
    return np.concatenate(out).astype(np.float32)


def _score(pred_model: np.ndarray, gt: np.ndarray, m: ModelUnderTest, data_scheme: LandmarkScheme,
           norm: str) -> np.ndarray:
    from facekd.engine.metrics import nme

    pred = pred_model
    if m.scheme.name != data_scheme.name:
        pred = convert(pred_model, m.scheme, data_scheme, fill=np.nan)
    return nme(pred, gt, data_scheme, norm=norm)


def _summary(e: np.ndarray) -> dict[str, float]:
    from facekd.engine.metrics import failure_rate

    return {"nme": float(np.mean(e)), "fr@0.10": failure_rate(e, 0.10)}


def _attack_targets(m: ModelUnderTest, data: dict[str, np.ndarray], data_scheme: LandmarkScheme):
    """GT targets of the attack objective in the model's output space."""
    import torch

    from facekd import kernels
    from facekd.robust.attacks import heatmap_targets

    gt = data["landmarks"]
    if m.scheme.name != data_scheme.name:
        gt = convert(gt, data_scheme, m.scheme, fill=np.nan)
    crop_pts = np.stack([transform_points(g, kernels.affine_invert(a)) for g, a in zip(gt, data["affine"])])
    if m.output_type == "heatmap":
        return heatmap_targets(crop_pts, m.codec)
    finite = np.isfinite(crop_pts).all(-1)
    coords = (crop_pts + 0.5) / m.input_size
    return torch.from_numpy(coords.astype(np.float32)), torch.from_numpy(finite.astype(np.float32))


def _attack_nmes(m: ModelUnderTest, data: dict[str, np.ndarray], data_scheme: LandmarkScheme,
                 cfg: RobustnessConfig, on_done=None) -> dict[str, np.ndarray]:
    """Per-face NME under every attack x epsilon of ``cfg``: ``{"fgsm/4": [N], ...}``. FGSM reuses
    one input gradient for all budgets (the sign step is the same)."""
    import torch

    from facekd.robust.attacks import (denormalize, fgsm_from_gradient, input_gradient, landmark_loss,
                                       normalize, pgd)

    target, weight = _attack_targets(m, data, data_scheme)
    device = next(iter(m.module.parameters())).device if hasattr(m.module, "parameters") else "cpu"
    preds: dict[str, list[np.ndarray]] = {f"{a}/{_eps(e)}": [] for a in cfg.attacks for e in cfg.epsilons}
    n = data["image"].shape[0]
    for b, i in enumerate(range(0, n, cfg.batch_size)):
        sl = slice(i, i + cfg.batch_size)
        x = torch.as_tensor(data["image"][sl]).to(device)
        if m.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x01 = denormalize(x, _IMAGENET_MEAN, _IMAGENET_STD).clamp(0.0, 1.0)
        loss = landmark_loss(m.output_type, target[sl], weight[sl])
        grad = input_gradient(m.module, x01, loss, mean=m.mean, std=m.std) if "fgsm" in cfg.attacks else None
        for a in cfg.attacks:
            for e in cfg.epsilons:
                eps = e / 255.0
                if a == "fgsm":
                    adv = fgsm_from_gradient(x01, grad, eps)
                else:
                    gen = torch.Generator().manual_seed(corruption_seed(cfg.seed, f"pgd/{_eps(e)}") + b)
                    adv = pgd(m.module, x01, loss, eps, steps=cfg.pgd_steps,
                              step_size=cfg.pgd_step_ratio * eps, mean=m.mean, std=m.std, generator=gen)
                xa = normalize(adv, _IMAGENET_MEAN, _IMAGENET_STD).cpu()
                preds[f"{a}/{_eps(e)}"].append(_predict(m, xa, data["affine"][sl], cfg.batch_size))
                if on_done is not None:
                    on_done(x.shape[0])
    return {k: _score(np.concatenate(v), data["landmarks"], m, data_scheme, cfg.norm)
            for k, v in preds.items()}


# ---------------------------------------------------------------------------------------------
# report

@dataclass
class RobustnessReport:
    """Per model: clean NME, NME per corruption x severity, mean relative degradation and NME
    under attack (fractions, not percent)."""

    results: dict[str, dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)   # corruption -> why it was not run

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "skipped_corruptions": self.skipped, "models": self.results}

    def write_json(self, path: str | Path) -> Path:
        from facekd.fileio import write_json

        return write_json(path, self.to_dict())

    def to_markdown(self) -> str:
        s = self.settings
        lines = [f"# Robustness on `{s.get('data', '?')}`", "",
                 f"{s.get('faces', '?')} faces ({s.get('attack_faces', '?')} for attacks), "
                 f"{s.get('norm', 'interocular')} NME in %, seed {s.get('seed', 0)}. Mean relative "
                 "degradation = mean over corruptions and severities of NME(c, s) / NME(clean) - 1.", ""]
        names = list(self.results)
        lines += ["## Summary", "", "| model | clean NME % | mean relative degradation | "
                  + " | ".join(f"{a.upper()} eps={_eps(e)} %" for a in s.get("attacks", ())
                               for e in s.get("epsilons", ())) + " |"]
        n_att = len(s.get("attacks", ())) * len(s.get("epsilons", ()))
        lines.append("|---|---|---|" + "---|" * n_att)
        for name in names:
            r = self.results[name]
            mrd = r.get("mean_relative_degradation")
            cells = [f"{100 * r['clean']['nme']:.2f}", "-" if mrd is None else f"{mrd:+.3f}"]
            for a in s.get("attacks", ()):
                for e in s.get("epsilons", ()):
                    cells.append(f"{100 * r['attacks'][a][_eps(e)]['nme']:.2f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        sev = s.get("severities", ())
        for name in names:
            r = self.results[name]
            lines += ["", f"## {name}: NME % per corruption and severity", "",
                      "| corruption | " + " | ".join(f"s{v}" for v in sev) + " | mean | rel. degradation |",
                      "|---|" + "---|" * (len(sev) + 2)]
            for c, row in r["corruptions"].items():
                vals = [row[str(v)]["nme"] for v in sev]
                rel = np.mean(vals) / r["clean"]["nme"] - 1
                lines.append(f"| {c} | " + " | ".join(f"{100 * v:.2f}" for v in vals)
                             + f" | {100 * np.mean(vals):.2f} | {rel:+.3f} |")
            if r.get("attacks"):
                lines += ["", f"NME % under attack ({s.get('attack_faces')} faces; clean on these faces: "
                              f"{100 * r['attack_clean']['nme']:.2f}):", "",
                          "| attack | " + " | ".join(f"eps={_eps(e)}/255" for e in s.get("epsilons", ())) + " |",
                          "|---|" + "---|" * len(s.get("epsilons", ()))]
                for a, row in r["attacks"].items():
                    lines.append(f"| {a.upper()} | " + " | ".join(f"{100 * row[_eps(e)]['nme']:.2f}"
                                                                 for e in s.get("epsilons", ())) + " |")
        if self.skipped:
            lines += ["", "Not run: " + "; ".join(f"{c} ({why})" for c, why in self.skipped.items())]
        return "\n".join(lines) + "\n"

    def write_markdown(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_markdown(), encoding="utf-8")
        return path

    def plot(self, path: str | Path) -> Path:
        """NME vs severity per corruption and NME vs epsilon per attack, one line per model."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        s = self.settings
        corruptions = [c for c in s.get("corruptions", ()) if c not in self.skipped]
        attacks = list(s.get("attacks", ()))
        panels = corruptions + attacks
        if not panels:
            raise FacekdError("nothing to plot: no corruption or attack was run")
        cols = min(4, len(panels))
        rows = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
        sev = list(s.get("severities", ()))
        eps = list(s.get("epsilons", ()))
        for ax, panel in zip(axes.flat, panels):
            for j, (name, r) in enumerate(self.results.items()):
                colour = f"C{j % 10}"
                if panel in corruptions:
                    xs = [0] + sev
                    ys = [r["clean"]["nme"]] + [r["corruptions"][panel][str(v)]["nme"] for v in sev]
                    ax.plot(xs, [100 * y for y in ys], "o-", color=colour, ms=3, label=name)
                else:
                    xs = [0] + eps
                    ys = [r["attack_clean"]["nme"]] + [r["attacks"][panel][_eps(e)]["nme"] for e in eps]
                    ax.plot(xs, [100 * y for y in ys], "o-", color=colour, ms=3, label=name)
            ax.set_title(panel.upper() if panel in attacks else panel.replace("_", " "), fontsize=9)
            ax.set_xlabel("epsilon (/255)" if panel in attacks else "severity (0 = clean)", fontsize=8)
            ax.set_ylabel("NME %", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write robustness.json, robustness.md and robustness.png into ``out_dir``."""
        out = Path(out_dir)
        return {"json": self.write_json(out / "robustness.json"),
                "markdown": self.write_markdown(out / "robustness.md"),
                "plot": self.plot(out / "robustness.png")}


def _eps(e: float) -> str:
    return f"{e:g}"


# ---------------------------------------------------------------------------------------------

def corruption_sheet(dataset, path: str | Path, *, index: int = 0,
                     corruptions: Sequence[str] = tuple(CORRUPTIONS), severities: Sequence[int] = SEVERITIES,
                     input_size: int = 128, crop_scale: float = 1.25, seed: int = 0,
                     box_from: str = "landmarks") -> Path:
    """One face of ``dataset`` as the model sees it (the crop) under every corruption (rows) and
    severity (columns, severity 0 = clean), saved as PNG."""
    from PIL import Image, ImageDraw

    from facekd.engine.plots import contact_sheet

    mean = np.asarray(_IMAGENET_MEAN, np.float32)[:, None, None]
    std = np.asarray(_IMAGENET_STD, np.float32)[:, None, None]
    base = CachedFaces(_Subset(dataset, [index]))
    tiles = []
    for c in corruptions:
        kind = get_corruption(c).kind
        for s in (0, *severities):
            name = c if s else None
            faces = CorruptedFaces(base, name if kind == "image" else None, s or 1, seed, box_from)
            crops = CorruptedCrops(faces, None, dataset.scheme, corruption=name if kind == "geometry" else None,
                                   severity=s or 1, seed=seed, crop_scale=crop_scale, box_from=box_from,
                                   input_size=input_size)
            x = crops[0]["image"] * std + mean
            tile = Image.fromarray(np.clip(np.rint(x.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8))
            ImageDraw.Draw(tile).text((3, 2), f"{c} {s}" if s else f"{c}: clean", fill=(255, 255, 0))
            tiles.append(tile)
    sheet = contact_sheet(tiles, columns=len(severities) + 1,
                          title=f"face {index} under each corruption, severity 0 (clean) to {max(severities)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


# ---------------------------------------------------------------------------------------------

def run_robustness(models: Sequence[ModelUnderTest], dataset, config: RobustnessConfig | None = None, *,
                   progress: bool = True, settings: dict[str, Any] | None = None) -> RobustnessReport:
    """Evaluate ``models`` on ``dataset`` (a facekd loader) under the corruptions and attacks of
    ``config``. Bad samples raise (no silent number)."""
    from tqdm import tqdm

    cfg = config or RobustnessConfig()
    if not models:
        raise FacekdError("run_robustness: no model given")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise FacekdError(f"run_robustness: model names must be unique, got {names}")
    data_scheme = as_scheme(dataset.scheme)
    for m in models:
        if m.scheme.name != data_scheme.name:
            common_points(m.scheme, data_scheme)
        if m.output_type == "heatmap" and m.codec is None:
            raise FacekdError(f"model {m.name}: a heatmap model needs a codec")
    if len(dataset) == 0:
        raise FacekdError("run_robustness: the dataset is empty")
    idx = _spread(len(dataset), cfg.max_faces)
    base = CachedFaces(_Subset(dataset, idx) if len(idx) < len(dataset) else dataset)

    skipped: dict[str, str] = {}
    corruptions = []
    for c in cfg.corruptions:
        groups = get_corruption(c).groups
        missing = [g for g in groups if g not in data_scheme.groups]
        if missing:
            skipped[c] = f"scheme '{data_scheme.name}' has no group(s) {missing}"
        else:
            corruptions.append(c)

    groups: dict[tuple[int, float], list[ModelUnderTest]] = {}
    for m in models:
        groups.setdefault(m.preprocessing, []).append(m)

    cells = [(None, 0)] + [(c, s) for c in corruptions for s in cfg.severities]
    n_attack = len(_spread(len(base), cfg.attack_faces))
    total = len(cells) * len(base) * len(models) + (
        len(cfg.attacks) * len(cfg.epsilons) * n_attack * len(models))
    per_face: dict[str, dict[str, np.ndarray]] = {m.name: {} for m in models}
    clean_data: dict[tuple[int, float], dict[str, np.ndarray]] = {}
    bar = tqdm(total=total, desc="robustness", unit="face", disable=not progress, dynamic_ncols=True)
    try:
        for c, s in cells:
            kind = get_corruption(c).kind if c else None
            faces = CorruptedFaces(base, c if kind == "image" else None, s or 1, cfg.seed, cfg.box_from)
            for (size, scale), group in groups.items():
                bar.set_postfix_str(f"{c or 'clean'} {s or ''}".strip())
                crops = CorruptedCrops(faces, None, data_scheme, corruption=c if kind == "geometry" else None,
                                       severity=s or 1, seed=cfg.seed, crop_scale=scale,
                                       box_from=cfg.box_from, input_size=size)
                data = _materialise(crops)
                if c is None:
                    clean_data[(size, scale)] = data
                for m in group:
                    pred = _predict(m, data["image"], data["affine"], cfg.batch_size)
                    per_face[m.name][f"{c}/{s}" if c else "clean"] = _score(
                        pred, data["landmarks"], m, data_scheme, cfg.norm)
                    bar.update(len(base))
        att_idx = _spread(len(base), cfg.attack_faces)
        for m in models:
            if not cfg.attacks:
                break
            full = clean_data[m.preprocessing]
            sub = {k: v[att_idx] for k, v in full.items()}
            module = m.module
            was = getattr(module, "training", False)
            if hasattr(module, "eval"):
                module.eval()
            try:
                bar.set_postfix_str(f"{m.name} attacks")
                per_face[m.name].update(_attack_nmes(m, sub, data_scheme, cfg, on_done=bar.update))
            finally:
                if hasattr(module, "train"):
                    module.train(was)
    finally:
        bar.close()

    att_idx = _spread(len(base), cfg.attack_faces)
    results: dict[str, dict[str, Any]] = {}
    for m in models:
        pf = per_face[m.name]
        clean = _summary(pf["clean"])
        corr: dict[str, dict[str, dict[str, float]]] = {}
        rel = []
        for c in corruptions:
            corr[c] = {}
            for s in cfg.severities:
                row = _summary(pf[f"{c}/{s}"])
                corr[c][str(s)] = row
                rel.append(row["nme"] / clean["nme"] - 1.0)
        r: dict[str, Any] = {"source": m.source, "input_size": m.input_size, "crop_scale": m.crop_scale,
                             "clean": clean, "corruptions": corr,
                             "mean_relative_degradation": float(np.mean(rel)) if rel else None}
        if cfg.attacks:
            r["attack_clean"] = _summary(pf["clean"][att_idx])
            r["attacks"] = {a: {_eps(e): _summary(pf[f"{a}/{_eps(e)}"]) for e in cfg.epsilons}
                            for a in cfg.attacks}
        results[m.name] = r
    st = {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
          "corruption_levels": {c: {"levels": list(CORRUPTIONS[c].levels), "unit": CORRUPTIONS[c].unit}
                                for c in corruptions},
          "scheme": data_scheme.name, "faces": len(base), "attack_faces": len(att_idx) if cfg.attacks else 0}
    st.update(settings or {})
    return RobustnessReport(results=results, settings=st, skipped=skipped)
