"""How much of a teacher's heatmap the points-only targets cache keeps.

`facekd teach` stores each teacher's decoded point and peak value per landmark, and training re-encodes them as the
codec's isotropic Gaussian. Whatever else the teacher's heatmap holds (a blob wider, or longer along a contour, where
it is unsure) is lost. This measures that on the val faces, with the teachers and flip test `facekd teach` uses:

* blob shape: second moments of the clipped heatmap in a (2r+1)^2 window at its maximum (heatmap px), as sigma along
  the major and minor axes; the same on the codec's own Gaussian at the decoded point is the reference (what the
  cache re-encodes);
* lost energy: ||H - c * G(p)||^2 / ||H||^2 over the map, H the teacher's heatmap, G the re-encoded Gaussian at the
  decoded point p and c its peak value (what the KD term's target is, up to the point weight).

    python docs/results/teacher_blobs/measure.py --data ../shared/data/ytf68/val --data ../shared/data/helen_afw/val \
        --teacher w18=models/teachers/hrnetv2_w18_68pt --teacher w24=models/students/hrnet_slim_w24_d1_128_gt \
        --out docs/results/teacher_blobs
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch

from facekd.data import CropDataset, load_dataset
from facekd.models.io import load_model
from facekd.schemes import as_scheme

REGIONS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
           "mouth": range(48, 68)}


def blob_sigmas(maps: np.ndarray, r: int) -> np.ndarray:
    """[N, K, h, w] heatmaps -> [N, K, 2] sqrt of the (minor, major) eigenvalues of the clipped window moments."""
    n, k, h, w = maps.shape
    out = np.zeros((n, k, 2))
    for i in range(n):
        for j in range(k):
            hm = maps[i, j]
            y, x = np.unravel_index(np.argmax(hm), hm.shape)
            win = np.clip(hm[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1], 0, None)
            yy, xx = np.mgrid[max(0, y - r):min(h, y + r + 1), max(0, x - r):min(w, x + r + 1)]
            s = win.sum() + 1e-12
            mx, my = (win * xx).sum() / s, (win * yy).sum() / s
            cxy = (win * (xx - mx) * (yy - my)).sum() / s
            cov = np.array([[(win * (xx - mx) ** 2).sum() / s, cxy], [cxy, (win * (yy - my) ** 2).sum() / s]])
            out[i, j] = np.sqrt(np.clip(np.linalg.eigvalsh(cov), 0, None))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--teacher", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--out", required=True)
    ap.add_argument("--radius", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    for spec in args.teacher:
        name, path = spec.split("=", 1)
        model, card = load_model(path)
        model.eval()
        codec, scheme = card.get_codec(), as_scheme(card.scheme_name)
        maps = []
        for data in args.data:
            crops = CropDataset(load_dataset(data, scheme=scheme), None, scheme, augment=None,
                                crop_scale=card.crop_scale, input_size=card.input_size, strict=True)
            x = torch.stack([torch.as_tensor(crops[i]["image"]) for i in range(len(crops))])
            with torch.no_grad():
                for b in range(0, len(x), 32):
                    xb = x[b:b + 32]
                    o = model(xb).float().numpy()
                    of = codec.flip_output(model(xb.flip(-1)).float().numpy(), scheme.flip_perm)
                    maps.append(0.5 * (o + of))  # flip test, as `facekd teach --flip-test` stores
        maps = np.concatenate(maps)
        pts, peak = codec.decode(maps)  # crop px, peak values
        n, k = peak.shape
        gauss, _ = codec.encode(pts.reshape(-1, 2))
        gauss = gauss.reshape(maps.shape)
        recon = peak[..., None, None] * gauss
        lost = ((maps - recon) ** 2).sum((-1, -2)) / np.maximum((maps ** 2).sum((-1, -2)), 1e-12)  # [N, K]
        s_t, s_g = blob_sigmas(maps, args.radius), blob_sigmas(gauss, args.radius)
        rows[name] = {"faces": int(n), "regions": {}}
        regions = REGIONS if k == 68 else {}  # the iBUG-68 regions; other schemes: all points only
        for reg, idx in {**regions, "all": range(k)}.items():
            idx = list(idx)
            t, g = s_t[:, idx], s_g[:, idx]
            rows[name]["regions"][reg] = {
                "sigma_minor": float(t[..., 0].mean()), "sigma_major": float(t[..., 1].mean()),
                "axis_ratio_median": float(np.median(t[..., 1] / np.maximum(t[..., 0], 1e-9))),
                "axis_ratio_p90": float(np.percentile(t[..., 1] / np.maximum(t[..., 0], 1e-9), 90)),
                "reencoded_sigma": float(g.mean()), "peak_mean": float(peak[:, idx].mean()),
                "lost_energy_median": float(np.median(lost[:, idx])),
                "lost_energy_p90": float(np.percentile(lost[:, idx], 90))}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "teacher_blobs.json").write_text(json.dumps({"data": args.data, "radius": args.radius, "teachers": rows},
                                                       indent=2))
    lines = ["| teacher | region | sigma minor / major (heatmap px) | axis ratio median (p90) | re-encoded sigma | "
             "peak | lost energy median (p90) |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        for reg, v in r["regions"].items():
            lines.append(f"| {name} | {reg} | {v['sigma_minor']:.2f} / {v['sigma_major']:.2f} | "
                         f"{v['axis_ratio_median']:.2f} ({v['axis_ratio_p90']:.2f}) | {v['reencoded_sigma']:.2f} | "
                         f"{v['peak_mean']:.2f} | {100 * v['lost_energy_median']:.1f} % "
                         f"({100 * v['lost_energy_p90']:.1f} %) |")
    (out / "teacher_blobs.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
