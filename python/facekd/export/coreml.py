"""CoreML export (.mlpackage, ML program, fp16 compute, iOS 16) and its checks on Linux.

CoreML models cannot be executed off Apple platforms. What is checked here instead:
  * the saved package's interface (input/output names, shapes, dtypes) and metadata;
  * the saved package's MIL program, read back from disk and evaluated op by op by a small
    reference interpreter (PyTorch ops, every fp16 tensor rounded to fp16), which gives the
    parity numbers. An op the interpreter does not know is reported and the numeric check is
    then skipped (the result says so).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facekd.errors import FacekdError

CARD_KEY = "facekd.model_card"  # user_defined_metadata key holding the card JSON
INPUT_NAME = "image"
OUTPUT_NAME = "heatmaps"


def _coremltools():
    import logging

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import coremltools as ct
    return ct


def to_coreml(module: torch.nn.Module, example: torch.Tensor, card: dict, path: str | Path) -> None:
    """Convert and save an `.mlpackage` at `path` (a directory): input `image` [1,3,S,S] float32,
    output `heatmaps` [1,K,h,w] float32, fp16 compute, iOS 16 minimum; card in the metadata."""
    ct = _coremltools()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            exported = torch.export.export(module.eval(), (example,)).run_decompositions({})
        arg = exported.graph_signature.user_inputs[0]
        model = ct.convert(
            exported,
            inputs=[ct.TensorType(name=arg, shape=tuple(example.shape), dtype=np.float32)],
            outputs=[ct.TensorType(name=OUTPUT_NAME, dtype=np.float32)],
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16,
            minimum_deployment_target=ct.target.iOS16,
            skip_model_load=True,
        )
    spec = model.get_spec()
    if arg != INPUT_NAME:
        ct.utils.rename_feature(spec, arg, INPUT_NAME)
    model = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)
    model.short_description = f"facekd landmarks: {card.get('name', 'model')}"
    model.author = "facekd"
    model.version = str(card.get("facekd_version", ""))
    model.user_defined_metadata[CARD_KEY] = json.dumps(card, sort_keys=True)
    model.save(str(path))


@dataclass
class CoremlSpecInfo:
    input_name: str
    input_shape: tuple
    output_name: str
    output_shape: tuple
    spec_version: int
    card: dict


def inspect_mlpackage(path: str | Path) -> CoremlSpecInfo:
    """Read a saved `.mlpackage` back and check it is a facekd ML program (FacekdError if not)."""
    ct = _coremltools()
    path = Path(path)
    if not path.is_dir():
        raise FacekdError(f"{path}: not an .mlpackage directory")
    model = ct.models.MLModel(str(path), skip_model_load=True)
    spec = model.get_spec()
    if spec.WhichOneof("Type") != "mlProgram":
        raise FacekdError(f"{path}: not an ML program (type {spec.WhichOneof('Type')})")
    ins, outs = spec.description.input, spec.description.output
    if len(ins) != 1 or len(outs) != 1:
        raise FacekdError(f"{path}: expected 1 input and 1 output, got {len(ins)} and {len(outs)}")
    meta = dict(spec.description.metadata.userDefined)
    if CARD_KEY not in meta:
        raise FacekdError(f"{path}: no {CARD_KEY!r} in user_defined_metadata")
    return CoremlSpecInfo(ins[0].name, tuple(ins[0].type.multiArrayType.shape),
                          outs[0].name, tuple(outs[0].type.multiArrayType.shape),
                          int(spec.specificationVersion), json.loads(meta[CARD_KEY]))


def read_coreml_card(path: str | Path) -> dict:
    """The model card stored in a facekd `.mlpackage`."""
    return inspect_mlpackage(path).card


class MilInterpreterError(FacekdError):
    """The MIL program uses an op (or op form) the reference interpreter does not implement."""


class MilProgramModel:
    """The MIL program of a saved `.mlpackage`, evaluated by a reference interpreter.

    Tensors typed fp16 in the program are rounded to fp16 after every op (arithmetic runs in
    fp32), which models CoreML's fp16 storage; it does not model a device's exact fp16
    accumulation, so small differences to a real device remain possible."""

    def __init__(self, path: str | Path):
        ct = _coremltools()
        from coremltools.converters.mil.frontend.milproto.load import load

        model = ct.models.MLModel(str(path), skip_model_load=True)
        spec = model.get_spec()
        self._program = load(spec, spec.specificationVersion, model.weights_dir)
        self._main = self._program.functions["main"]
        self.unsupported = sorted({op.op_type for op in self._main.operations
                                   if op.op_type not in _MIL_OPS})

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.unsupported:
            raise MilInterpreterError("MIL ops without a reference implementation: "
                                      + ", ".join(self.unsupported))
        env: dict[str, torch.Tensor] = {}
        (name, var), = self._main.inputs.items()
        env[var.name] = _round(x.detach().float(), var)
        for op in self._main.operations:
            outs = _MIL_OPS[op.op_type](op, _Args(op, env))
            outs = outs if isinstance(outs, tuple) else (outs,)
            for var, value in zip(op.outputs, outs):
                env[var.name] = _round(value, var)
        (out,) = self._main.outputs
        return env[out.name].float()


# ----------------------------------------------------------------------------------------------
# Reference MIL interpreter (the op set our HRNet-family models lower to).

def _round(value, var):
    from coremltools.converters.mil.mil import types

    if isinstance(value, torch.Tensor) and value.is_floating_point():
        if var.dtype == types.fp16:
            return value.to(torch.float16).to(torch.float32)
        return value.to(torch.float32)
    return value


class _Args:
    def __init__(self, op, env):
        self._op, self._env = op, env

    def __contains__(self, key):
        return key in self._op.inputs

    def get(self, key, default=None):
        var = self._op.inputs.get(key)
        if var is None:
            return default
        if isinstance(var, (list, tuple)):
            return [self._value(v) for v in var]
        return self._value(var)

    def _value(self, var):
        if var.name in self._env:
            return self._env[var.name]
        if var.val is not None:
            val = var.val
            if isinstance(val, np.ndarray) or np.isscalar(val):
                arr = np.asarray(val)
                if arr.dtype.kind in "fiub":
                    return torch.from_numpy(arr.astype(np.float32 if arr.dtype.kind == "f" else arr.dtype,
                                                       copy=True))
            return val
        raise MilInterpreterError(f"op {self._op.name}: input {var.name} has no value")

    def scalar(self, key, default=None):
        v = self.get(key, default)
        if isinstance(v, torch.Tensor):
            return v.item() if v.numel() == 1 else [int(t) for t in v.flatten().tolist()]
        return v


def _const(op, a):
    v = op.outputs[0].val
    if isinstance(v, np.ndarray) or np.isscalar(v):
        arr = np.asarray(v)
        if arr.dtype.kind in "fiub":
            return torch.from_numpy(arr.astype(np.float32) if arr.dtype.kind == "f" else arr.copy())
    return v


def _conv(op, a):
    x, w = a.get("x"), a.get("weight")
    b = a.get("bias")
    strides = a.scalar("strides", [1, 1])
    dil = a.scalar("dilations", [1, 1])
    groups = int(a.scalar("groups", 1))
    pad_type = a.get("pad_type", "valid")
    if pad_type == "custom":
        t, btm, l, r = a.scalar("pad")
        x = F.pad(x, (l, r, t, btm))
    elif pad_type == "same":
        kh, kw = w.shape[-2:]
        ph = max((x.shape[-2] + strides[0] - 1) // strides[0] * strides[0] - strides[0]
                 + dil[0] * (kh - 1) + 1 - x.shape[-2], 0)
        pw = max((x.shape[-1] + strides[1] - 1) // strides[1] * strides[1] - strides[1]
                 + dil[1] * (kw - 1) + 1 - x.shape[-1], 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    elif pad_type != "valid":
        raise MilInterpreterError(f"conv pad_type {pad_type!r}")
    return F.conv2d(x, w, b, stride=strides, dilation=dil, groups=groups)


def _upsample_nearest(op, a):
    sh, sw = a.scalar("scale_factor_height", 1), a.scalar("scale_factor_width", 1)
    if sh != int(sh) or sw != int(sw):
        raise MilInterpreterError("upsample_nearest_neighbor with a fractional scale")
    return F.interpolate(a.get("x"), scale_factor=(int(sh), int(sw)), mode="nearest")


def _upsample_bilinear(op, a):
    align = bool(a.scalar("align_corners", False))
    half = bool(a.scalar("half_pixel_centers", not align))
    if half == align:
        raise MilInterpreterError("upsample_bilinear with align_corners == half_pixel_centers")
    x = a.get("x")
    sh, sw = a.scalar("scale_factor_height", 1), a.scalar("scale_factor_width", 1)
    size = (int(x.shape[-2] * sh), int(x.shape[-1] * sw))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align)


def _resize_bilinear(op, a):
    mode = a.get("sampling_mode", "DEFAULT")
    x = a.get("x")
    size = (int(a.scalar("target_size_height")), int(a.scalar("target_size_width")))
    if mode == "ALIGN_CORNERS":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    if mode in ("UNALIGN_CORNERS", "HALF_PIXEL_CENTERS"):
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    raise MilInterpreterError(f"resize_bilinear sampling_mode {mode!r}")


def _cast(op, a):
    dtype = a.get("dtype")
    x = a.get("x")
    if dtype in ("fp16", "fp32"):
        return x.float()
    if dtype in ("int32", "int16", "int8"):
        return x.to(torch.int32)
    raise MilInterpreterError(f"cast to {dtype!r}")


def _concat(op, a):
    if bool(a.scalar("interleave", False)):
        raise MilInterpreterError("concat with interleave")
    return torch.cat(a.get("values"), dim=int(a.scalar("axis")))


def _pool(fn):
    def run(op, a):
        x = a.get("x")
        k, s = a.scalar("kernel_sizes"), a.scalar("strides", [1, 1])
        pad_type = a.get("pad_type", "valid")
        if pad_type == "custom":
            t, b, l, r = a.scalar("pad")
            if fn == "avg" and not bool(a.scalar("exclude_padding_from_average", False)):
                x = F.pad(x, (l, r, t, b))
            elif (t, b, l, r) != (0, 0, 0, 0):
                raise MilInterpreterError(f"{op.op_type} with padding")
        elif pad_type != "valid":
            raise MilInterpreterError(f"{op.op_type} pad_type {pad_type!r}")
        if bool(a.scalar("ceil_mode", False)):
            raise MilInterpreterError(f"{op.op_type} with ceil_mode")
        return F.avg_pool2d(x, k, s) if fn == "avg" else F.max_pool2d(x, k, s)
    return run


def _batch_norm(op, a):
    return F.batch_norm(a.get("x"), a.get("mean"), a.get("variance"), a.get("gamma"), a.get("beta"),
                        training=False, eps=float(a.scalar("epsilon", 1e-5)))


_MIL_OPS = {
    "const": _const,
    "cast": _cast,
    "conv": _conv,
    "relu": lambda op, a: F.relu(a.get("x")),
    "relu6": lambda op, a: F.relu6(a.get("x")),
    "sigmoid": lambda op, a: torch.sigmoid(a.get("x")),
    "clip": lambda op, a: torch.clamp(a.get("x"), a.scalar("alpha"), a.scalar("beta")),
    "add": lambda op, a: a.get("x") + a.get("y"),
    "sub": lambda op, a: a.get("x") - a.get("y"),
    "mul": lambda op, a: a.get("x") * a.get("y"),
    "real_div": lambda op, a: a.get("x") / a.get("y"),
    "concat": _concat,
    "upsample_nearest_neighbor": _upsample_nearest,
    "upsample_bilinear": _upsample_bilinear,
    "resize_bilinear": _resize_bilinear,
    "avg_pool": _pool("avg"),
    "max_pool": _pool("max"),
    "batch_norm": _batch_norm,
    "identity": lambda op, a: a.get("x"),
}
