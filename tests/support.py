"""Helpers shared by the tests (import them as ``from support import ...``)."""

from __future__ import annotations

import os
import sys
import types
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE_DIR = Path(os.environ.get("GANSTUDIO_CONFORMANCE", REPO_ROOT.parent / "shared" / "conformance"))


def save_tiny_checkpoint(arch: str, path: Path, *, seed: int = 0, **overrides) -> Path:
    """Build a small model of ``arch`` with random weights and save its state dict as the official code would."""
    import dataclasses

    import torch

    from ganstudio.models import get_architecture

    module = get_architecture(arch)
    torch.manual_seed(seed)
    network = module.build(dataclasses.replace(module.Config(), **overrides))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), path)
    return path


def package_file(package: str, inner: str) -> Path:
    """A file shipped inside an installed package, found without importing it; the test is skipped (failed on CI)
    when the package is not installed."""
    import importlib.util

    import pytest

    spec = importlib.util.find_spec(package)
    path = Path(next(iter(spec.submodule_search_locations))) / inner if spec and spec.submodule_search_locations else None
    if path is None or not path.exists():
        message = f"package '{package}' (file {inner}) is not installed: pip install {package.replace('_', '-')}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_package_module(package: str, module: str):
    """One module file of an installed package, executed by path: its package's ``__init__`` does not run.

    omniart_eye_generator's ``__init__`` loads its weights with a bare ``torch.load`` (they were saved from CUDA,
    so that fails without a GPU); vintagify's imports torchvision and matplotlib for its inference script.
    """
    import importlib.util

    path = package_file(package, f"{module}.py")
    spec = importlib.util.spec_from_file_location(f"_package_{package}_{module}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def save_random_vgg19(path: Path, *, last_layer: str = "relu3_1", seed: int = 0) -> Path:
    """VGG-19 in torchvision's file layout (``features.<i>.*``), random weights, cut after ``last_layer``.

    No real VGG-19 weights exist offline; a file cut after relu3_1 holds 0.6 M values (2 MB) where the real one
    holds 143 M, and loads as the real one does (``feature_network.load_vgg19`` reads the depth from the file).
    """
    import torch

    from ganstudio.models import vgg19

    torch.manual_seed(seed)
    network = vgg19.build(vgg19.Config(depth=vgg19.LAYERS["torchvision"][last_layer] + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), path)
    return path


# -- NVlabs network pickles, written as training_loop.py writes them ------------------------------------------------

@contextmanager
def official_names():
    """Stand-in ``torch_utils.persistence`` and ``dnnlib.util`` so that pickle can *write* their global names.

    They exist only while a test pickle is written; the reader never sees them (it imports neither).
    """
    def _reconstruct_persistent_obj(meta):
        raise AssertionError("a test stand-in is never called")

    class EasyDictName(dict):
        pass

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    EasyDictName.__module__, EasyDictName.__qualname__, EasyDictName.__name__ = "dnnlib.util", "EasyDict", "EasyDict"
    modules = {name: types.ModuleType(name) for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")}
    modules["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    modules["torch_utils"].persistence = modules["torch_utils.persistence"]
    modules["dnnlib.util"].EasyDict = EasyDictName
    modules["dnnlib"].util = modules["dnnlib.util"]
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDictName)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class Persistent:
    """Pickles as torch_utils.persistence does: ``REDUCE(_reconstruct_persistent_obj, (meta,))``."""

    def __init__(self, reconstruct, meta):
        self.reconstruct, self.meta = reconstruct, meta

    def __reduce__(self):
        return self.reconstruct, (self.meta,)


def persistent_record(module, names, init_kwargs: dict | None = None, module_src: str = "# networks.py") -> Persistent:
    """An ``nn.Module`` as a persistence record: its class name, the module source as text, its ``__dict__`` parts."""
    import collections

    state = {
        "training": False,
        "_parameters": collections.OrderedDict(module._parameters),
        "_buffers": collections.OrderedDict(module._buffers),
        "_non_persistent_buffers_set": set(module._non_persistent_buffers_set),
        "_modules": collections.OrderedDict((key, persistent_record(child, names, module_src=module_src))
                                            for key, child in module._modules.items()),
        "_init_args": (),
        "_init_kwargs": names.EasyDict(init_kwargs or {}),
    }
    meta = {"type": "class", "version": 6, "module_src": module_src, "class_name": type(module).__name__, "state": state}
    return Persistent(names.reconstruct, meta)


def write_network_pickle(path: Path, generator, init_kwargs: dict, module_src: str = "# networks.py") -> Path:
    """A snapshot ``{G, G_ema, training_set_kwargs}`` of one of our StyleGAN2-ADA / StyleGAN3 generators (their classes
    keep the official names), pickled as NVlabs' ``training_loop.py`` pickles it."""
    import pickle

    path.parent.mkdir(parents=True, exist_ok=True)
    with official_names() as names:
        record = persistent_record(generator, names, init_kwargs, module_src)
        snapshot = {"G": record, "G_ema": record, "training_set_kwargs": names.EasyDict(resolution=init_kwargs.get("img_resolution"))}
        path.write_bytes(pickle.dumps(snapshot, protocol=4))
    return path


def tiny_stylegan_pickle(path: Path, arch: str = "stylegan2_ada", *, seed: int = 0, module_src: str = "# networks.py",
                         **overrides) -> Path:
    """A random-weight StyleGAN2-ADA (or StyleGAN3) generator at a tiny config, as an NVlabs snapshot pickle.

    The constants the official init sets (noise strengths, biases, w_avg) get random values, so that forgetting
    one would show; the last layer is scaled so that the images span the range.
    """
    import dataclasses

    import torch

    from ganstudio.models import get_architecture

    module = get_architecture(arch)
    tiny = {"z_dim": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 256, "channel_max": 16, "conv_clamp": None,
            "num_fp16_res": 0}
    tiny.update({"img_resolution": 32} if arch == "stylegan2_ada" else {"img_resolution": 16, "num_layers": 6})
    tiny.update(overrides)
    config = dataclasses.replace(module.Config(), **tiny)
    torch.manual_seed(seed)
    generator = module.build(config).eval()
    with torch.no_grad():
        generator.mapping.w_avg.normal_()
        for name, tensor in generator.state_dict().items():
            if name.endswith(("noise_strength", ".bias")) and "input.affine" not in name:
                tensor.normal_(0, 0.2)
            if name.endswith("magnitude_ema"):
                tensor.fill_(0.7)
    return write_network_pickle(path, generator, module.init_kwargs(config), module_src)
