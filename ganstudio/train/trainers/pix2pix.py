"""pix2pix trainer: U-Net generator, conditional PatchGAN, GAN + L1 losses."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganstudio.models import patchgan, pix2pix_unet
from ganstudio.train.config import FinetuneConfigError
from ganstudio.train.kinds import DataLayout
from ganstudio.train.losses import discriminator_loss, generator_loss, r1_penalty
from ganstudio.train.trainers.base import (
    TrainData,
    Trainer,
    check_images,
    config_from,
    freeze_first_layers,
    image_row,
    images_to_tensor,
    normal_init,
    recalibrate_batchnorm,
)


@dataclass(frozen=True)
class Pix2PixOptions:
    """The paper's weight of the L1 term."""

    lambda_l1: float = 100.0


class Pix2PixTrainer(Trainer):
    """pix2pix (Isola et al.): U-Net generator, conditional PatchGAN, GAN loss + lambda_l1 * L1."""

    kind = "pix2pix"
    arch = pix2pix_unet
    data = DataLayout("paired")
    Options = Pix2PixOptions
    not_inferable = ("use_dropout",)

    def build(self) -> None:
        cfg = self.config
        if cfg.n_critic != 1:
            raise FinetuneConfigError("pix2pix trains with n_critic=1.")
        self.g_config = config_from(self.arch, cfg.arch)
        if cfg.image_size % self.arch.size_multiple(self.g_config):
            raise FinetuneConfigError(
                f"a U-Net with num_downs={self.g_config.num_downs} needs image_size a multiple of "
                f"{self.arch.size_multiple(self.g_config)}, not {cfg.image_size}."
            )
        generator = self.arch.build(self.g_config)
        d_config = patchgan.Config(
            input_nc=self.g_config.input_nc + self.g_config.output_nc,
            ndf=int(cfg.disc.get("ndf", 64)),
            n_layers=int(cfg.disc.get("n_layers", 3)),
            norm=cfg.disc.get("norm", self.g_config.norm),
        )
        discriminator = patchgan.build(d_config)
        normal_init(generator)
        normal_init(discriminator)
        self.set_generator_and_discriminator(generator, discriminator)

    def prepare_data(self, data: TrainData) -> None:
        self.inputs, self.targets = images_to_tensor(data["A"]), images_to_tensor(data["B"])
        check_images("A", self.inputs, self.config, self.g_config.input_nc)
        check_images("B", self.targets, self.config, self.g_config.output_nc)
        if len(self.inputs) != len(self.targets):
            raise FinetuneConfigError(f"pix2pix needs pairs: {len(self.inputs)} inputs but {len(self.targets)} targets.")

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = self.random_indices(len(self.inputs), generator)
        return {"A": self.inputs[index], "B": self.targets[index]}

    def discriminate(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        # Conditional D: it sees the input and the (real or generated) output together.
        return self.nets["D"](self.augment(torch.cat([condition, image], dim=1)))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg = self.config
        real_a, real_b = batch["A"], batch["B"]
        fake_b = self.nets["G"](real_a)

        real_pair = torch.cat([real_a, real_b], dim=1).requires_grad_(cfg.r1_weight > 0)
        real_logits = self.nets["D"](self.augment(real_pair))
        # Official: the D loss is halved "to slow down the rate at which D learns relative to G".
        loss_d = 0.5 * discriminator_loss(real_logits, self.discriminate(real_a, fake_b.detach()), cfg.loss)
        if cfg.r1_weight:
            loss_d = loss_d + cfg.r1_weight * r1_penalty(real_logits, real_pair)
        self.step_optimizer(loss_d, "D")

        self.nets["D"].requires_grad_(False)  # no D gradients from the G step (official set_requires_grad)
        loss_gan = generator_loss(self.discriminate(real_a, fake_b), cfg.loss)
        loss_l1 = F.l1_loss(fake_b, real_b)
        self.step_optimizer(loss_gan + self.options.lambda_l1 * loss_l1, "G")
        self.nets["D"].requires_grad_(True)
        freeze_first_layers(self.nets["D"], cfg.freeze_d_layers)
        self.update_ema(step)
        return {"D": loss_d.item(), "G_gan": loss_gan.item(), "G_L1": loss_l1.item()}

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        index = torch.randperm(len(self.inputs), generator=generator, device="cpu")[:count]
        return {"A": self.inputs[index], "B": self.targets[index]}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        outputs = self.final_generator().eval()(fixed["A"])
        return [image_row([a, out, b]) for a, out, b in zip(fixed["A"], outputs, fixed["B"], strict=True)]

    def final_generator(self) -> nn.Module:
        """A copy of the generator as exported: the EMA weights with BatchNorm statistics of their own."""
        net = copy.deepcopy(self.inference_net("G"))
        if self.ema:
            generator = torch.Generator().manual_seed(self.config.seed + 3)
            size = 4 * self.config.batch_size
            recalibrate_batchnorm(net, [(self.inputs[self.random_indices(len(self.inputs), generator, size)],)
                                        for _ in range(4)])
        return net

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        net = self.final_generator() if calibrate else self.inference_net("G")
        return {"G": net.state_dict()}

    def arch_config(self):
        return self.g_config
