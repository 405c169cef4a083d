"""The built-in models read from PyPI packages give the packages' own pixels, by name, by path and from the CLI.

Each is compared with the package's own code on the same inputs: the generator class at the tensor level
(within 1e-4), and the package's own post-processing at the image level (within one grey level; they are
equal). Where a package converts to pixels differently from the official repos, the studio follows the package:

- gan-face-generate shows its one face through ``make_grid(normalize=True)`` (a min-max stretch of that image)
  and matplotlib, which truncates ``x * 255``. The plain ``(x + 1) / 2 * 255`` mapping differs by up to ~70
  grey levels on these faces (they rarely reach the ends of the tanh range).
- omniart-eye-generator truncates ``np.clip((x + 1) / 2 * 256, 0, 255)``: 256 where the usual mapping has 255.
- vintagify rounds (torchvision ``save_image``: ``* 255 + 0.5``), after resizing the shorter side to
  ``image_size + 30`` (bilinear) and centre-cropping ``image_size``.
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from support import REPO_ROOT, package_file

from ganstudio.cli import main
from ganstudio.registry import Registry, detect_model
from ganstudio.tasks.generate import generate, render_latents
from ganstudio.tasks.translate import translate

FACES = ("gan_face_generate", "weights.tar")
EYES = ("omniart_eye_generator", "generator_model_state.pth")
VINTAGE = ("vintagify", "resources/G_A2B_epoch33.pth")
EYE_CLASSES = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return Registry(user_dir=tmp_path_factory.mktemp("user"))


@pytest.fixture(autouse=True)
def _private_user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


# -- listed first, read from the packages -----------------------------------------------------------------

def test_the_package_models_come_first_in_their_pickers(registry):
    assert registry.names("generate")[:2] == ["faces-dcgan", "eyes-cgan"]
    assert registry.names("translate")[0] == "vintage-photo"
    assert registry.names()[:3] == ["faces-dcgan", "eyes-cgan", "vintage-photo"]
    assert registry.get("eyes-cgan").labels == EYE_CLASSES


def test_resolving_a_package_file_does_not_import_the_package():
    # omniart_eye_generator loads its weights (onto the GPU when there is one) on import; vintagify imports
    # torchvision and matplotlib, which are not installed with it.
    package_file(*EYES)
    script = (
        "import sys\n"
        "from ganstudio.registry import resolve_source\n"
        "for source in sys.argv[1:]:\n"
        "    assert resolve_source(source).is_file(), source\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('omniart_eye_generator', 'vintagify', "
        "'gan_face_generate', 'torchvision')))\n"
    )
    sources = [f"package://{package}/{inner}" for package, inner in (FACES, EYES, VINTAGE)]
    result = subprocess.run([sys.executable, "-c", script, *sources], capture_output=True, text=True, cwd=REPO_ROOT,
                            check=True, timeout=120)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("package", "arch", "tasks"), [(FACES, "dcgan", ("generate",)), (EYES, "cdcgan", ("generate",)),
                                                        (VINTAGE, "vintagify_resnet", ("translate",))])
def test_each_package_file_is_recognised_by_path(package, arch, tasks):
    entry = detect_model(package_file(*package))
    assert (entry.arch, entry.tasks) == (arch, tasks)


# -- faces: gan-face-generate -----------------------------------------------------------------------------

def test_faces_match_the_package_generator(registry):
    from gan_face_generate.models import Generator

    checkpoint = torch.load(package_file(*FACES), map_location="cpu", weights_only=True)
    package_generator = Generator(0, 3, 100, 64)
    package_generator.load_state_dict(checkpoint["netG_state_dict"])  # as its inference.py does
    package_generator.eval()
    model = registry.load("faces-dcgan")
    torch.manual_seed(0)
    z = torch.randn(8, 100, 1, 1)
    with torch.no_grad():
        expected = package_generator(z).numpy()
    assert np.abs(model.network("G")(z.numpy()) - expected).max() <= 1e-4


def test_a_face_has_the_pixels_of_the_package_command(registry, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from gan_face_generate import inference, models

    # `gan_face_generate -s face.png`: it seeds torch with random.randint(1, 10000), builds its Generator
    # (which draws from torch's generator), then draws one z.
    seed = 7
    monkeypatch.setattr(random, "randint", lambda low, high: seed)
    monkeypatch.setattr(sys, "argv", ["gan_face_generate", "-s", str(tmp_path / "face.png")])
    plt.close("all")
    inference.main()
    shown = plt.gcf().axes[0].images[0]
    expected = shown.to_rgba(shown.get_array(), bytes=True)[..., :3]  # what matplotlib paints, before scaling to the figure
    plt.close("all")
    torch.manual_seed(seed)
    models.Generator(1, 3, 100, 64)
    z = torch.randn(1, 100, 1, 1)
    face = render_latents(registry.load("faces-dcgan"), z.numpy().reshape(1, 100))[0]
    assert face.size == (64, 64)
    assert np.abs(pixels(face) - expected).max() <= 1


def test_generated_faces_are_stretched_per_image_like_the_package_shows_them(registry):
    result = generate(registry.load("faces-dcgan"), seed=3, num_images=4)
    for face in result.images:
        channels = pixels(face)
        assert channels.min() == 0 and channels.max() == 255


# -- eyes: omniart-eye-generator ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def eye_package():
    """The package's eye_generator module. Its import loads the weights with a bare torch.load; they were saved
    from CUDA tensors, so without a GPU the package cannot even be imported: the load is mapped to the CPU."""
    package_file(*EYES)
    real_load = torch.load
    torch.load = functools.partial(real_load, map_location="cpu")
    try:
        from omniart_eye_generator import eye_generator
    finally:
        torch.load = real_load
    return eye_generator


def test_eyes_match_the_package_generator_for_every_class(registry, eye_package):
    model = registry.load("eyes-cgan")
    torch.manual_seed(1)
    noise = torch.randn(8, 100, 1, 1)
    one_hot = torch.eye(8)
    with torch.no_grad():
        expected = eye_package.generator(noise.to(eye_package.device), one_hot.to(eye_package.device)).cpu().numpy()
    assert np.abs(model.network("G")(noise.numpy(), np.arange(8, dtype=np.int64)) - expected).max() <= 1e-4


@pytest.mark.parametrize("colour", ["blue", "hazel", "red"])
def test_an_eye_has_the_pixels_of_the_package_generate_eye(registry, eye_package, colour):
    # generate_eye draws its noise first: torch.randn(eye_count, 100, 1, 1)
    torch.manual_seed(11)
    expected = eye_package.generate_eye(colour, eye_count=3)
    torch.manual_seed(11)
    noise = torch.randn(3, 100, 1, 1).numpy().reshape(3, 100)
    model = registry.load("eyes-cgan")
    eyes = render_latents(model, noise, model.labels.index(colour))
    for eye, reference in zip(eyes, expected, strict=True):
        assert eye.size == (128, 128)
        assert np.abs(pixels(eye) - pixels(reference)).max() <= 1


def test_an_eye_by_colour_name_through_the_generate_task(registry):
    result = generate(registry.load("eyes-cgan"), seed=5, num_images=2, label="green")
    assert result.label == EYE_CLASSES.index("green") and [eye.size for eye in result.images] == [(128, 128)] * 2


# -- vintage photos: vintagify ------------------------------------------------------------------------------

VINTAGE_SIZE = 256  # the package's image_size option; its default is 512, four times the CPU time


@pytest.fixture(scope="module")
def vintage_runs(tmp_path_factory):
    """skimage's astronaut (512x512) and chelsea (451x300, enlarged to 500 px high: the package refuses smaller
    photos) through the package's own ``inference_image``, with the tensor it saves captured."""
    from skimage import data

    package_file(*VINTAGE)
    import vintagify.inference

    folder = tmp_path_factory.mktemp("vintage")
    chelsea = Image.fromarray(data.chelsea())
    photos = {"astronaut": Image.fromarray(data.astronaut()),
              "chelsea": chelsea.resize((round(chelsea.width * 500 / chelsea.height), 500), Image.BICUBIC)}
    saved = {}
    real_save_image, real_show = vintagify.inference.save_image, vintagify.inference.plt.show

    def capture(tensor, path):
        saved[path] = tensor.clone()
        real_save_image(tensor, path)

    vintagify.inference.save_image = capture
    vintagify.inference.plt.show = lambda: None
    try:
        runs = {}
        for name, photo in photos.items():
            photo.save(folder / f"{name}.png")
            output = str(folder / f"{name}-vintage.png")
            vintagify.inference.inference_image(str(folder / f"{name}.png"), str(package_file(*VINTAGE)), output,
                                                direction="A2B", image_size=VINTAGE_SIZE)
            runs[name] = {"photo": photo, "path": str(folder / f"{name}.png"), "tensor": saved[output],
                          "image": Image.open(output).convert("RGB")}
    finally:
        vintagify.inference.save_image, vintagify.inference.plt.show = real_save_image, real_show
        vintagify.inference.plt.close("all")
    return runs


def package_crop(photo: Image.Image, size: int) -> Image.Image:
    """preprocess.py's Resize(size + 30) and CenterCrop(size), before ToTensor and Normalize."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(size + 30), transforms.CenterCrop(size)])(photo)


@pytest.fixture(scope="module")
def vintage_model(registry):
    """The built-in vintage-photo entry, at the size of the package run (its short side is otherwise 512)."""
    entry = registry.get("vintage-photo")
    # another name: the registry caches a model by name, not by its conventions
    return registry.load(entry.with_updates(name=f"vintage-photo-{VINTAGE_SIZE}",
                                            preprocessing={**entry.preprocessing, "short_side": VINTAGE_SIZE}))


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_vintage_matches_the_package_generator_on_photos(vintage_model, vintage_runs, name):
    from vintagify.preprocess import preprocess

    from ganstudio import images

    run = vintage_runs[name]
    array = images.image_to_array(package_crop(run["photo"], VINTAGE_SIZE), vintage_model.preprocessing["input_range"])
    assert np.array_equal(array, preprocess(run["path"], image_size=VINTAGE_SIZE).numpy())  # the same network input
    output = vintage_model.network("G")(array)
    assert np.abs((output + 1.0) / 2.0 - run["tensor"].numpy()).max() <= 1e-4


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_vintage_photo_has_the_pixels_the_package_saves(vintage_model, vintage_runs, name):
    run = vintage_runs[name]
    crop = package_crop(run["photo"], VINTAGE_SIZE)
    result = translate(vintage_model, crop)
    assert result.size == crop.size == (VINTAGE_SIZE, VINTAGE_SIZE)
    assert np.abs(pixels(result) - pixels(run["image"])).max() <= 1


def test_vintage_photo_works_at_512_on_the_shorter_side_and_keeps_the_whole_photo(registry, chelsea):
    from ganstudio.tasks.common import prepare_image

    model = registry.load("vintage-photo")
    prepared = prepare_image(model, chelsea)
    assert prepared.array.shape == (1, 3, 512, 772) and prepared.resampled  # 451x300 -> 770x512 -> multiples of 4
    square = Image.new("RGB", (512, 512))
    assert not prepare_image(model, square).resampled  # the package's own 512 px crop goes through untouched


# -- the command line, by path ------------------------------------------------------------------------------

def _run_json(capsys, args: list[str]) -> tuple[int, dict]:
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_cli_generates_faces_and_eyes_from_the_package_files(capsys, tmp_path):
    code, result = _run_json(capsys, ["generate", "--model", str(package_file(*FACES)), "--seed", "3", "--count", "2",
                                      "--output", str(tmp_path / "faces")])
    assert code == 0 and result["arch"] == "dcgan"
    assert [Image.open(path).size for path in result["outputs"]] == [(64, 64)] * 2
    code, result = _run_json(capsys, ["generate", "--model", str(package_file(*EYES)), "--seed", "3", "--label", "1",
                                      "--output", str(tmp_path / "eye.png")])
    assert code == 0 and result["arch"] == "cdcgan" and result["label"] == 1
    assert Image.open(tmp_path / "eye.png").size == (128, 128)
    code, result = _run_json(capsys, ["generate", "--model", "eyes-cgan", "--seed", "3", "--label", "blue",
                                      "--output", str(tmp_path / "blue.png")])
    assert code == 0 and result["label"] == 1
    assert np.array_equal(pixels(Image.open(tmp_path / "blue.png")), pixels(Image.open(tmp_path / "eye.png")))


def test_cli_translates_with_the_package_file(capsys, tmp_path, chelsea):
    chelsea.save(tmp_path / "chelsea.png")
    code, result = _run_json(capsys, ["translate", "--model", str(package_file(*VINTAGE)), "--input", str(tmp_path / "chelsea.png"),
                                      "--max-side", "128", "--output", str(tmp_path / "old.png")])
    assert code == 0 and result["arch"] == "vintagify_resnet"
    assert Image.open(tmp_path / "old.png").size == chelsea.size
