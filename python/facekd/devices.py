"""Torch devices named by users (``--device``, ``Landmarker(device=...)``, ``runtime.device``):
checked once, the same way everywhere, before any model is moved."""

from __future__ import annotations

from facekd.errors import FacekdError


def torch_device(device, *, name: str = "device"):
    """The ``torch.device`` for ``device`` when this process can put a tensor on it; otherwise a
    FacekdError naming the value (an unknown spelling, ``cuda`` with a CPU-only torch build, an
    index past the device count, ``meta``)."""
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError) as e:
            raise FacekdError(f"unknown {name} {device!r}: expected a torch device such as "
                              "'cpu', 'cuda', 'cuda:1' or 'mps'") from None
    else:
        raise FacekdError(f"{name} must be a string such as 'cpu' or 'cuda:0', got {type(device).__name__}")
    if dev.type == "cpu":
        return dev
    if dev.type == "meta":
        raise FacekdError(f"{name} {device!r} holds no data: use 'cpu' or an accelerator")
    try:  # the one reliable test: each backend fails in its own way (AssertionError, RuntimeError...)
        torch.empty(1, device=dev)
    except Exception as e:  # noqa: BLE001 - turned into one line naming the device
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0][:160]
        raise FacekdError(f"{name} {device!r} is not available (torch {torch.__version__}): {msg}") from None
    return dev
