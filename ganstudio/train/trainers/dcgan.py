"""DCGAN and the class-conditional GAN (projection discriminator) trainers."""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch
from PIL import Image
from torch import nn

from ganstudio.models import cgan, dcgan
from ganstudio.train.config import FinetuneConfigError
from ganstudio.train.kinds import DataLayout
from ganstudio.train.losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
)
from ganstudio.train.trainers.base import (
    TrainData,
    Trainer,
    check_images,
    config_from,
    images_to_tensor,
    recalibrate_batchnorm,
    tensor_to_image,
)


class DCGANTrainer(Trainer):
    """DCGAN (Radford et al.): the official generator and discriminator, trained on logits."""

    kind = "dcgan"
    arch = dcgan
    data = DataLayout("images")

    def build(self) -> None:
        cfg = self.config
        self.g_config = config_from(self.arch, cfg.arch)
        if self.arch.output_size(self.g_config) != cfg.image_size:
            raise FinetuneConfigError(
                f"{self.arch.SPEC.arch} with n_layers={self.g_config.n_layers} makes "
                f"{self.arch.output_size(self.g_config)}-pixel images, not image_size {cfg.image_size}."
            )
        generator = self.arch.build(self.g_config)
        discriminator = self.arch.build_discriminator(self.g_config, ndf=int(cfg.disc.get("ndf", 64)))
        generator.apply(dcgan.weights_init)
        discriminator.apply(dcgan.weights_init)
        self.init_discriminator_head(discriminator)  # on the CPU still: the same weights on every device
        self.set_generator_and_discriminator(generator, discriminator)

    def init_discriminator_head(self, discriminator: nn.Module) -> None:
        """DCGAN's discriminator is all convolutions: weights_init covers it."""

    def prepare_data(self, data: TrainData) -> None:
        self.images = images_to_tensor(data["images"])
        check_images("images", self.images, self.config, self.g_config.nc)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        # The official D ends with a Sigmoid (for BCELoss); the losses here take logits.
        return self.nets["D"].main[:-1](self.augment(images)).view(-1)

    def generate(self, net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return net(z)

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = self.random_indices(len(self.images), generator, self.config.batch_size * self.config.n_critic)
        return {"images": self.images[index]}

    def fake_labels(self, count: int) -> torch.Tensor | None:
        return None

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg, generator = self.config, self.nets["G"]
        nz = self.g_config.nz
        reals = batch["images"].split(cfg.batch_size)
        real_labels = batch["labels"].split(cfg.batch_size) if "labels" in batch else [None] * len(reals)
        for real, labels in zip(reals, real_labels, strict=True):
            fake_labels = self.fake_labels(len(real))
            with torch.no_grad():
                fake = self.generate(generator, self.randn(len(real), nz, 1, 1), fake_labels)
            real = real.detach().requires_grad_(cfg.r1_weight > 0)
            real_logits = self.discriminate(real, labels)
            loss_d = discriminator_loss(real_logits, self.discriminate(fake, fake_labels), cfg.loss)
            if cfg.r1_weight:
                loss_d = loss_d + cfg.r1_weight * r1_penalty(real_logits, real)
            if cfg.gp_weight:
                critic = functools.partial(self.discriminate, labels=labels)  # real and mixed share labels
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(critic, real, fake)
            self.step_optimizer(loss_d, "D")

        fake_labels = self.fake_labels(cfg.batch_size)
        fake = self.generate(generator, self.randn(cfg.batch_size, nz, 1, 1), fake_labels)
        loss_g = generator_loss(self.discriminate(fake, fake_labels), cfg.loss)
        self.step_optimizer(loss_g, "G")
        self.update_ema(step)
        return {"D": loss_d.item(), "G": loss_g.item()}

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        return {"z": torch.randn(count * count, self.g_config.nz, 1, 1, generator=generator, device="cpu")}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        net = self.final_generator().eval()
        return [tensor_to_image(image) for image in self.generate(net, fixed["z"], fixed.get("labels"))]

    def calibration_inputs(self) -> list[tuple[torch.Tensor, ...]]:
        generator = torch.Generator().manual_seed(self.config.seed + 3)
        size = 4 * self.config.batch_size
        return [(torch.randn(size, self.g_config.nz, 1, 1, generator=generator, device="cpu"),) for _ in range(4)]

    def final_generator(self) -> nn.Module:
        """A copy of the generator as exported: the EMA weights with BatchNorm statistics of their own."""
        net = copy.deepcopy(self.inference_net("G"))
        if self.ema:
            recalibrate_batchnorm(net, self.calibration_inputs())
        return net

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        net = self.final_generator() if calibrate else self.inference_net("G")
        return {"G": net.state_dict()}

    def arch_config(self):
        return self.g_config


class CGANTrainer(DCGANTrainer):
    """Class-conditional DCGAN with a projection discriminator (Miyato & Koyama 2018)."""

    kind = "cgan"
    arch = cgan
    data = DataLayout("per_class", label_key="labels", unit="class")

    def init_discriminator_head(self, discriminator: nn.Module) -> None:
        # The projection head as in SNGAN's code: Xavier-uniform (Embedding's default N(0, 1) gives huge logits).
        nn.init.xavier_uniform_(discriminator.embed.weight)
        nn.init.xavier_uniform_(discriminator.linear.weight)
        nn.init.zeros_(discriminator.linear.bias)

    def prepare_data(self, data: TrainData) -> None:
        super().prepare_data(data)
        self.labels = torch.as_tensor(np.asarray(data["labels"]), dtype=torch.long)
        classes = self.g_config.num_classes
        if len(self.labels) != len(self.images) or self.labels.min() < 0 or self.labels.max() >= classes:
            raise FinetuneConfigError(f"cgan needs one label in 0..{classes - 1} per image.")

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["D"](self.augment(images), labels)

    def generate(self, net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return net(z, labels)

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = self.random_indices(len(self.images), generator, self.config.batch_size * self.config.n_critic)
        return {"images": self.images[index], "labels": self.labels[index]}

    def fake_labels(self, count: int) -> torch.Tensor:
        return self.randint(self.g_config.num_classes, count)

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        # One row per class, the same z along each column.
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        classes = self.g_config.num_classes
        z = torch.randn(count, self.g_config.nz, 1, 1, generator=generator, device="cpu")
        return {"z": z.repeat(classes, 1, 1, 1), "labels": torch.arange(classes, device="cpu").repeat_interleave(count)}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        images = super().sample(fixed)
        per_row = len(images) // self.g_config.num_classes
        rows = []
        for start in range(0, len(images), per_row):
            row = Image.new("RGB", (per_row * images[0].width, images[0].height))
            for column, image in enumerate(images[start : start + per_row]):
                row.paste(image, (column * image.width, 0))
            rows.append(row)
        return rows

    def calibration_inputs(self) -> list[tuple[torch.Tensor, ...]]:
        generator = torch.Generator().manual_seed(self.config.seed + 3)
        size = 4 * self.config.batch_size
        return [
            (torch.randn(size, self.g_config.nz, 1, 1, generator=generator, device="cpu"),
             torch.randint(0, self.g_config.num_classes, (size,), generator=generator, device="cpu"))
            for _ in range(4)
        ]
