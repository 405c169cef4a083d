"""The judges of the evaluation: a digit classifier and a CycleGAN domain classifier, trained here and cached.

The digit classifier reads the stroke-intensity map (max over RGB, 32x32) of a digit, so it
judges identity whatever the colour. It is trained on the "train" split only, each digit drawn
several times with random attributes (colour, thickness, slant, small shifts, a little blur),
so coloured, thick and slanted digits read as well as plain ones. The "test" split stays held
out for its accuracy and for the real-digit statistics the models are compared with.

The domain classifier tells CycleGAN's two domains apart (plain digits vs neon on texture)
from RGB, trained on renders of train digits in both domains.

The emoji classifier (``ganstudio.eval.emoji``) reads the category of an emoji (``EMOJI_CATEGORIES``) from
RGB at 32x32; it is trained on the train split of the vendors the emoji models learn from.

Training is seeded and small (about a minute on two CPU cores). The weights are cached as
safetensors in ``$GANSTUDIO_HOME/eval`` (``~/.cache/ganstudio/eval``), under a hash of the
training settings and of the training data, so a second evaluation loads instead of training.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from torch.nn import functional as F

from ganstudio.errors import GanStudioError
from ganstudio.files import atomic_path

logger = logging.getLogger(__name__)

# Bump when the network or the augmentation changes in a way the settings do not show.
FORMAT_VERSION = 1


# -- network --------------------------------------------------------------------------------

def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """32x32 in, ``num_classes`` logits out; ``features`` is the penultimate layer (``feature_dim`` values)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            conv_block(in_channels, width), nn.MaxPool2d(2),                          # 16x16
            conv_block(width, 2 * width), conv_block(2 * width, 2 * width), nn.MaxPool2d(2),  # 8x8
            conv_block(2 * width, 4 * width), nn.MaxPool2d(2),                         # 4x4
        )
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(4 * width * 16, feature_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


EMOJI_CATEGORIES = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
                    "Activities", "Objects", "Symbols", "Flags")  # emoji.json's, without the few "Component"s


# -- settings and caching -----------------------------------------------------------------------

@dataclass(frozen=True)
class ClassifierConfig:
    """Training settings; together with the training data they name the cached weights."""

    kind: Literal["digit", "domain", "emoji"] = "digit"
    steps: int = 1200
    batch_size: int = 64
    lr: float = 3e-3
    width: int = 12
    feature_dim: int = 128
    copies: int = 4  # augmented renders of each train digit (the plain digit is always kept too)
    seed: int = 0

    def cache_key(self, data_fingerprint: str) -> str:
        text = json.dumps({**asdict(self), "data": data_fingerprint, "version": FORMAT_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


DIGIT_CONFIG = ClassifierConfig()
DOMAIN_CONFIG = ClassifierConfig(kind="domain", steps=150, copies=1, width=8, feature_dim=32)


def default_cache_dir() -> Path:
    """``$GANSTUDIO_HOME/eval``, else ``~/.cache/ganstudio/eval``."""
    from ganstudio.registry import default_user_dir

    return default_user_dir() / "eval"


class Classifier:
    """A trained ``SmallCNN`` in eval mode, called on numpy images.

    Digit classifiers take (N, 32, 32, 3) or (N, 32, 32) images in 0..1 and read their
    intensity map; domain classifiers take (N, 32, 32, 3) RGB.
    """

    def __init__(self, network: SmallCNN, config: ClassifierConfig):
        self.network = network.eval()
        self.config = config

    def _inputs(self, images: np.ndarray) -> torch.Tensor:
        images = np.asarray(images, dtype=np.float32)
        if self.config.kind == "digit":
            maps = images.max(axis=-1) if images.ndim == 4 else images
            return torch.from_numpy(np.ascontiguousarray(maps[:, None]))
        return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))

    def _run(self, images: np.ndarray, *, what: Literal["probabilities", "features"], batch: int = 500) -> np.ndarray:
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(images), batch):
                x = self._inputs(images[start:start + batch])
                if what == "features":
                    outputs.append(self.network.features(x).numpy())
                else:
                    outputs.append(F.softmax(self.network(x), dim=1).numpy())
        return np.concatenate(outputs).astype(np.float64)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, N x num_classes."""
        return self._run(images, what="probabilities")

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The most likely class of each image."""
        return self.probabilities(images).argmax(axis=1)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate-layer activations, N x feature_dim (the space of the Fréchet distance)."""
        return self._run(images, what="features")


def load_or_train(config: ClassifierConfig = DIGIT_CONFIG, *, cache_dir: str | os.PathLike | None = None) -> Classifier:
    """The classifier for ``config``: from the cache when it was trained before, else trained now and cached."""
    from ganstudio.train import datasets

    # The renders follow from the digits, the seed and this module's code (FORMAT_VERSION).
    digits = datasets.load_digits("train")
    return load_or_train_on(config, fingerprint(*digits), lambda: training_data(config), cache_dir=cache_dir)


def load_or_train_on(config: ClassifierConfig, data_fingerprint: str,
                     make_data: Callable[[], tuple[np.ndarray, np.ndarray]], *,
                     cache_dir: str | os.PathLike | None = None) -> Classifier:
    """As ``load_or_train``, for any training set: ``make_data`` is called only when nothing is cached under
    ``config`` and ``data_fingerprint``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    key = config.cache_key(data_fingerprint)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{config.kind}-classifier-{key}.safetensors"
    network = build_network(config)
    if path.is_file():
        try:
            network.load_state_dict(load_file(str(path)), strict=True)
            return Classifier(network, config)
        except (SafetensorError, OSError, RuntimeError) as error:  # damaged file; tensors that do not fit
            logger.warning("cached classifier %s is unreadable (%s); training it again", path, error)
            network = build_network(config)
    logger.info("training the %s classifier once (%d steps, a few minutes); it is cached in %s", config.kind, config.steps, path)
    network = train_network(config, *make_data())
    state = {k: v.detach().contiguous().clone() for k, v in network.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"config": json.dumps(asdict(config), sort_keys=True)})
    return Classifier(network, config)


def build_network(config: ClassifierConfig) -> SmallCNN:
    if config.kind == "digit":
        return SmallCNN(1, 10, config.width, config.feature_dim)
    if config.kind == "emoji":
        return SmallCNN(3, len(EMOJI_CATEGORIES), config.width, config.feature_dim)
    return SmallCNN(3, 2, config.width, config.feature_dim)


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


# -- data -----------------------------------------------------------------------------------------

def training_data(config: ClassifierConfig) -> tuple[np.ndarray, np.ndarray]:
    """The training images and labels: (N, 32, 32) intensity maps and digits, or (N, 32, 32, 3) RGB and domains.

    Raises:
        GanStudioError: the train split lacks some digit (the classifier could not learn it).
    """
    from ganstudio.train import datasets

    digits, labels = datasets.load_digits("train")
    missing = sorted(set(range(10)) - set(np.unique(labels).tolist()))
    if missing:
        raise GanStudioError(
            f"the 'train' split has no examples of digit(s) {missing}; a classifier trained on it cannot read them. "
            "Fix the split in ganstudio/train/datasets.py (e.g. stratify it by class)."
        )
    rng = np.random.default_rng(config.seed)
    if config.kind == "domain":
        half = len(digits) // 2
        plain = [datasets.cyclegan_a(digit) for digit in digits[:half]]
        neon = [datasets.cyclegan_b(digit, rng) for digit in digits[half:]]
        return np.stack(plain + neon).astype(np.float32), np.repeat([0, 1], [half, len(digits) - half]).astype(np.int64)
    maps = [digits]
    for _ in range(config.copies):
        maps.append(np.stack([random_attributes(digit, rng) for digit in digits]))
    return np.concatenate(maps).astype(np.float32), np.tile(labels, config.copies + 1).astype(np.int64)


def random_attributes(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The intensity map of ``digit`` drawn with random attributes, as the generators of the spec draw them.

    Deskewed half the time, then sheared (-0.5..0.5) or not, thickened 0-2 times, coloured (white,
    red, or a random hue at saturation 0.6-1, some dimmed), shifted by up to 2 px, sometimes blurred.
    """
    from ganstudio.train import datasets

    image = datasets.deskew(digit) if rng.random() < 0.5 else digit
    if rng.random() < 0.6:
        image = datasets.shear(image, float(rng.uniform(-0.5, 0.5)))
    steps = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
    if steps:
        image = datasets.thicken(image, steps)
    choice = rng.random()
    if choice < 0.3:
        color = datasets.WHITE
    elif choice < 0.5:
        color = datasets.RED
    else:
        color = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
    intensity = datasets.to_rgb(image, color).max(axis=-1)
    shift = rng.integers(-2, 3, size=2)
    intensity = ndimage.shift(intensity, shift, order=0, mode="constant")
    if rng.random() < 0.2:
        intensity = ndimage.gaussian_filter(intensity, float(rng.uniform(0.4, 0.8)))
    return np.clip(intensity, 0.0, 1.0).astype(np.float32)


# -- training -------------------------------------------------------------------------------------

def train_network(config: ClassifierConfig, images: np.ndarray, labels: np.ndarray) -> SmallCNN:
    """AdamW with a one-cycle schedule over ``config.steps`` seeded mini-batches; random 1 px jitter per batch.

    Runs on one CPU thread: batches this small gain little from more, a busy machine makes
    extra threads much slower (they wait on each other), and one thread gives the same weights
    on every machine.
    """
    with torch_threads(1):
        return _train(config, images, labels)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads (None: leave torch's choice), then restore the old count."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train(config: ClassifierConfig, images: np.ndarray, labels: np.ndarray) -> SmallCNN:
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    network = build_network(config).train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(config.steps, 1))
    x_all = torch.from_numpy(images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2).copy())
    y_all = torch.from_numpy(labels)
    for _ in range(config.steps):
        index = torch.randint(len(x_all), (config.batch_size,), generator=generator)
        x = x_all[index]
        dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=generator))
        x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        loss = F.cross_entropy(network(x), y_all[index], label_smoothing=0.05)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return network.eval()
