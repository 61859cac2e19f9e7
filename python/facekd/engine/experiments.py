"""Repeated training runs for `facekd ablate` and `facekd sweep`: train (or resume, or reuse a finished
run), score the best checkpoint on held-out data, aggregate over seeds, write Markdown tables.

Every run lives in its own folder under a runs directory, so an interrupted ablation picks up where it
stopped: a finished run (``summary.json`` present) is reused, a partial one resumes from ``last.pt``. A
folder that holds a run of a *different* config is an error (nothing is overwritten).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facekd.errors import FacekdError


@dataclass
class RunRecord:
    """One finished training run and its scores (metrics as fractions: nme, fr, auc, faces)."""

    group: str                      # the ablation row / sweep model this run belongs to
    seed: int
    out_dir: str
    val: dict[str, float]           # best-epoch validation metrics (the trainer's, EMA weights)
    test: dict[str, float] | None   # the best checkpoint on the test data
    train_time_s: float
    steps: int
    extra: dict[str, Any] = field(default_factory=dict)


def run_or_reuse(cfg, out_dir: str | Path, task_factory: Callable[[Any], Any] | None = None,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ``cfg`` into ``out_dir`` unless a finished run of the same config is already there;
    returns the run's ``summary.json`` contents."""
    from facekd.config import dump_config
    from facekd.engine.trainer import CHECKPOINT_NAME, train

    out = Path(out_dir)
    want = dump_config(cfg)
    have_cfg = out / "config.yaml"
    if have_cfg.is_file() and have_cfg.read_text() != want:
        raise FacekdError(f"{out} holds a run of a different config; remove it or choose another runs folder")
    summary = out / "summary.json"
    if summary.is_file() and (out / "best").is_dir():
        log(f"reusing finished run {out}")
        return json.loads(summary.read_text())
    resume = (out / CHECKPOINT_NAME).is_file()
    log(("resuming " if resume else "training ") + str(out))
    train(cfg, out, resume=resume, task=task_factory(cfg) if task_factory else None)
    return json.loads(summary.read_text())


def best_val_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The validation metrics of the best epoch recorded in a trainer summary."""
    best = summary.get("best_epoch")
    for h in summary.get("history", []):
        if h.get("epoch") == best:
            return {k: float(v) for k, v in h["metrics"].items()}
    raise FacekdError("the run has no validation history (set data.val)")


def score_model(model: str | Path, data, *, batch_size: int = 64) -> dict[str, float]:
    """NME / FR@0.10 / AUC@0.10 (fractions) of a saved model on ``data`` (a loaded dataset)."""
    import torch

    from facekd.engine.evaluator import evaluate
    from facekd.models import load_model

    module, card = load_model(model)
    if isinstance(module, torch.nn.Module):
        module = module.eval()
    r = evaluate(module, data, card.get_codec(), data.scheme, batch_size=batch_size,
                 output_type=card.output_type, model_scheme=card.get_scheme(), input_size=card.input_size,
                 crop_scale=card.crop_scale, progress=False)
    row = r.table["all"]
    return {"nme": float(row["nme"]), "fr": float(row["fr@0.10"]), "auc": float(row["auc@0.10"]),
            "faces": int(row["n"])}


def default_test_data(val_spec) -> str | None:
    """``.../test`` beside a ``.../val`` folder, when it exists (several val sources: beside the first)."""
    if not val_spec:
        return None
    if not isinstance(val_spec, (str, Path)):
        from facekd.config import as_sources

        for src in as_sources(val_spec):
            found = default_test_data(src.path)
            if found:
                return found
        return None
    p = Path(val_spec)
    sibling = p.parent / "test"
    return str(sibling) if p.name == "val" and sibling.is_dir() else None


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value); NaN for no values."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` (or the single value) of ``values * scale``."""
    m, s = mean_std(values)
    if math.isnan(m):
        return "–"
    if len([x for x in values if x is not None]) == 1:
        return f"{m * scale:.{digits}f}"
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_records(path: str | Path, records: Sequence[RunRecord], meta: dict[str, Any]) -> Path:
    from dataclasses import asdict

    from facekd.fileio import write_json

    return write_json(path, {"meta": meta, "runs": [asdict(r) for r in records]})


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (lower is better on both)."""
    front = []
    for i, (x, y) in enumerate(points):
        if not any((x2 <= x and y2 <= y) and (x2 < x or y2 < y) for j, (x2, y2) in enumerate(points) if j != i):
            front.append(i)
    return front
