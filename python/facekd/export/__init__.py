"""Export to ExecuTorch (.pte, fp32 / int8, XNNPACK), CoreML (.mlpackage) and ONNX.

Every artifact carries the model card (plus an ``export`` entry): ``.pte`` in its
``get_model_card`` method, CoreML in ``user_defined_metadata``, ONNX in ``metadata_props`` (key
``facekd.model_card``); a sidecar JSON (:func:`sidecar_path`) adds the parity numbers. Every
export ends with a parity check against eager PyTorch on real face crops and is written only when
that check passes. See docs/export.md.
"""

from facekd.export.api import (EXPORT_KEY, FORMATS, ExportResult, ParityError, default_output,
                               export_model, exported_card, read_card, sidecar_path,
                               split_exported_card)
from facekd.export.parity import TOLERANCES, FaceCrops, ParityReport, Tolerance

__all__ = ["export_model", "ExportResult", "ParityError", "FORMATS", "EXPORT_KEY", "read_card",
           "split_exported_card", "sidecar_path", "exported_card", "default_output", "TOLERANCES",
           "Tolerance", "ParityReport", "FaceCrops"]
