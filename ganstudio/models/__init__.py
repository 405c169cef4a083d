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
from collections.abc import Mapping
from types import ModuleType

ARCHITECTURES: dict[str, str] = {
    "dcgan": "ganstudio.models.dcgan",
    "cgan": "ganstudio.models.cgan",
    "cdcgan": "ganstudio.models.cdcgan",
    "infogan": "ganstudio.models.infogan",
    "pix2pix_unet": "ganstudio.models.pix2pix_unet",
    "cyclegan_resnet": "ganstudio.models.cyclegan_resnet",
    "vintagify_resnet": "ganstudio.models.vintagify_resnet",
    "patchgan": "ganstudio.models.patchgan",
    "stargan": "ganstudio.models.stargan",
    "stargan_v2": "ganstudio.models.stargan_v2",
    "adain": "ganstudio.models.adain",
    "fast_style": "ganstudio.models.fast_style",
    "stylegan2": "ganstudio.models.stylegan2",
    "stylegan2_ada": "ganstudio.models.stylegan2_ada",
    "stylegan3": "ganstudio.models.stylegan3",
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


def matching_architectures(state_dict: Mapping[str, object]) -> list[str]:
    """The ids of the PyTorch families whose ``matches`` accepts ``state_dict`` (after their own ``normalize_keys``),
    in table order. ``tests/models/test_architectures.py`` checks that a network is recognised by its own alone."""
    found = []
    for module in torch_architectures():
        try:
            if module.matches(module.normalize_keys(state_dict)):
                found.append(module.SPEC.arch)
        except (LookupError, ValueError, AttributeError):  # a part of a checkpoint unlike anything the arch knows
            continue
    return found
