"""Saving and loading models: ``model.safetensors`` + ``model.json`` (the card), atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from facekd.card import ModelCard
from facekd.errors import FacekdError
from facekd.fileio import atomic_write
from facekd.models.registry import build_from_dict

CARD_METADATA_KEY = "facekd.card"  # the card JSON, also embedded in the safetensors header
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
DEFAULT_MODEL = "default"  # the name of the student bundled in facekd/assets/models/default


def default_model_path() -> Path | None:
    """Directory of the bundled default model, or None when this installation has none."""
    from importlib import resources

    d = resources.files("facekd").joinpath("assets", "models", DEFAULT_MODEL)
    if not d.joinpath("model.safetensors").is_file():
        return None
    return Path(str(d))


def resolve_model(model: str | Path) -> Path:
    """The path behind a model argument, the same for every command and the API: ``"default"``
    (the bundled student) or a path that exists (model directory, ``.safetensors``, checkpoint,
    ``.pte``, ``.onnx``). FacekdError naming the value otherwise."""
    if isinstance(model, str) and model == DEFAULT_MODEL:
        path = default_model_path()
        if path is None:
            raise FacekdError("the default model is not bundled with this facekd installation "
                              "(facekd/assets/models/default/model.safetensors is missing); pass a model "
                              "directory, .safetensors, checkpoint, .pte or .onnx (CLI: --model PATH)")
        return path
    if not isinstance(model, (str, Path)):
        raise FacekdError(f"model must be 'default' or a path, got {type(model).__name__}")
    path = Path(model)
    if not path.exists():
        raise FacekdError(f"model not found: {path}")
    return path


def _paths(dir_or_prefix: str | Path) -> tuple[Path, Path]:
    p = Path(dir_or_prefix)
    if p.suffix in (".safetensors", ".json"):
        return p.with_suffix(".safetensors"), p.with_suffix(".json")
    return p / "model.safetensors", p / "model.json"


def state_dict_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def card_for(model: nn.Module, *, scheme, input_size: int, codec=None, crop_scale: float = 1.25,
             mean=None, std=None, training_data: str = "", metrics: dict[str, Any] | None = None) -> ModelCard:
    """Build the card of ``model`` (a facekd model) for the given scheme / codec / preprocessing."""
    from facekd.card import IMAGENET_MEAN, IMAGENET_STD

    kw = {}
    if getattr(model, "output_type", "heatmap") == "heatmap":
        if codec is None:
            raise FacekdError("card_for: a heatmap model needs its codec")
        kw["codec"] = codec.to_dict() if hasattr(codec, "to_dict") else dict(codec)
    return ModelCard(model=getattr(model, "model_name", model.arch), arch=model.arch,
                     config=model.config.to_dict(), num_keypoints=model.config.num_keypoints,
                     input_size=int(input_size),
                     scheme=scheme.to_dict() if hasattr(scheme, "to_dict") else dict(scheme),
                     output_type=model.output_type, crop_scale=float(crop_scale),
                     mean=tuple(mean or IMAGENET_MEAN), std=tuple(std or IMAGENET_STD),
                     training_data=training_data, metrics=dict(metrics or {}), **kw)


def save_model(dir_or_prefix: str | Path, model: nn.Module, card: ModelCard) -> Path:
    """Write ``model.safetensors`` + ``model.json`` (or ``X.safetensors`` + ``X.json`` for a path
    ending in ``.safetensors``), each atomically. Returns the ``.safetensors`` path."""
    from safetensors.torch import save_file

    check_weights(card, state_dict_for_saving(model))
    st_path, json_path = _paths(dir_or_prefix)
    text = card.to_json()
    tensors = state_dict_for_saving(model)
    atomic_write(st_path, lambda tmp: save_file(tensors, tmp, metadata={CARD_METADATA_KEY: text}))
    atomic_write(json_path, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    return st_path


def check_weights(card: ModelCard, state: dict[str, torch.Tensor], source: str = "checkpoint") -> nn.Module:
    """Build the card's module and check that ``state`` fits it; returns the (unloaded) module."""
    model = build_from_dict(card.arch, card.config)
    expected = model.state_dict()
    out_key = f"{model.output_layer}.weight"
    if out_key in state and out_key in expected and state[out_key].shape[0] != expected[out_key].shape[0]:
        k = state[out_key].shape[0] // model.output_per_keypoint
        raise FacekdError(f"{source} has {k} keypoints, card says {card.num_keypoints}")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s) (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es) ({source} vs card), e.g. {shapes[:3]}")
        raise FacekdError(f"{source} weights do not match the card's architecture "
                          f"'{card.model}' ({card.arch}): " + "; ".join(parts))
    return model


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except Exception as e:  # safetensors raises its own error types
        raise FacekdError(f"cannot read weights {path}: {e}") from None


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """``torch.load`` a facekd training checkpoint (``weights_only=True``)."""
    p = Path(path)
    if not p.is_file():
        raise FacekdError(f"checkpoint not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FacekdError(f"cannot read checkpoint {p}: {e}") from None


def load_model(path: str | Path, *, use_ema: bool = True) -> tuple[nn.Module, ModelCard]:
    """Load ``(model in eval mode, card)`` from a model directory, a ``.safetensors`` file (card
    from the sibling ``.json`` or the embedded header) or a training checkpoint (EMA weights unless
    ``use_ema=False``); ``"default"`` is the bundled student (:func:`resolve_model`)."""
    p = resolve_model(path)
    if p.is_dir():
        p = p / "model.safetensors"
    elif p.suffix == ".json":
        p = p.with_suffix(".safetensors")
    if not p.exists():
        raise FacekdError(f"model not found: {p}")
    if p.suffix in CHECKPOINT_SUFFIXES:
        ckpt = load_checkpoint_file(p)
        if not isinstance(ckpt, dict) or "card" not in ckpt:
            raise FacekdError(f"{p} is not a facekd training checkpoint (no model card inside)")
        card = ModelCard.from_dict(ckpt["card"])
        key = "ema" if use_ema and ckpt.get("ema") is not None else "model"
        state = ckpt[key]
    elif p.suffix == ".safetensors":
        state, meta = _read_safetensors(p)
        side = p.with_suffix(".json")
        if side.is_file():
            card = ModelCard.read(side)
        elif CARD_METADATA_KEY in meta:
            card = ModelCard.from_json(meta[CARD_METADATA_KEY])
        else:
            raise FacekdError(f"no model card for {p}: expected {side.name} beside it")
    else:
        raise FacekdError(f"unsupported model file {p}: give a model directory, a .safetensors file "
                          f"or a training checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})")
    model = check_weights(card, state, source=p.name)
    model.load_state_dict(state)
    model.model_name = card.model
    return model.eval(), card


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``.pt`` state dict / facekd checkpoint."""
    p = Path(path)
    if not p.is_file():
        raise FacekdError(f"weights file not found: {p}")
    if p.suffix == ".safetensors":
        return _read_safetensors(p)[0]
    obj = load_checkpoint_file(p)
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj.get("ema") or obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise FacekdError(f"{p} does not hold a state dict of tensors")
    return obj


def init_from_file(model: nn.Module, path: str | Path, strict: bool = False) -> dict[str, int]:
    """Initialise ``model`` from a weights file. Non-strict: tensors whose name and shape match
    are copied, the rest keep their initialisation (e.g. backbone-only weights). Returns counts."""
    state = load_state_file(path)
    own = model.state_dict()
    match = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(state) - set(match))
    if strict and (skipped or len(match) != len(own)):
        raise FacekdError(f"--init {path}: {len(skipped)} tensor(s) do not fit the model "
                          f"(e.g. {skipped[:3]}), {len(own) - len(match)} model tensor(s) not covered")
    if not match:
        raise FacekdError(f"--init {path}: no tensor matches the model by name and shape")
    model.load_state_dict(match, strict=False)
    return {"loaded": len(match), "skipped": len(skipped), "model_tensors": len(own)}
