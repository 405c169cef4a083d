"""Fixtures of the UI tests: one registry of tiny models and one served app for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def studio_registry(tmp_path_factory):
    from ui.studio import make_studio_registry

    return make_studio_registry(tmp_path_factory.mktemp("studio"))


@pytest.fixture(scope="session")
def studio_url(studio_registry):
    """The app served on a free local port, as app.py queues it."""
    from ui.studio import serve

    app, url = serve(studio_registry)
    yield url
    app.close()


@pytest.fixture(scope="session")
def client(studio_url):
    from gradio_client import Client

    return Client(studio_url, verbose=False)


@pytest.fixture(scope="session")
def sample_paths(tmp_path_factory) -> dict[str, str]:
    """Real pictures from skimage as files, and the awkward kinds: alpha, 16-bit, huge, not an image."""
    import numpy as np
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("samples")
    paths = {}
    for name, picture in (("cat", data.chelsea()), ("astronaut", data.astronaut()), ("hubble", data.hubble_deep_field())):
        paths[name] = str(folder / f"{name}.png")
        Image.fromarray(picture).resize((picture.shape[1] // 2, picture.shape[0] // 2)).save(paths[name])
    paths["logo_rgba"] = str(folder / "logo.png")
    Image.fromarray(data.logo()).save(paths["logo_rgba"])
    paths["camera_16bit"] = str(folder / "camera16.png")
    Image.fromarray(data.camera().astype(np.uint16) * 257).save(paths["camera_16bit"])
    paths["huge"] = str(folder / "huge.png")
    Image.new("L", (9000, 9000)).save(paths["huge"], optimize=True)
    paths["not_an_image"] = str(folder / "notes.png")
    Path(paths["not_an_image"]).write_text("these are notes, not pixels\n")
    return paths


@pytest.fixture(scope="session")
def unreachable_hub(tmp_path_factory):
    """A Hugging Face cache with one cached repository, 'someone/repo', and a Hub that cannot be reached (nothing
    listens at its address): what the attack runs saw on a machine without internet."""
    from huggingface_hub import constants

    from ui.studio import save_tiny_checkpoint

    cache = tmp_path_factory.mktemp("hub")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--someone--repo"
    save_tiny_checkpoint("dcgan", repo / "snapshots" / commit / "gens" / "netG_epoch_9.pth", nz=8, ngf=4, n_layers=4)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    patch = pytest.MonkeyPatch()
    patch.setattr(constants, "HF_HUB_CACHE", str(cache))
    patch.setattr(constants, "HF_HUB_OFFLINE", False)
    patch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    yield cache
    patch.undo()


@pytest.fixture(scope="session")
def public_studio(tmp_path_factory, unreachable_hub):
    """A public studio (as a Space runs it) with three shared tiny models and room for six more: (url, registry)."""
    from ui.studio import make_public_registry, serve

    registry = make_public_registry(tmp_path_factory.mktemp("public"), max_user_models=9)
    app, url = serve(registry)
    yield url, registry
    app.close()


@pytest.fixture
def visitor(public_studio):
    """A new visitor of the public studio (a gradio_client Client has a session of its own)."""
    from gradio_client import Client

    return Client(public_studio[0], verbose=False)
