"""facekd: mobile-first facial landmarks by multi-teacher knowledge distillation.

The compiled kernel set (``facekd._core``, a binding of ``csrc/include/facekd/c_api.h``) is the
same code the iOS and Android libraries run. Heavy modules (torch models, trainer, export) are
imported lazily: ``facekd.Landmarker`` / ``facekd.Tracker`` / ``facekd.Face`` load ``facekd.api`` on first use.
"""

from facekd._core import version as _core_version

__version__: str = _core_version()

__all__ = ["Face", "Landmarker", "Tracker", "__version__"]


def __getattr__(name: str):
    if name in ("Landmarker", "Tracker", "Face"):
        from facekd import api

        return getattr(api, name)
    raise AttributeError(f"module 'facekd' has no attribute {name!r}")
