"""Architectures, one module each, importable by id.

Every module listed in ``ARCHITECTURES`` declares what the studio knows about its family in a
``SPEC`` (``ganstudio.models.spec.ArchitectureSpec``) and a ``describe(config)`` function, and
satisfies ``spec.ArchitectureModule``; those whose weights are PyTorch state dicts also provide
``Config``, ``matches``, ``normalize_keys``, ``infer_config``, ``build``, ``inference_networks``,
``example_inputs`` and ``init_weights`` (``spec.TorchArchitecture``). Adding a family is one
module and one line here; the registry, tasks, CLI, UI and training read the specs.

This package imports torch only inside the architecture modules, so reading this table stays
cheap, and the ONNX-only families never import it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ARCHITECTURES: dict[str, str] = {
    "dcgan": "ganstudio.models.dcgan",
    "cgan": "ganstudio.models.cgan",
    "pix2pix_unet": "ganstudio.models.pix2pix_unet",
    "cyclegan_resnet": "ganstudio.models.cyclegan_resnet",
    "patchgan": "ganstudio.models.patchgan",
    "stargan": "ganstudio.models.stargan",
    "stargan_v2": "ganstudio.models.stargan_v2",
    "adain": "ganstudio.models.adain",
    "fast_style": "ganstudio.models.fast_style",
    "magenta_arbitrary": "ganstudio.models.magenta_arbitrary",
    "magenta_multistyle": "ganstudio.models.magenta_multistyle",
}


def get_architecture(arch: str) -> ModuleType:
    """Import the module of an architecture id.

    Raises:
        KeyError: an unknown id (the message lists the known ones).
    """
    try:
        return importlib.import_module(ARCHITECTURES[arch])
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise KeyError(f"unknown architecture '{arch}'. Known: {known}.") from None


def torch_architectures() -> list[ModuleType]:
    """The modules of every family loaded from PyTorch state dicts, in detection order (imports torch)."""
    modules = [get_architecture(arch) for arch in ARCHITECTURES]
    return [module for module in modules if module.SPEC.weights == "torch"]
