"""ONNX export (TorchScript-based exporter, runs offline) with the card in `metadata_props`."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from facekd.errors import FacekdError

CARD_KEY = "facekd.model_card"  # metadata_props key holding the card JSON
INPUT_NAME = "image"
OUTPUT_NAME = "heatmaps"
OPSET = 17


def to_onnx(module: torch.nn.Module, example: torch.Tensor, card_json: str) -> bytes:
    """Serialized ONNX model: input `image` [1,3,S,S] float32, output `heatmaps` [1,K,h,w]."""
    import onnx

    buf = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (example,), buf, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_KEY, card_json
    model.producer_name = "facekd"
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OnnxModel:
    """An ONNX file or buffer in onnxruntime (CPU), callable on [1,3,S,S] float tensors."""

    def __init__(self, source: str | Path | bytes, threads: int = 1):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                source if isinstance(source, bytes) else str(source), sess_options=opts,
                providers=["CPUExecutionProvider"])
        except Exception as e:
            raise FacekdError(f"onnxruntime cannot load the model: {e}") from e
        inputs = self._session.get_inputs()
        if [i.name for i in inputs] != [INPUT_NAME]:
            raise FacekdError(f"expected one input named {INPUT_NAME!r}, got {[i.name for i in inputs]}")
        self.input_shape = tuple(inputs[0].shape)
        self.output_shape = tuple(self._session.get_outputs()[0].shape)

    def card(self) -> dict:
        meta = self._session.get_modelmeta().custom_metadata_map
        if CARD_KEY not in meta:
            raise FacekdError(f"ONNX model has no {CARD_KEY!r} metadata (not exported by facekd)")
        return json.loads(meta[CARD_KEY])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self._session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().cpu().numpy().astype(np.float32)})
        return torch.from_numpy(out[0])


def read_onnx_card(path: str | Path) -> dict:
    """The model card stored in a facekd ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for entry in model.metadata_props:
        if entry.key == CARD_KEY:
            return json.loads(entry.value)
    raise FacekdError(f"{path}: no {CARD_KEY!r} metadata (not exported by facekd)")
