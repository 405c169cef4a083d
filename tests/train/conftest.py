"""Tiny training configs and random data for every GAN kind (seconds per run on 2 CPU cores)."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.train.config import FinetuneConfig

COUNT = 24


def _images(rng: np.random.Generator, channels: int) -> np.ndarray:
    return rng.random((COUNT, 32, 32, channels)).astype(np.float32)


def tiny_case(kind: str) -> tuple[FinetuneConfig, dict]:
    """A tiny config of ``kind`` (widths 4-8) and matching random training data."""
    rng = np.random.default_rng(0)
    common = {"kind": kind, "steps": 3, "batch_size": 4, "checkpoint_every": 2, "seed": 0}
    if kind == "dcgan":
        config = FinetuneConfig(arch={"nz": 8, "ngf": 4, "nc": 1, "n_layers": 4}, disc={"ndf": 4}, loss="bce",
                                ema_decay=0.9, r1_weight=1.0, **common)
        data = {"images": _images(rng, 1)}
    elif kind == "cgan":
        config = FinetuneConfig(arch={"nz": 8, "ngf": 4, "nc": 1, "n_layers": 4, "num_classes": 10, "embed_dim": 4},
                                disc={"ndf": 4}, loss="hinge", ema_decay=0.9, diff_augment=True, **common)
        data = {"images": _images(rng, 1), "labels": np.arange(COUNT) % 10}
    elif kind == "infogan":
        config = FinetuneConfig(arch={"nz": 4, "fc_dim": 8, "ngf": 4, "nc": 1, "base": 8}, disc={"ndf": 4, "fc_dim": 8},
                                loss="bce", lr_d=1e-4, ema_decay=0.9, **common)
        data = {"images": _images(rng, 1)}
    elif kind == "pix2pix":
        config = FinetuneConfig(arch={"num_downs": 5, "ngf": 4, "use_dropout": False}, disc={"ndf": 4, "n_layers": 2},
                                loss="bce", ema_decay=0.9, freeze_d_layers=1, **common)
        data = {"A": _images(rng, 3), "B": _images(rng, 3)}
    elif kind == "cyclegan":
        config = FinetuneConfig(arch={"ngf": 4, "n_blocks": 1}, disc={"ndf": 4, "n_layers": 2}, loss="lsgan", **common)
        data = {"A": _images(rng, 3), "B": _images(rng, 3)}
    elif kind == "stargan":
        config = FinetuneConfig(arch={"conv_dim": 4, "c_dim": 3, "repeat_num": 1}, disc={"conv_dim": 4, "repeat_num": 3},
                                loss="wgan", gp_weight=10.0, n_critic=2, **common)
        data = {"images": _images(rng, 3), "attributes": (rng.random((COUNT, 3)) > 0.5).astype(np.float32)}
    elif kind == "stargan_v2":
        config = FinetuneConfig(arch={"style_dim": 4, "latent_dim": 4, "num_domains": 3, "max_conv_dim": 16, "dim_in": 4},
                                betas=(0.0, 0.99), weight_decay=1e-4, r1_weight=1.0, ema_decay=0.9,
                                options={"ds_decay_steps": 100, "lr_mapping": 1e-5, "lambda_cycle": 10.0}, **common)
        data = {"images": _images(rng, 3), "domains": np.arange(COUNT) % 3}
    elif kind == "fast_style":
        config = FinetuneConfig(arch={"channels": 4, "n_residual": 1}, lr=1e-3, betas=(0.9, 0.999),
                                options={"lambda_tv": 1.0, "vgg": random_vgg_file()}, **common)
        data = {"images": _images(rng, 3), "style": rng.random((1, 24, 32, 3)).astype(np.float32)}
    else:
        raise ValueError(kind)
    return config, data


KINDS = ("dcgan", "cgan", "infogan", "pix2pix", "cyclegan", "stargan", "stargan_v2", "fast_style")


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


def random_vgg_file() -> str:
    """A random-weight VGG-19 in torchvision's layout, cut after relu4_3 (what the perceptual loss reads), made once."""
    import tempfile
    from pathlib import Path

    from support import save_random_vgg19

    global _VGG_FILE
    if _VGG_FILE is None or not Path(_VGG_FILE).is_file():
        _VGG_FILE = str(save_random_vgg19(Path(tempfile.mkdtemp()) / "vgg19-dcbb9e9d.pth", last_layer="relu4_3"))
    return _VGG_FILE


_VGG_FILE: str | None = None
