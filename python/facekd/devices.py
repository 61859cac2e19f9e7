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


def _cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports (``flags`` on x86, ``Features`` on ARM); empty where
    there is no ``/proc/cpuinfo`` (macOS, Windows)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


# x86: AVX512-BF16 or AMX-BF16; ARM: the BF16 extension (Armv8.6)
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def native_bf16(device, *, flags: frozenset[str] | None = None) -> bool:
    """Whether ``device`` computes bf16 in hardware. Without it (an AVX2-only CPU) torch emulates
    bf16 autocast, which trains 3-7x slower than fp32 (docs/training.md)."""
    import torch

    dev = torch_device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        return bool(BF16_CPU_FLAGS & (_cpu_flags() if flags is None else flags))
    return False


def resolve_precision(precision: str, device, *, flags: frozenset[str] | None = None) -> tuple[str, str | None]:
    """The training precision to use for ``runtime.precision`` on ``device``, and a warning line or None.
    ``auto``: bf16 where the device has bf16 units, else fp32. An explicit ``bf16`` is kept, with a
    warning where it would be emulated; ``fp16`` needs CUDA (a FacekdError otherwise)."""
    dev = torch_device(device)
    if precision == "auto":
        return ("bf16" if native_bf16(dev, flags=flags) else "fp32"), None
    if precision == "fp16" and dev.type != "cuda":
        raise FacekdError("runtime.precision=fp16 needs CUDA; use auto, bf16 or fp32 on CPU")
    if precision == "bf16" and not native_bf16(dev, flags=flags):
        what = "this CPU has no bf16 units (no avx512_bf16 / amx_bf16)" if dev.type == "cpu" else \
            f"{dev} has no native bf16"
        return precision, (f"runtime.precision=bf16 but {what}: autocast is emulated and trains several times "
                           "slower than fp32; use runtime.precision=auto or fp32")
    return precision, None
