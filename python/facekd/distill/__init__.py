"""Multi-teacher distillation: frozen teachers, student, adapters, discriminators -> named loss terms.

:class:`Distiller` is a :class:`facekd.engine.trainer.Task`: the trainer calls :meth:`Distiller.losses` for the
student step (terms ``kd``, ``pl``, ``cd``, ``a_<teacher>``, already multiplied by their λ, so the total is their sum) and
:meth:`Distiller.extra_step` for the alternating discriminator step. ``DistillConfig`` imports without torch (the
training config uses it); the torch parts load on first use.
"""

from facekd.distill.config import DistillConfig

__all__ = ["Adapter", "DistillConfig", "Distiller", "freeze_teacher"]


def __getattr__(name: str):
    if name in ("Adapter", "Distiller", "freeze_teacher"):
        from facekd.distill import distiller

        return getattr(distiller, name)
    raise AttributeError(name)
