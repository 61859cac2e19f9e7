"""facekd: mobile-first facial landmarks by multi-teacher knowledge distillation.

The compiled kernel set (``facekd._core``, a binding of ``csrc/include/facekd/c_api.h``) is the
same code the iOS and Android libraries run. Heavy modules (torch models, trainer, export) are
imported lazily by the subpackages that need them.
"""

from facekd._core import version as _core_version

__version__: str = _core_version()

__all__ = ["__version__"]
