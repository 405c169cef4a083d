"""Architectures, one module each, importable by id.

Every module listed in ``ARCHITECTURES`` follows one small contract, so the
registry, the exporter and the tests can treat them alike:

- ``ARCH``: its id (the module name); ``TASKS``: the tasks it serves.
- ``CONTAINER``: False when one checkpoint file holds one network (the registry
  names that network by the file's role, "G", "G_A", ...); True when one model
  is several networks loaded together (StarGAN v2, AdaIN), exposed by
  ``networks(model)``.
- ``PREPROCESSING``: plain data the tasks use to turn images into tensors and
  back, as the official test script does.
- ``Config``: a frozen dataclass with the official release's defaults.
- ``matches(state_dict)``, ``normalize_keys(state_dict)``, ``infer_config(state_dict)``,
  ``build(config)``, ``example_inputs(config, network, ...)``.

This package imports torch only inside the architecture modules, so reading
this table stays cheap.
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
    "stylegan2": "ganstudio.models.stylegan2",
    "stylegan2_ada": "ganstudio.models.stylegan2_ada",
    "stylegan3": "ganstudio.models.stylegan3",
}


def get_architecture(arch: str) -> ModuleType:
    """Import the module of an architecture id."""
    try:
        return importlib.import_module(ARCHITECTURES[arch])
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise KeyError(f"unknown architecture '{arch}'. Known: {known}.") from None
