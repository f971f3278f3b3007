"""Load a classifier from a :class:`ModelSpec`: hash-checked, offline, in eval mode."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from medcam.errors import ModelError, WeightsMismatchError
from medcam.model.spec import BUILTIN_DIR, ModelSpec, builtin_names

__all__ = ["BUILTIN_DIR", "LoadedModel", "builtin_names", "check_device", "load_model",
           "resolve_spec", "sha256_file"]

#: Name of the spec stored inside a TorchScript archive (``torch.jit.save(_extra_files=...)``).
TORCHSCRIPT_SPEC_ENTRY = "medcam_spec.json"


@dataclass(frozen=True)
class LoadedModel:
    """A network ready for inference together with the spec it was built from."""

    spec: ModelSpec
    module: nn.Module


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_spec(model: str | Path | ModelSpec) -> ModelSpec:
    """A spec from a built-in name, a spec file (.json/.toml) or a TorchScript file."""
    if isinstance(model, ModelSpec):
        return model
    name = str(model)
    if name in builtin_names():
        return ModelSpec.from_file(BUILTIN_DIR / f"{name}.json")
    path = Path(name)
    if not path.is_file():
        raise ModelError(f"unknown model {name!r}: not a built-in ({', '.join(builtin_names())})"
                         " and not a spec or TorchScript file")
    if path.suffix.lower() in (".json", ".toml"):
        return ModelSpec.from_file(path)
    return _spec_from_torchscript(path)


def _spec_from_torchscript(path: Path) -> ModelSpec:
    extra = {TORCHSCRIPT_SPEC_ENTRY: ""}
    try:
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{path.name} is neither a model spec nor a TorchScript file") from exc
    if not extra[TORCHSCRIPT_SPEC_ENTRY]:
        raise ModelError(f"TorchScript file {path.name} carries no {TORCHSCRIPT_SPEC_ENTRY}; "
                         "write a spec file that points to it instead")
    try:
        data = json.loads(extra[TORCHSCRIPT_SPEC_ENTRY])
    except ValueError as exc:
        raise ModelError(f"{TORCHSCRIPT_SPEC_ENTRY} in {path.name} is not JSON") from exc
    data.update(weights=str(path), sha256=sha256_file(path), format="torchscript")
    return ModelSpec.from_mapping(data)


def check_device(device: str | torch.device) -> torch.device:
    """Parse a torch device and check that this machine has it.

    Args:
        device: e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Returns:
        The device.

    Raises:
        ModelError: not a device name, or its backend or index is not available here.

    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelError(f"{str(device)[:40]!r} is not a torch device (e.g. cpu, cuda, "
                         "cuda:1)") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError("device cuda was requested but CUDA is not available here (no "
                             "GPU, no driver, or a CPU-only torch); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelError(f"device {dev} was requested but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError("device mps was requested but MPS is not available here")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ModelError(f"device type {dev.type} is not supported (cpu, cuda, mps)")
    return dev


def load_model(model: str | Path | ModelSpec, device: str | torch.device = "cpu") -> LoadedModel:
    """Build the network of a spec, check the weights' sha256 and load them (eval mode).

    Raises:
        ModelError: unknown network, unreadable or incompatible weights, or a device
            this machine does not have (:func:`check_device`).
        WeightsMismatchError: the weights file's sha256 differs from the spec.

    """
    check_device(device)
    spec = resolve_spec(model)
    if not spec.weights.is_file():
        raise ModelError(f"weights file {spec.weights.name} of model {spec.name} is missing")
    data = spec.weights.read_bytes()
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise WeightsMismatchError(
            f"weights {spec.weights.name} do not match the sha256 in model spec {spec.name}")
    module = _torchscript(spec, data) if spec.format == "torchscript" else _monai(spec, data)
    module.eval().to(device)
    for p in module.parameters():
        p.requires_grad_(False)
    return LoadedModel(spec, module)


def _torchscript(spec: ModelSpec, data: bytes) -> nn.Module:
    try:
        module: nn.Module = torch.jit.load(io.BytesIO(data), map_location="cpu")
        return module
    except RuntimeError as exc:
        raise ModelError(f"cannot load TorchScript model {spec.name}") from exc


def _monai(spec: ModelSpec, data: bytes) -> nn.Module:
    from monai.networks import nets

    cls = getattr(nets, str(spec.network), None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ModelError(f"{spec.network!r} is not a network in monai.networks.nets")
    try:
        module = cls(**dict(spec.network_args))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"cannot build {spec.network} from the spec's network_args: {exc}") \
            from exc
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as exc:
        raise ModelError(f"weights file {spec.weights.name} of model {spec.name} is not a "
                         "readable state_dict checkpoint (corrupt or not a torch file)") from exc
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"weights of {spec.name} do not fit network {spec.network}") from exc
    return module
