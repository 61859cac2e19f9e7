"""Parity of an exported model against eager PyTorch on real face crops.

Crops come from a landmark dataset through the crop kernel exactly as at inference: the face box
(the dataset's, or the tight box of its landmarks) enlarged by the card's ``crop_scale``, resized
to ``input_size``, normalised with the card's mean/std. Both models run face by face; their outputs
are compared directly and after decoding to image landmarks (NME, inter-ocular by the scheme's
eye corners, in %). With several datasets (e.g. ytf68/val and helen_afw/val) each gets its own NME
before / after, and the reported NME change is that of the mean over the datasets (what model
selection uses), in percentage points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from facekd.errors import FacekdError

Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class FaceCrops:
    """Normalised crops [N,3,S,S], their crop->image affines [N,2,3], ground truth [N,K,2] and
    its visibility [N,K]."""

    crops: torch.Tensor
    affines: torch.Tensor
    landmarks: torch.Tensor
    visible: np.ndarray
    source: str
    groups: tuple[tuple[str, int, int], ...] = ()  # (dataset name, start, stop) per source; () = one

    def __len__(self) -> int:
        return int(self.crops.shape[0])


def load_face_crops(data, card, limit: int, *, progress: bool = True) -> FaceCrops:
    """Up to `limit` faces of dataset `data`, spread evenly over it, cropped for `card`. `data` may
    be a list of datasets: up to `limit` faces of each, concatenated, with their ranges in ``groups``."""
    if isinstance(data, (list, tuple)):
        if not data:
            raise FacekdError("no parity datasets given")
        parts = [load_face_crops(d, card, limit, progress=progress) for d in data]
        names = [_name(d) for d in data]
        if len(set(names)) != len(names):  # e.g. two .../val folders: use the parent too
            names = ["/".join(Path(str(d)).parts[-2:]) for d in data]
        groups, start = [], 0
        for n, part in zip(names, parts):
            groups.append((n, start, start + len(part)))
            start += len(part)
        return FaceCrops(torch.cat([f.crops for f in parts]), torch.cat([f.affines for f in parts]),
                         torch.cat([f.landmarks for f in parts]), np.concatenate([f.visible for f in parts]),
                         " + ".join(f.source for f in parts), tuple(groups))
    from tqdm import tqdm

    from facekd import kernels
    from facekd.data import load_dataset

    if limit < 1:
        raise FacekdError(f"need at least one face, got limit={limit}")
    ds = load_dataset(data, card.get_scheme())
    if len(ds) == 0:
        raise FacekdError(f"{data}: no faces")
    idx = np.unique(np.linspace(0, len(ds) - 1, num=min(limit, len(ds))).round().astype(int))
    crops, affines, gts, vis = [], [], [], []
    for i in tqdm(idx, desc=f"crops {Path(str(data)).name}", unit="face", disable=not progress,
                  leave=False):
        item = ds[int(i)]
        crop, affine = kernels.crop_box(item["image"], item["box"], card.input_size,
                                        scale=card.crop_scale, mean=card.mean, std=card.std)
        crops.append(np.asarray(crop, dtype=np.float32))
        affines.append(np.asarray(affine, dtype=np.float32).reshape(2, 3))
        gts.append(np.asarray(item["landmarks"], dtype=np.float32))
        vis.append(np.asarray(item["visible"], dtype=bool))
    return FaceCrops(torch.from_numpy(np.stack(crops)), torch.from_numpy(np.stack(affines)),
                     torch.from_numpy(np.stack(gts)), np.stack(vis),
                     f"{Path(str(data)).name} ({len(idx)} of {len(ds)} faces)")


def _name(data) -> str:
    p = Path(str(data))
    return f"{p.parent.name}/{p.name}" if p.name in ("val", "test", "train") else p.name


def _per_face_nme(points: torch.Tensor, faces: FaceCrops, card) -> np.ndarray:
    from facekd.engine.metrics import nme

    return np.asarray(nme(points.numpy(), faces.landmarks.numpy(), card.get_scheme(), visible=faces.visible))


def mean_nme(points: torch.Tensor, faces: FaceCrops, card) -> float:
    """Mean inter-ocular NME in %: over the faces, or with several datasets the mean of their means."""
    per_face = _per_face_nme(points, faces, card)
    if not faces.groups:
        return float(per_face.mean() * 100)
    return float(np.mean([per_face[a:b].mean() for _, a, b in faces.groups]) * 100)


def nme_by_source(points: torch.Tensor, faces: FaceCrops, card) -> dict[str, float]:
    """Mean NME (%) of each dataset of `faces` (one entry, its source, without groups)."""
    per_face = _per_face_nme(points, faces, card)
    if not faces.groups:
        return {faces.source: float(per_face.mean() * 100)}
    return {n: float(per_face[a:b].mean() * 100) for n, a, b in faces.groups}


@dataclass
class ParityReport:
    """Candidate (exported) vs reference (eager) on the same crops. NME values are in %."""

    faces: int
    source: str
    output_max_abs_diff: float   # max |candidate - reference| over all outputs
    output_ref_max_abs: float    # max |reference| (scale for the diff)
    nme_reference: float
    nme_candidate: float
    nme_diff: float              # nme_candidate - nme_reference (percentage points)
    point_max_diff_px: float     # largest landmark displacement candidate vs reference, image px
    point_mean_diff_px: float
    # per dataset: {"nme_reference", "nme_candidate", "nme_diff"} (%, pp); the fields above then use the
    # mean over the datasets
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        text = (f"{self.faces} faces: output max|diff| {self.output_max_abs_diff:.3g} "
                f"(reference max|out| {self.output_ref_max_abs:.3g}); "
                f"{'mean ' if len(self.per_source) > 1 else ''}NME {self.nme_reference:.3f}% -> "
                f"{self.nme_candidate:.3f}% ({self.nme_diff:+.3f} pp); landmark diff max "
                f"{self.point_max_diff_px:.3g} px, mean {self.point_mean_diff_px:.3g} px")
        if len(self.per_source) > 1:
            text += "; " + ", ".join(f"{n} {v['nme_reference']:.3f}% -> {v['nme_candidate']:.3f}% "
                                     f"({v['nme_diff']:+.3f} pp)" for n, v in self.per_source.items())
        return text


def run_model(runner: Runner, crops: torch.Tensor) -> torch.Tensor:
    """Outputs of `runner` on every crop, one face at a time (exported programs have batch 1)."""
    outs = []
    with torch.no_grad():
        for i in range(crops.shape[0]):
            outs.append(torch.as_tensor(runner(crops[i:i + 1])).detach().float().cpu())
    return torch.cat(outs)


def decode(outputs: torch.Tensor, faces: FaceCrops, card) -> torch.Tensor:
    """Image landmarks [N,K,2] from model outputs through the card's codec."""
    from facekd.models import decode_output

    pts, _ = decode_output(outputs, card.output_type, faces.affines, codec=card.get_codec(),
                           input_size=card.input_size)
    return torch.as_tensor(pts).float()


def compare(reference: torch.Tensor, candidate: torch.Tensor, faces: FaceCrops, card) -> ParityReport:
    """Compare two sets of outputs on `faces` (see :class:`ParityReport`)."""
    if reference.shape != candidate.shape:
        raise FacekdError(f"exported output shape {tuple(candidate.shape[1:])} != eager "
                          f"{tuple(reference.shape[1:])}")
    if not torch.isfinite(candidate).all():
        raise FacekdError("exported model produced NaN/Inf outputs")
    p_ref, p_cand = decode(reference, faces, card), decode(candidate, faces, card)
    nme_ref, nme_cand = mean_nme(p_ref, faces, card), mean_nme(p_cand, faces, card)
    by_ref, by_cand = nme_by_source(p_ref, faces, card), nme_by_source(p_cand, faces, card)
    per_source = {n: {"nme_reference": by_ref[n], "nme_candidate": by_cand[n], "nme_diff": by_cand[n] - by_ref[n]}
                  for n in by_ref}
    shift = torch.linalg.norm(p_cand - p_ref, dim=-1)
    return ParityReport(
        faces=len(faces), source=faces.source,
        output_max_abs_diff=(candidate - reference).abs().max().item(),
        output_ref_max_abs=reference.abs().max().item(),
        nme_reference=nme_ref, nme_candidate=nme_cand, nme_diff=nme_cand - nme_ref,
        point_max_diff_px=shift.max().item(), point_mean_diff_px=shift.mean().item(), per_source=per_source)


@dataclass(frozen=True)
class Tolerance:
    """Limits a parity report must meet. ``output_rel``: max|diff| / max(1, max|reference|)."""

    output_rel: float | None
    nme_diff: float  # |nme_diff| in percentage points (int8: the NME cost, candidate - reference)
    signed: bool = False  # only penalise NME increases (int8 cost)

    def violations(self, r: ParityReport) -> list[str]:
        out = []
        if self.output_rel is not None:
            rel = r.output_max_abs_diff / max(1.0, r.output_ref_max_abs)
            if not rel <= self.output_rel:
                out.append(f"output max|diff| {r.output_max_abs_diff:.4g} (relative {rel:.3g}) "
                           f"> {self.output_rel:g}")
        d = r.nme_diff if self.signed else abs(r.nme_diff)
        if not d <= self.nme_diff:
            what = "NME cost" if self.signed else "NME difference"
            out.append(f"{what} {r.nme_diff:+.4f} pp > {self.nme_diff:g} pp "
                       f"(eager {r.nme_reference:.3f}%, exported {r.nme_candidate:.3f}%)")
        return out


# Defaults by precision. fp32 lowering must be numerically the same model; fp16 (CoreML) may move
# outputs by fp16 rounding; int8 is judged by its NME cost only.
TOLERANCES = {
    "fp32": Tolerance(output_rel=1e-3, nme_diff=0.05),
    "fp16": Tolerance(output_rel=2e-2, nme_diff=0.25),
    "int8": Tolerance(output_rel=None, nme_diff=1.0, signed=True),
}
