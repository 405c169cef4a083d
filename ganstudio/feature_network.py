"""Finding and loading VGG-19 weights as people already have them, for style losses (Gatys, Johnson).

Nothing is downloaded: the studio runs offline. The network itself (layouts, layer taps, input
normalisation) is ``ganstudio.models.vgg19``; this module finds the file and reads it safely.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
)
from ganstudio.errors import CheckpointError, ModelNotFoundError
from ganstudio.models.vgg19 import (
    ADAIN_FILES,
    ARCH,
    TORCHVISION_FILE,
    TORCHVISION_URL,
    Pooling,
    VGG19Features,
    build,
    infer_config,
    normalize_keys,
)


def torch_hub_checkpoints() -> Path:
    """Where torchvision keeps downloaded weights: ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch/...`` by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_vgg19(path: str | os.PathLike | None = None, *, folders: Sequence[str | os.PathLike] = ()) -> Path:
    """The VGG-19 weights to use: ``path`` (a file, or a folder holding one of the known names); without it,
    the first of ``folders`` that holds one of the known names, else the torch hub cache.

    Nothing is downloaded: the studio runs offline. The app passes its user folder's ``vgg19/``, where
    AdaIN's file can go under its own name.

    Raises:
        ModelNotFoundError: no such file, or (without ``path``) none of the known files in the folders or the
            torch hub cache; the message says where to put which file.
    """
    if path is not None:
        path = Path(path).expanduser()
        if path.is_file():
            return path
        if path.is_dir():
            for name in (TORCHVISION_FILE, *ADAIN_FILES):
                if (path / name).is_file():
                    return path / name
            raise ModelNotFoundError(
                f"folder '{path}' holds no VGG-19 weights: expected {TORCHVISION_FILE} (torchvision) or "
                "vgg_normalised.pth (AdaIN) in it. Pass --vgg with the path of the file itself."
            )
        raise ModelNotFoundError(
            f"VGG-19 weights '{path}' do not exist. Pass --vgg with the path to torchvision's {TORCHVISION_FILE} "
            "or to AdaIN's vgg_normalised.pth."
        )
    for folder in map(Path, folders):
        for name in (TORCHVISION_FILE, *ADAIN_FILES):
            if (folder / name).is_file():
                return folder / name
    cached = torch_hub_checkpoints() / TORCHVISION_FILE
    if cached.is_file():
        return cached
    elsewhere = "".join(f", or put either file in {Path(folder)}/" for folder in folders)
    raise ModelNotFoundError(
        "style transfer by optimisation and perceptual-loss training need VGG-19 weights, and none were found "
        f"(the studio never downloads them). Either put torchvision's {TORCHVISION_FILE} ({TORCHVISION_URL}, "
        f"548 MB) at {cached}{elsewhere}, or pass --vgg PATH to a copy of that file, or pass --vgg PATH to AdaIN's "
        "vgg_normalised.pth (the encoder file of an AdaIN model, 80 MB)."
    )


def load_vgg19(
    path: str | os.PathLike | None = None, *, pooling: Pooling = "max", device: str | torch.device = "cpu"
) -> VGG19Features:
    """Find (``find_vgg19``), read safely, check and load VGG-19 features, in eval mode with frozen parameters.

    Raises:
        ModelNotFoundError: no weights found (see ``find_vgg19``).
        CheckpointError: the file is not torchvision's or AdaIN's VGG-19.
        UnsafeCheckpointError: the file is a pickle that would run code.
    """
    found = find_vgg19(path)
    raw = flatten_state_dict(read_checkpoint(found))  # its errors name the file already
    try:
        state_dict = normalize_keys(raw)
        config = infer_config(state_dict, pooling=pooling)
        network = build(config)
        load_state_dict_strictly(network, state_dict, arch=f"{ARCH} ({config.layout} layout)")
    except CheckpointError as exc:
        raise CheckpointError(f"'{found}': {exc}") from None
    return network.eval().requires_grad_(False).to(device)
