"""Robustness: image corruptions, adversarial attacks, the ``facekd robust`` runner and
adversarial training.

Torch-dependent parts (attacks, runner, adversarial training) are imported on first use.
"""

from facekd.robust.corruptions import (CORRUPTIONS, GEOMETRY_CORRUPTIONS, IMAGE_CORRUPTIONS, SEVERITIES,
                                       Corruption, CorruptionError, corrupt_geometry, corrupt_image,
                                       get_corruption, psnr)

__all__ = [
    "CORRUPTIONS", "GEOMETRY_CORRUPTIONS", "IMAGE_CORRUPTIONS", "SEVERITIES", "Corruption",
    "CorruptionError", "corrupt_geometry", "corrupt_image", "get_corruption", "psnr",
    "fgsm", "pgd", "linf_attack", "RobustnessConfig", "ModelUnderTest", "RobustnessReport",
    "run_robustness", "AdversarialTrainingConfig", "AdversarialTask",
]

_LAZY = {
    "fgsm": "facekd.robust.attacks", "pgd": "facekd.robust.attacks", "linf_attack": "facekd.robust.attacks",
    "RobustnessConfig": "facekd.robust.runner", "ModelUnderTest": "facekd.robust.runner",
    "RobustnessReport": "facekd.robust.runner", "run_robustness": "facekd.robust.runner",
    "AdversarialTrainingConfig": "facekd.robust.config",
    "AdversarialTask": "facekd.robust.adversarial_training",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facekd.robust' has no attribute {name!r}")
