"""StarGAN (v1) trainer: one generator for every attribute combination, D with a classifier head."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganstudio.models import stargan
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
    freeze_first_layers,
    image_row,
    images_to_tensor,
)


@dataclass(frozen=True)
class StarGANOptions:
    """The official weights of the attribute classification and reconstruction terms."""

    lambda_cls: float = 1.0
    lambda_rec: float = 10.0


class StarGANTrainer(Trainer):
    """StarGAN (Choi et al. 2018): one generator for every attribute combination; D with a classifier head.

    D: adversarial + lambda_cls * attribute BCE on real images (+ gradient penalty for WGAN-GP).
    G: adversarial + lambda_cls * BCE of D's classifier on the fake for the target attributes
    + lambda_rec * L1 of the reconstruction G(G(x, c_trg), c_org). Targets are the batch's own labels
    shuffled (official ``label_org[rand_idx]``).
    """

    kind = "stargan"
    arch = stargan
    data = DataLayout("per_class", label_key="attributes", label_encoding="onehot", unit="attribute")
    Options = StarGANOptions

    def build(self) -> None:
        cfg = self.config
        self.g_config = config_from(self.arch, cfg.arch)
        repeat = int(cfg.disc.get("repeat_num", 6))
        if cfg.image_size % 2**repeat:
            raise FinetuneConfigError(
                f"the StarGAN discriminator with repeat_num={repeat} needs image_size a multiple of {2**repeat}."
            )
        generator = self.arch.build(self.g_config)
        discriminator = stargan.Discriminator(
            image_size=cfg.image_size, conv_dim=int(cfg.disc.get("conv_dim", 64)), c_dim=self.g_config.c_dim,
            repeat_num=repeat,
        )
        self.set_generator_and_discriminator(generator, discriminator)

    def prepare_data(self, data: TrainData) -> None:
        self.images = images_to_tensor(data["images"])
        check_images("images", self.images, self.config, 3)
        self.attributes = torch.as_tensor(np.asarray(data["attributes"]), dtype=torch.float32)
        if tuple(self.attributes.shape) != (len(self.images), self.g_config.c_dim):
            raise FinetuneConfigError(
                f"stargan needs attributes of shape (N, c_dim) = ({len(self.images)}, {self.g_config.c_dim}), "
                f"got {tuple(self.attributes.shape)}."
            )

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        index = self.random_indices(len(self.images), generator, cfg.batch_size * cfg.n_critic)
        labels = self.attributes[index]
        # Official target labels: the batch's labels in random order (per D step).
        order = torch.cat([torch.randperm(cfg.batch_size, generator=generator, device="cpu") + k * cfg.batch_size
                           for k in range(cfg.n_critic)])
        return {"images": self.images[index], "labels": labels, "targets": labels[order]}

    def classification_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Official: summed over attributes, averaged over the batch.
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.size(0)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg = self.config
        generator, discriminator = self.nets["G"], self.nets["D"]
        chunks = zip(*(batch[k].split(cfg.batch_size) for k in ("images", "labels", "targets")), strict=True)
        for x_real, label_org, label_trg in chunks:
            x_in = x_real.detach().requires_grad_(cfg.r1_weight > 0)
            out_src, out_cls = discriminator(self.augment(x_in))
            with torch.no_grad():
                x_fake = generator(x_real, label_trg)
            fake_src, _ = discriminator(self.augment(x_fake))
            loss_cls = self.classification_loss(out_cls, label_org)
            loss_d = discriminator_loss(out_src, fake_src, cfg.loss) + self.options.lambda_cls * loss_cls
            if cfg.gp_weight:
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(lambda x: discriminator(x)[0], x_real, x_fake)
            if cfg.r1_weight:
                loss_d = loss_d + cfg.r1_weight * r1_penalty(out_src, x_in)
            self.step_optimizer(loss_d, "D")

        discriminator.requires_grad_(False)
        x_fake = generator(x_real, label_trg)
        fake_src, fake_cls = discriminator(self.augment(x_fake))
        loss_g_cls = self.classification_loss(fake_cls, label_trg)
        loss_rec = F.l1_loss(generator(x_fake, label_org), x_real)
        loss_g_adv = generator_loss(fake_src, cfg.loss)
        self.step_optimizer(loss_g_adv + self.options.lambda_cls * loss_g_cls + self.options.lambda_rec * loss_rec, "G")
        discriminator.requires_grad_(True)
        freeze_first_layers(discriminator, cfg.freeze_d_layers)
        self.update_ema(step)
        return {"D": loss_d.item(), "D_cls": loss_cls.item(), "G_adv": loss_g_adv.item(),
                "G_cls": loss_g_cls.item(), "rec": loss_rec.item()}

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        index = torch.randperm(len(self.images), generator=generator, device="cpu")[:count]
        return {"images": self.images[index], "labels": self.attributes[index]}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        """Rows: input, then each attribute flipped, then every attribute on."""
        # The official test runs G in train mode (instance statistics); a copy prepared for inference does the
        # same without updating the running statistics that the checkpoint holds.
        net = copy.deepcopy(self.inference_net("G")).eval()
        stargan.prepare_for_inference(net)
        rows = []
        for image, label in zip(fixed["images"], fixed["labels"], strict=True):
            targets = [label.clone() for _ in range(self.g_config.c_dim)]
            for k, target in enumerate(targets):
                target[k] = 1 - target[k]
            targets.append(torch.ones_like(label))
            outputs = net(image[None].expand(len(targets), -1, -1, -1), torch.stack(targets))
            rows.append(image_row([image, *outputs]))
        return rows

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        return {"G": self.inference_net("G").state_dict()}

    def arch_config(self):
        return self.g_config
