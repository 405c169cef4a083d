"""Generator inputs made as the official scripts make them, with NumPy only (no torch).

A seed must name the same image with PyTorch and with ONNX Runtime, and the ONNX path never
imports torch, so the random streams of the official scripts are replayed here in NumPy:

- ``seed_rule="studio"`` is ``ganstudio.images.latents_from_seeds`` (NumPy PCG64, one stream per seed);
- ``"nvlabs"``: ``np.random.RandomState(seed).randn(1, z_dim)`` (gen_images.py, generate.py and
  style_mixing.py of NVlabs/stylegan2-ada-pytorch and NVlabs/stylegan3);
- ``"rosinality"``: ``torch.manual_seed(seed); torch.randn(1, style_dim)`` on the CPU, replayed by
  ``TorchCPURandom`` (rosinality's generate.py draws unseeded on CUDA; the CPU stream is the one a
  seed can name).

Also here: StyleGAN3's input transform (gen_images.py's ``--translate``/``--rotate``), which a
task computes without importing the architecture. The architecture modules re-export what is theirs.
"""

from __future__ import annotations

import math

import numpy as np

SEED_RULES = ("studio", "nvlabs", "rosinality")
# StyleGAN2's noise modes as the (stored, fresh) weights its synthesis entry points take per sample.
NOISE_WEIGHTS = {"const": (1.0, 0.0), "random": (0.0, 1.0), "none": (0.0, 0.0)}
NOISE_MODES = tuple(NOISE_WEIGHTS)


class TorchCPURandom:
    """``torch.manual_seed(seed)`` then ``torch.randn(...)`` calls on the CPU, replayed with NumPy.

    torch's CPU generator is the standard MT19937 seeded like NumPy's legacy ``RandomState(seed)``.
    ``randn`` of 16 values or more turns 24-bit uniform floats into normals 16 at a time (Box-Muller,
    float32, the last 16 recomputed from fresh draws when the count is not a multiple of 16); fewer
    than 16 values come one at a time from double-precision Box-Muller, the second value of each pair
    kept for the next draw. Equal to torch up to the last bits of its vectorised log/sin/cos (<= 5e-7).
    """

    def __init__(self, seed: int):
        self._mt = np.random.RandomState(int(seed) & 0xFFFFFFFF)
        self._cached_normal: float | None = None

    def randn(self, *shape: int) -> np.ndarray:
        """The float32 array ``torch.randn(*shape)`` would give next."""
        count = int(np.prod(shape))
        if count < 16:
            return np.array([self._normal_double() for _ in range(count)], dtype=np.float32).reshape(shape)
        data = self._uniform_floats(count)
        for start in range(0, count - 15, 16):
            data[start:start + 16] = self._box_muller_16(data[start:start + 16])
        if count % 16:
            data[count - 16:] = self._box_muller_16(self._uniform_floats(16))
        return data.reshape(shape)

    def _uniform_floats(self, count: int) -> np.ndarray:
        raw = self._mt.randint(0, 2**32, size=count, dtype=np.uint32)
        return (raw & np.uint32(0xFFFFFF)).astype(np.float32) * np.float32(2.0**-24)

    @staticmethod
    def _box_muller_16(block: np.ndarray) -> np.ndarray:
        u1 = np.float32(1) - block[:8]  # [0, 1) -> (0, 1] for the log
        radius = np.sqrt(np.float32(-2) * np.log(u1))
        theta = np.float32(2.0 * np.pi) * block[8:]
        return np.concatenate([radius * np.cos(theta), radius * np.sin(theta)])

    def _normal_double(self) -> float:
        if self._cached_normal is not None:
            value, self._cached_normal = self._cached_normal, None
            return value
        u1, u2 = self._uniform_double(), self._uniform_double()
        radius = math.sqrt(-2.0 * math.log1p(-u2))
        theta = 2.0 * math.pi * u1
        self._cached_normal = radius * math.sin(theta)
        return radius * math.cos(theta)

    def _uniform_double(self) -> float:
        high, low = (int(v) for v in self._mt.randint(0, 2**32, size=2, dtype=np.uint32))
        return ((high << 32 | low) & ((1 << 53) - 1)) * 2.0**-53


def nvlabs_z(seed: int, z_dim: int) -> np.ndarray:
    """``np.random.RandomState(seed).randn(1, z_dim)``: float64 ``(1, z_dim)``, as the NVlabs scripts draw it."""
    return np.random.RandomState(seed).randn(1, z_dim)


def rosinality_z(seed: int, style_dim: int, n: int = 1) -> np.ndarray:
    """``torch.manual_seed(seed); torch.randn(n, style_dim)`` on the CPU, as float32 ``(n, style_dim)``, without torch."""
    return TorchCPURandom(seed).randn(n, style_dim)


def generate_py_latents(seed: int, style_dim: int, truncation_mean: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """rosinality generate.py's draws for a file without ``latent_avg``, after ``torch.manual_seed(seed)``.

    Returns ``(mean_z, z)``: the ``(truncation_mean, style_dim)`` latents that ``g_ema.mean_latent``
    draws FIRST, then the sample's ``(1, style_dim)`` z. The truncation latent is the mapping's
    mean over ``mean_z``.
    """
    rng = TorchCPURandom(seed)
    mean_z = rng.randn(truncation_mean, style_dim)
    return mean_z, rng.randn(1, style_dim)


def seed_latent(seed: int, size: int, rule: str) -> np.ndarray:
    """The ``(1, size)`` float32 latent a seed names under a ``LatentSpec.seed_rule`` other than "studio".

    NVlabs' float64 draw is rounded to float32 here, as their mapping network does first.

    Raises:
        ValueError: an unknown rule, or "studio" (``ganstudio.images.latents_from_seeds`` draws those).
    """
    if rule == "nvlabs":
        return nvlabs_z(seed, size).astype(np.float32)
    if rule == "rosinality":
        return rosinality_z(seed, size)
    raise ValueError(f"seed rule must be 'nvlabs' or 'rosinality' here, not {rule!r}.")


def noise_weights(mode: str, batch: int) -> np.ndarray:
    """The ``(batch, 2)`` float32 noise input of a StyleGAN2 synthesis entry point for a noise mode.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in NOISE_WEIGHTS:
        raise ValueError(f"noise mode must be one of {', '.join(NOISE_MODES)}, not {mode!r}.")
    return np.tile(np.asarray(NOISE_WEIGHTS[mode], dtype=np.float32), (batch, 1))


def class_labels(class_index: int | None, c_dim: int, batch: int = 1) -> np.ndarray:
    """The one-hot ``(batch, c_dim)`` float32 label the NVlabs scripts pass (``(batch, 0)`` for an unconditional network).

    Raises:
        ValueError: a class index out of range, or none for a conditional network.
    """
    label = np.zeros([batch, c_dim], dtype=np.float32)
    if c_dim == 0:
        return label
    if class_index is None or not 0 <= class_index < c_dim:
        raise ValueError(f"a conditional network needs a class index in 0..{c_dim - 1}, not {class_index!r}.")
    label[:, class_index] = 1
    return label


def make_transform(translate: tuple[float, float], angle: float) -> np.ndarray:
    """StyleGAN3 gen_images.py's ``make_transform``: rotation by ``angle`` degrees and translation, float64 3x3."""
    m = np.eye(3)
    s = np.sin(angle / 360.0 * np.pi * 2)
    c = np.cos(angle / 360.0 * np.pi * 2)
    m[0][0] = c
    m[0][1] = s
    m[0][2] = translate[0]
    m[1][0] = -s
    m[1][1] = c
    m[1][2] = translate[1]
    return m


def input_transform(translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0) -> np.ndarray:
    """What gen_images.py copies into ``synthesis.input.transform``: ``inv(make_transform(translate, rotate))``, float32."""
    return np.linalg.inv(make_transform(translate, rotate)).astype(np.float32)
