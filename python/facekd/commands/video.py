"""`facekd video IN -o OUT`: track face landmarks through a video (OpenCV I/O), annotated output,
optional per-frame JSON, and an FPS summary."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from facekd.commands.detect import add_model_arguments, annotate, load_landmarker
from facekd.commands.outputs import add_overwrite_argument, check_outputs, save_text
from facekd.errors import FacekdError

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="input video")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help=f"annotated video ({', '.join(FOURCC)}); default: none")
    p.add_argument("--landmarks", type=Path, default=None, help="write per-frame landmarks as JSON")
    add_overwrite_argument(p)
    add_model_arguments(p)
    p.add_argument("--loss-threshold", type=float, default=None,
                   help="re-detect when the mean landmark score drops below this (default: the model card's "
                        "loss_threshold, 0.3 without one)")
    p.add_argument("--no-smooth", action="store_true", help="raw landmarks (no One-Euro filter)")
    p.add_argument("--min-cutoff", type=float, default=1.0, help="One-Euro min cutoff, Hz (default 1.0)")
    p.add_argument("--beta", type=float, default=0.007, help="One-Euro speed coefficient (default 0.007)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np
    from tqdm import tqdm

    from facekd.api import Tracker

    if not args.input.is_file():
        raise FacekdError(f"{args.input}: video file not found")
    if args.output is not None and args.output.suffix.lower() not in FOURCC:
        raise FacekdError(f"-o {args.output}: unsupported video extension (use {', '.join(FOURCC)})")
    if args.max_frames is not None and args.max_frames < 1:
        raise FacekdError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.output is not None:
        check_outputs([args.output], overwrite=args.overwrite, flag="-o")
    if args.landmarks is not None:
        check_outputs([args.landmarks], overwrite=args.overwrite, flag="--landmarks")
    if args.output is not None and args.landmarks is not None and args.output.absolute() == args.landmarks.absolute():
        raise FacekdError(f"-o and --landmarks are the same file: {args.output}")
    cap = cv2.VideoCapture(str(args.input))
    if not cap.isOpened():
        raise FacekdError(f"{args.input}: cannot open the video (unsupported or corrupt file)")
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
    if args.max_frames is not None:
        total = min(total or args.max_frames, args.max_frames)
    lm = load_landmarker(args)
    tracker = Tracker(lm, loss_threshold=args.loss_threshold, smooth=not args.no_smooth,
                      min_cutoff=args.min_cutoff, beta=args.beta, fps=fps)
    writer = None
    # written beside the target and renamed at the end: an existing file stays intact until the
    # new one is complete, and a failed run leaves nothing half-written
    partial = None if args.output is None else args.output.with_name(f".{args.output.stem}.partial{args.output.suffix}")
    done = False
    frames_json = []
    busy = 0.0
    n = 0
    try:
        with tqdm(total=total, desc="tracking", unit="frame", disable=args.quiet) as bar:
            while args.max_frames is None or n < args.max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                t0 = time.perf_counter()
                face = tracker.update(frame, n / fps, color="BGR")
                busy += time.perf_counter() - t0
                if args.output is not None:
                    if writer is None:
                        h, w = frame.shape[:2]
                        partial.parent.mkdir(parents=True, exist_ok=True)
                        fourcc = cv2.VideoWriter_fourcc(*FOURCC[args.output.suffix.lower()])
                        writer = cv2.VideoWriter(str(partial), fourcc, fps, (w, h))
                        if not writer.isOpened():
                            raise FacekdError(f"-o {args.output}: cannot open a video writer")
                    rgb = np.ascontiguousarray(frame[..., ::-1])
                    shown = annotate(rgb, [face] if face is not None else [], lm.scheme)
                    writer.write(np.ascontiguousarray(np.asarray(shown)[..., ::-1]))
                if args.landmarks is not None:
                    frames_json.append({"frame": n, "time": round(n / fps, 6),
                                        "face": None if face is None else face.to_dict()})
                n += 1
                bar.update(1)
        done = True
    finally:
        cap.release()
        if writer is not None:
            writer.release()
            if done and n:
                try:
                    os.replace(partial, args.output)
                except OSError as e:
                    raise FacekdError(f"cannot write {args.output}: {e.strerror or e}") from None
        if partial is not None and partial.exists():
            partial.unlink()
    if n == 0:
        raise FacekdError(f"{args.input}: no frame could be decoded")
    st = tracker.stats
    summary = {"frames": n, "video_fps": fps, "tracking_fps": n / busy if busy > 0 else None,
               "frames_with_face": st.faces, "detector_runs": st.detector_runs, "losses": st.losses,
               "model": lm.card.model}
    if args.landmarks is not None:
        save_text(json.dumps({"video": str(args.input), "scheme": lm.scheme.name, "summary": summary,
                              "frames": frames_json}) + "\n", args.landmarks)
    print(f"{args.input}: {n} frames, face in {st.faces}, detector ran {st.detector_runs}x, "
          f"{st.losses} loss(es); tracking {summary['tracking_fps']:.1f} FPS (landmarks + detection, "
          f"without video I/O); video {fps:.1f} FPS"
          + (f" -> {args.output}" if args.output is not None else "")
          + (f", {args.landmarks}" if args.landmarks is not None else ""))
    return 0
