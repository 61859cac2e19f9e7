"""ExecuTorch lowering (XNNPACK delegate, fp32 or PT2E int8) and a Python runner for `.pte` files."""

from __future__ import annotations

import json
import operator
import os
import weakref
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from facekd.errors import FacekdError

CARD_METHOD = "get_model_card"  # constant method of every facekd .pte: the card JSON as uint8 bytes


@dataclass
class DelegationReport:
    """Where the lowered graph's ops run: inside XNNPACK delegate calls or outside them."""

    delegate_calls: int
    outside: list[str] = field(default_factory=list)  # op names left to ExecuTorch's CPU kernels

    @property
    def fully_delegated(self) -> bool:
        return self.delegate_calls > 0 and not self.outside

    def to_dict(self) -> dict:
        return {"delegate_calls": self.delegate_calls, "ops_outside_delegate": list(self.outside),
                "fully_delegated": self.fully_delegated}

    def summary(self) -> str:
        if self.fully_delegated:
            return f"whole graph delegated to XNNPACK ({self.delegate_calls} delegate call(s))"
        from collections import Counter

        ops = ", ".join(f"{op} x{n}" for op, n in Counter(self.outside).most_common()) or "none"
        return (f"NOT fully delegated: {self.delegate_calls} XNNPACK call(s); "
                f"{len(self.outside)} op(s) outside the delegate: {ops}")


def delegation_report(edge_program: "torch.export.ExportedProgram") -> DelegationReport:
    """Count XNNPACK delegate calls and list every other op of a lowered edge program."""
    calls, outside = 0, []
    for node in edge_program.graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target is operator.getitem:
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if name == "executorch_call_delegate":
            calls += 1
        else:
            outside.append(name)
    return DelegationReport(calls, outside)


# channels per group of the transposed convolution that replaces nearest upsampling
# (:func:`nearest_upsampling_as_deconv`): 16 measured fastest for YuNet-s's 64-channel neck at
# 640 x 480 (backbone + neck program, one thread, min of 60: 4 groups of 16 channels 5.5 ms,
# 1 group of 64 5.9, 16 groups of 4 6.1, depthwise 8.7)
UPSAMPLE_GROUP_CHANNELS = 16


def _upsample_groups(c: int) -> int:
    """Groups for `c` channels: groups of the largest size <= UPSAMPLE_GROUP_CHANNELS dividing `c`."""
    size = max(d for d in range(1, min(c, UPSAMPLE_GROUP_CHANNELS) + 1) if c % d == 0)
    return c // size


def _upsample_kernel(c: int, groups: int, fh: int, fw: int, dtype: torch.dtype) -> torch.Tensor:
    """``[c, c / groups, fh, fw]`` conv_transpose2d weight: input channel ``i`` of a group
    writes only to output channel ``i`` of that group, with weight 1 at every kernel tap."""
    size = c // groups
    eye = torch.eye(size, dtype=dtype).view(size, size, 1, 1).expand(size, size, fh, fw)
    return eye.repeat(groups, 1, 1, 1).contiguous()


def nearest_upsampling_as_deconv(gm: torch.fx.GraphModule) -> int:
    """Rewrite integer-factor nearest upsampling (``aten.upsample_nearest2d``, which XNNPACK does
    not take, so it splits the graph into several delegate calls around CPU kernels) into the
    exactly equivalent transposed convolution with stride (f_h, f_w) whose f_h x f_w kernel copies
    each channel to itself (ones on the identity of each group of :data:`UPSAMPLE_GROUP_CHANNELS`
    channels, zeros elsewhere), which XNNPACK runs. Grouped rather than depthwise: XNNPACK's
    depthwise deconvolution (one channel per group) is its slow path: YuNet-s's two upsamplings
    at 640 x 480 took ~3.3 ms of its ~9 ms program that way (docs/benchmarks.md).
    In place on an exported graph module; returns the number of rewritten nodes (non-integer
    factors are left alone)."""
    count = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in (torch.ops.aten.upsample_nearest2d.vec,
                                                             torch.ops.aten.upsample_nearest2d.default):
            continue
        src, out = node.args[0].meta.get("val"), node.meta.get("val")
        if src is None or out is None or src.dim() != 4:
            continue
        (h, w), (oh, ow) = src.shape[-2:], out.shape[-2:]
        if oh % h or ow % w:
            continue
        fh, fw, c = oh // h, ow // w, src.shape[1]
        name = f"_facekd_nearest_up_{count}"
        g = _upsample_groups(c)
        gm.register_buffer(name, _upsample_kernel(c, g, fh, fw, src.dtype))
        with gm.graph.inserting_before(node):
            weight = gm.graph.get_attr(name)
            weight.meta["val"] = getattr(gm, name)  # the quantizer reads shapes from node meta
            deconv = gm.graph.call_function(torch.ops.aten.conv_transpose2d.input,
                                            (node.args[0], weight, None, [fh, fw], [0, 0], [0, 0], g, [1, 1]))
        deconv.meta["val"] = out
        node.replace_all_uses_with(deconv)
        gm.graph.erase_node(node)
        count += 1
    if count:
        gm.graph.lint()
        gm.recompile()
    return count


def for_xnnpack(module: torch.nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """The exported graph of `module` with the rewrites that keep it inside the XNNPACK delegate
    (see :func:`nearest_upsampling_as_deconv`); numerically the same model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            gm = torch.export.export(module, (example,)).module()
    nearest_upsampling_as_deconv(gm)
    return gm


def quantize_int8(module: torch.nn.Module, example: torch.Tensor,
                  calibration: Iterable[torch.Tensor]) -> torch.nn.Module:
    """PT2E int8: XNNPACK quantizer, symmetric per-channel weights, calibrated on `calibration`
    (tensors shaped like `example`). Returns the converted (quantize/dequantize) graph module."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    with warnings.catch_warnings():  # the export stack's deprecation chatter, not errors
        warnings.simplefilter("ignore")
        graph = for_xnnpack(module, example)
        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(graph, quantizer)
        n = 0
        with torch.no_grad():
            for x in calibration:
                if tuple(x.shape) != tuple(example.shape):
                    raise FacekdError(f"calibration tensor has shape {tuple(x.shape)}, "
                                      f"expected {tuple(example.shape)}")
                prepared(x)
                n += 1
        if n == 0:
            raise FacekdError("int8 calibration needs at least one crop, got none")
        return convert_pt2e(prepared)


def lower_to_pte(module: torch.nn.Module, example: torch.Tensor, card_json: str
                 ) -> tuple[bytes, DelegationReport]:
    """torch.export -> edge -> XNNPACK partition -> ExecuTorch program bytes.

    `module` is an eager module (it is passed through :func:`for_xnnpack` first) or a graph
    module that already was (e.g. the output of :func:`quantize_int8`). The program has
    `forward` (image [1,3,S,S] -> model output) and the constant method `get_model_card`
    returning `card_json` as a uint8 tensor of UTF-8 bytes."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    card = torch.tensor(list(card_json.encode("utf-8")), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not isinstance(module, torch.fx.GraphModule):
            module = for_xnnpack(module.eval(), example)
        with torch.no_grad():
            exported = torch.export.export(module, (example,))
        edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()],
                                           constant_methods={CARD_METHOD: card})
        report = delegation_report(edge.exported_program())
        return bytes(edge.to_executorch().buffer), report


# ExecuTorch has ONE thread pool per process (extension/threadpool). Each XNNPACK delegate keeps the
# raw pthreadpool pointer it was given when its method was loaded (XNNCompiler hands
# get_pthreadpool() to xnn_create_runtime), and `_unsafe_reset_threadpool` destroys that pool and
# creates another. A method loaded before a resize therefore runs on freed memory: a segfault, an
# abort in pthread_mutex_lock, or a wait forever on worker threads that no longer exist. (Asking
# for the count the pool already has is a no-op, which is why only some counts failed.) So the
# pool is sized before a program's methods are loaded, and every loaded PteModel is reloaded
# from its bytes whenever the size changes.
_LIVE: "weakref.WeakSet[PteModel]" = weakref.WeakSet()
_sized_by_facekd = False


def affinity_threads() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where the
    platform has no affinity). ExecuTorch's own default counts the machine's cores, which
    oversubscribes a process pinned with ``taskset`` or a container's ``--cpuset-cpus``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def num_threads() -> int:
    """Current size of this process's ExecuTorch (XNNPACK) thread pool."""
    from executorch.extension.pybindings import portable_lib

    return int(portable_lib._threadpool_get_thread_count())


def _check_threads(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise FacekdError(f"threads must be a whole number >= 1 or None, got {n!r}")
    if n < 1:
        raise FacekdError(f"threads must be >= 1, got {n}")
    return int(n)


def set_num_threads(n: int | None = None) -> int:
    """Size the process-wide ExecuTorch (XNNPACK) thread pool to ``n`` threads (None: the
    process's CPU affinity, :func:`affinity_threads`). Loaded :class:`PteModel` objects are
    reloaded so that none keeps the pool being replaced. Not to be called while another thread
    runs a `.pte`. Returns the pool size."""
    from executorch.extension.pybindings import portable_lib

    global _sized_by_facekd
    n = affinity_threads() if n is None else _check_threads(n)
    _sized_by_facekd = True
    if n == num_threads():
        return n
    live = list(_LIVE)
    for model in live:  # release every XNNPACK runtime that holds the current pool
        model._unload()
    portable_lib._unsafe_reset_threadpool(n)
    for model in live:
        model._load()
    return n


class PteModel:
    """A `.pte` loaded in the ExecuTorch runtime: callable on [1,3,S,S] float tensors.

    ``threads``: size of ExecuTorch's thread pool, which is process-wide (the last size set
    applies to every loaded model); None keeps the size set earlier in this process, at first
    the process's CPU affinity."""

    def __init__(self, source: str | Path | bytes, *, threads: int | None = None):
        from executorch.runtime import Runtime

        runtime = Runtime.get()
        if not runtime.backend_registry.is_available("XnnpackBackend"):
            raise FacekdError("this ExecuTorch runtime has no XnnpackBackend registered")
        self._name = "buffer" if isinstance(source, (bytes, bytearray)) else str(source)
        if isinstance(source, (bytes, bytearray)):
            self._data = bytes(source)
        else:
            try:  # kept in memory: a reload after a pool resize must not depend on the file
                self._data = Path(source).read_bytes()
            except OSError as e:
                raise FacekdError(f"cannot load ExecuTorch program {self._name}: {e.strerror or e}") from None
        if threads is not None or not _sized_by_facekd:
            set_num_threads(threads)  # before any method of this program exists
        self._program = self._forward = None
        self._load()
        _LIVE.add(self)
        meta = self._forward.metadata
        self.input_shape = tuple(meta.input_tensor_meta(0).sizes())
        self.output_shape = tuple(meta.output_tensor_meta(0).sizes())

    def _load(self) -> None:
        from executorch.runtime import Runtime

        try:
            self._program = Runtime.get().load_program(self._data)
            self._forward = self._program.load_method("forward")
        except Exception as e:  # the runtime raises RuntimeError/ValueError with its own text
            self._program = self._forward = None
            raise FacekdError(f"cannot load ExecuTorch program {self._name}: {e}") from e

    def _unload(self) -> None:
        self._forward = self._program = None  # the Program caches its methods: drop both

    @property
    def method_names(self) -> set[str]:
        return set(self._program.method_names)

    def card(self) -> dict:
        """The model card embedded by `lower_to_pte` (FacekdError if the program has none)."""
        if CARD_METHOD not in self.method_names:
            raise FacekdError(f"program has no {CARD_METHOD} method (not exported by facekd)")
        data = self._program.load_method(CARD_METHOD).execute([])[0]
        return json.loads(bytes(data.numpy().astype(np.uint8).tobytes()).decode("utf-8"))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape) != self.input_shape:
            raise FacekdError(f"input shape {tuple(x.shape)} != program input {self.input_shape}")
        return self._forward.execute([x.contiguous().float()])[0]


def read_pte_card(path: str | Path) -> dict:
    """The model card embedded in a facekd `.pte`."""
    return PteModel(path).card()

