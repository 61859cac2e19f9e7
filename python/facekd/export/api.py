"""`export_model`: load a facekd model, lower it, check parity on real crops, publish atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from facekd.errors import FacekdError
from facekd.export import atomic
from facekd.export.parity import TOLERANCES, FaceCrops, ParityReport, Tolerance

FORMATS: dict[str, str] = {"pte": ".pte", "coreml": ".mlpackage", "onnx": ".onnx"}
EXPORT_KEY = "export"  # the card key added to exported cards (not a ModelCard field)


class ParityError(FacekdError):
    """The exported model does not match eager PyTorch within tolerance; nothing was written."""

    exit_code = 4


@dataclass
class ExportResult:
    format: str
    precision: str
    path: Path
    sidecar: Path
    card: dict[str, Any]          # the card embedded in the artifact
    parity: ParityReport | None   # None only when the format cannot be run here (see parity_note)
    parity_note: str = ""         # what ran the exported model for the parity check, or why not
    delegation: Any = None        # DelegationReport for .pte
    lowering: ParityReport | None = None  # int8: .pte vs the PT2E reference graph
    size_bytes: int = 0
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "precision": self.precision, "path": str(self.path),
                "sidecar": str(self.sidecar), "size_bytes": self.size_bytes,
                "parity": self.parity.to_dict() if self.parity else None, "parity_note": self.parity_note,
                "delegation": self.delegation.to_dict() if self.delegation else None,
                "lowering": self.lowering.to_dict() if self.lowering else None, "checks": self.checks}


def exported_card(card, fmt: str, precision: str, output_shape: tuple[int, ...], **extra: Any) -> dict:
    """The card embedded in an artifact: the model card's fields plus an ``export`` entry."""
    from facekd.export.onnx import INPUT_NAME, OUTPUT_NAME

    d = card.to_dict()
    s = card.input_size
    d[EXPORT_KEY] = {
        "format": fmt, "precision": precision,
        "input": {"name": INPUT_NAME, "shape": [1, 3, s, s], "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": list(output_shape), "dtype": "float32"},
        "facekd_version": _version(), "torch_version": torch.__version__, **extra,
    }
    return d


def split_exported_card(d: dict[str, Any]):
    """``(ModelCard, export info)`` from a card read out of an artifact or its sidecar."""
    from facekd.card import ModelCard

    d = dict(d)
    info = d.pop(EXPORT_KEY, {})
    d.pop("parity", None)
    d.pop("delegation", None)
    return ModelCard.from_dict(d), info


def read_card(path: str | Path) -> dict[str, Any]:
    """The card embedded in an exported artifact (.pte, .mlpackage or .onnx)."""
    p = Path(path)
    if p.suffix == ".pte":
        from facekd.export.executorch import read_pte_card
        return read_pte_card(p)
    if p.suffix == ".onnx":
        from facekd.export.onnx import read_onnx_card
        return read_onnx_card(p)
    if p.suffix == ".mlpackage":
        from facekd.export.coreml import read_coreml_card
        return read_coreml_card(p)
    raise FacekdError(f"{p}: not an exported model (expected .pte, .mlpackage or .onnx)")


def default_output(model_path: str | Path, card, fmt: str, int8: bool) -> Path:
    """``<model dir>/<model name>[_int8]<ext>``; the current folder for the bundled ``default``
    model (never inside the installed package)."""
    from facekd.models.io import DEFAULT_MODEL

    p = Path(model_path)
    base = Path(".") if str(model_path) == DEFAULT_MODEL else (p if p.is_dir() else p.parent)
    return base / f"{card.model}{'_int8' if int8 else ''}{FORMATS[fmt]}"


def sidecar_path(artifact: str | Path) -> Path:
    """The JSON beside an artifact: ``name.json`` for ``name.pte`` (what the C++ runner and the
    mobile apps load with it), ``name.onnx.json`` / ``name.mlpackage.json`` for the others so
    that exports of one model to several formats do not overwrite each other's sidecar."""
    p = Path(artifact)
    return p.with_suffix(".json") if p.suffix == ".pte" else p.with_name(p.name + ".json")


def export_model(model: str | Path, to: str, *, out: str | Path | None = None, int8: bool = False,
                 parity_data: "str | Path | list[str | Path]", calib_data: str | Path | None = None,
                 parity_faces: int = 64, calib_faces: int = 256, tolerance: Tolerance | None = None,
                 require_full_delegation: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print) -> ExportResult:
    """Export the model at `model` (directory, .safetensors or checkpoint) to `to` (pte, coreml,
    onnx) and check it against eager PyTorch on `parity_faces` faces of `parity_data` (of each, for a
    list of datasets: the NME change is then that of their mean).

    `int8` (pte only) quantizes with PT2E calibrated on `calib_faces` faces of `calib_data`.
    Raises :class:`ParityError` when outside `tolerance` (default: ``TOLERANCES[precision]``);
    the artifact and its sidecar (:func:`sidecar_path`) are only written when every check passed."""
    from facekd.export.parity import load_face_crops, run_model
    from facekd.models import load_model

    if to not in FORMATS:
        raise FacekdError(f"unknown export format {to!r}; choose from {', '.join(FORMATS)}")
    if int8 and to != "pte":
        raise FacekdError(f"--int8 is only available for --to pte (got --to {to})")
    if int8 and calib_data is None:
        raise FacekdError("int8 export needs calibration data (calib_data)")
    precision = "int8" if int8 else ("fp16" if to == "coreml" else "fp32")
    tol = tolerance or TOLERANCES[precision]

    module, card = load_model(model)
    module.eval()
    final = Path(out) if out is not None else default_output(model, card, to, int8)
    if final.is_dir() and final.suffix != FORMATS[to]:
        final = final / default_output(model, card, to, int8).name
    if final.suffix != FORMATS[to]:
        raise FacekdError(f"output {final} must end in {FORMATS[to]} for --to {to}")
    sidecar = sidecar_path(final)

    faces = load_face_crops(parity_data, card, parity_faces, progress=progress)
    example = faces.crops[:1].contiguous()
    with torch.no_grad():
        eager = run_model(module, faces.crops)
    output_shape = (1, *eager.shape[1:])
    log(f"{card.model}: {to} {precision}, input {list(example.shape)} -> output {list(output_shape)}; "
        f"parity on {faces.source}")

    tmp = atomic.temp_path(final)
    try:
        result = _EXPORTERS[to](module, card, example, tmp, precision, output_shape, faces, eager,
                                calib_data=calib_data, calib_faces=calib_faces, progress=progress, log=log)
        result.path, result.sidecar, result.format = final, sidecar, to
        if result.delegation is not None:
            log(f"delegation: {result.delegation.summary()}")
            if require_full_delegation and not result.delegation.fully_delegated:
                raise FacekdError(f"{card.model}: not fully delegated to XNNPACK: "
                                  f"{result.delegation.summary()}")
        if result.lowering is not None:
            log(f"int8 lowering vs PT2E reference graph: {result.lowering.summary()}")
        if result.parity is None:
            log(f"parity: not run ({result.parity_note})")
        else:
            log(f"parity vs eager PyTorch ({precision}): {result.parity.summary()}")
            bad = tol.violations(result.parity)
            if bad:
                raise ParityError(f"{to} {precision} export of {card.model} failed the parity check on "
                                  f"{result.parity.faces} faces: " + "; ".join(bad)
                                  + f". Nothing written to {final}.")
        result.size_bytes = _size(tmp)
        side = dict(result.card)
        side["parity"] = result.parity.to_dict() if result.parity else {}
        side["parity"]["note"] = result.parity_note
        if result.lowering is not None:
            side["parity"]["int8_lowering"] = result.lowering.to_dict()
        if result.delegation is not None:
            side["delegation"] = result.delegation.to_dict()
        side["parity"]["tolerance"] = {"output_rel": tol.output_rel, "nme_diff_pp": tol.nme_diff,
                                       "signed": tol.signed}
        atomic.publish(tmp, final)
    except BaseException:
        atomic.remove(tmp)
        raise
    atomic.write_text_atomic(sidecar, json.dumps(side, indent=2) + "\n")
    log(f"wrote {final} ({result.size_bytes / 1e6:.2f} MB) and {sidecar.name}")
    return result


# ----------------------------------------------------------------------------------------------

def _version() -> str:
    try:
        from facekd import __version__
        return __version__
    except Exception:
        return "unknown"


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _check_card_roundtrip(read: dict, written: dict, where: str) -> None:
    if read != written:
        raise FacekdError(f"{where}: the card read back differs from the card written")


def _export_pte(module, card, example, tmp: Path, precision, output_shape, faces: FaceCrops, eager,
                *, calib_data, calib_faces, progress, log) -> ExportResult:
    from facekd.export import executorch as et
    from facekd.export.parity import compare, load_face_crops, run_model

    reference = None
    extra: dict[str, Any] = {"backend": "xnnpack", "executorch_version": _et_version(),
                             "methods": ["forward", et.CARD_METHOD]}
    lowered_module = module
    if precision == "int8":
        calib = load_face_crops(calib_data, card, calib_faces, progress=progress)
        log(f"int8: PT2E calibration on {calib.source}")
        from tqdm import tqdm
        batches = (calib.crops[i:i + 1] for i in range(len(calib)))
        lowered_module = et.quantize_int8(module, example, tqdm(batches, total=len(calib), desc="calibrate",
                                                               unit="face", disable=not progress,
                                                               leave=False))
        reference = run_model(lowered_module, faces.crops)
        extra["quantization"] = {"method": "pt2e", "quantizer": "XNNPACKQuantizer",
                                 "config": "symmetric, per-channel weights, static activations",
                                 "calibration": calib.source}
    card_d = exported_card(card, "executorch", precision, output_shape, **extra)
    log("lowering to ExecuTorch with the XNNPACK partitioner (minutes for a teacher) ...")
    program, report = et.lower_to_pte(lowered_module, example, json.dumps(card_d, sort_keys=True))
    tmp.write_bytes(program)
    pte = et.PteModel(tmp)
    _check_io(pte.input_shape, pte.output_shape, example, output_shape, "pte")
    _check_card_roundtrip(pte.card(), card_d, "pte get_model_card")
    out = run_model(pte, faces.crops)
    return ExportResult("pte", precision, tmp, tmp, card_d, compare(eager, out, faces, card),
                        parity_note="ExecuTorch runtime (Python bindings), XNNPACK", delegation=report,
                        lowering=compare(reference, out, faces, card) if reference is not None else None,
                        checks=["program loads in the ExecuTorch runtime", "input/output shapes",
                                "embedded card round-trips"])


def _export_onnx(module, card, example, tmp: Path, precision, output_shape, faces, eager,
                 **_) -> ExportResult:
    from facekd.export import onnx as ox
    from facekd.export.parity import compare, run_model

    import onnx
    card_d = exported_card(card, "onnx", precision, output_shape, opset=ox.OPSET,
                           onnx_version=onnx.__version__)
    tmp.write_bytes(ox.to_onnx(module, example, json.dumps(card_d, sort_keys=True)))
    model = ox.OnnxModel(tmp)
    _check_card_roundtrip(model.card(), card_d, "onnx metadata_props")
    _check_io(model.input_shape, model.output_shape, example, output_shape, "onnx")
    out = run_model(model, faces.crops)
    return ExportResult("onnx", precision, tmp, tmp, card_d, compare(eager, out, faces, card),
                        parity_note="onnxruntime, CPU execution provider",
                        checks=["onnx.checker", "runs in onnxruntime", "input/output shapes",
                                "embedded card round-trips"])


def _export_coreml(module, card, example, tmp: Path, precision, output_shape, faces, eager,
                   log, **_) -> ExportResult:
    from facekd.export import coreml as cm
    from facekd.export.parity import compare, run_model

    import coremltools
    card_d = exported_card(card, "coreml", precision, output_shape, compute_precision="float16",
                           minimum_deployment_target="iOS16", coremltools_version=coremltools.__version__)
    log("converting to a CoreML ML program ...")
    cm.to_coreml(module, example, card_d, tmp)
    info = cm.inspect_mlpackage(tmp)
    if (info.input_name, info.output_name) != (cm.INPUT_NAME, cm.OUTPUT_NAME):
        raise FacekdError(f"coreml: feature names {info.input_name!r} -> {info.output_name!r}, expected "
                          f"{cm.INPUT_NAME!r} -> {cm.OUTPUT_NAME!r}")
    _check_io(info.input_shape, info.output_shape, example, output_shape, "coreml")
    _check_card_roundtrip(info.card, card_d, "coreml user_defined_metadata")
    checks = ["ML program spec", "feature names", "input/output shapes", "embedded card round-trips"]
    mil = cm.MilProgramModel(tmp)
    if mil.unsupported:
        note = ("CoreML cannot run on this platform and the MIL reference interpreter lacks: "
                + ", ".join(mil.unsupported))
        return ExportResult("coreml", precision, tmp, tmp, card_d, None, parity_note=note, checks=checks)
    out = run_model(mil, faces.crops)
    checks.append("saved MIL program evaluated by the reference interpreter (fp16 storage)")
    return ExportResult("coreml", precision, tmp, tmp, card_d, compare(eager, out, faces, card),
                        parity_note="the saved MIL program in facekd's reference interpreter (fp16 storage), "
                                    "not the CoreML runtime", checks=checks)


def _check_io(in_shape, out_shape, example, expected_out, fmt: str) -> None:
    if tuple(in_shape) != tuple(example.shape):
        raise FacekdError(f"{fmt}: input shape {tuple(in_shape)} != {tuple(example.shape)}")
    if tuple(out_shape) != tuple(expected_out):
        raise FacekdError(f"{fmt}: output shape {tuple(out_shape)} != eager {tuple(expected_out)}")


def _et_version() -> str:
    try:
        from executorch.version import __version__
        return __version__
    except Exception:
        return "unknown"


_EXPORTERS = {"pte": _export_pte, "onnx": _export_onnx, "coreml": _export_coreml}
