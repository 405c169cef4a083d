"""InfoGAN trainer: a GAN plus Q, which reads the codes back from the images (Chen et al. 2016).

The generator draws z ~ N(0, 1), a category c ~ Cat(K) and continuous codes ~ U(-1, 1). D's body is
shared with Q's head, which predicts the category (logits) and the continuous codes (means, with the
standard deviation fixed at 1 as the official MNIST run). The mutual-information term L_I is Q's
negative log-likelihood of the codes that made a fake batch: the cross-entropy of the category plus
half the squared error of each continuous code (a lower bound on I(c; G(z, c)) up to constants).

As in openai/InfoGAN's ``InfoGANTrainer``, L_I (weighted by ``lambda_info``) is added to both losses:
the discriminator's side (D's body, D's head and Q's head) and the generator's. Learning rates follow
the paper: 2e-4 for D and Q (``lr_d``), 1e-3 for G (``lr``); the adversarial loss is ``config.loss``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganstudio.models import infogan
from ganstudio.train.config import FinetuneConfigError
from ganstudio.train.kinds import DataLayout
from ganstudio.train.losses import discriminator_loss, generator_loss
from ganstudio.train.trainers.base import (
    TrainData,
    check_images,
    config_from,
    freeze_first_layers,
    images_to_tensor,
    tensor_to_image,
)
from ganstudio.train.trainers.dcgan import DCGANTrainer

SWEEP = (-2.0, 2.0)  # the samples sweep each continuous code over twice its training range, as the paper's figures


@dataclass(frozen=True)
class InfoGANOptions:
    """The weight of the mutual-information term (Q's loss on the codes), in D's and G's losses."""

    lambda_info: float = 1.0


class InfoGANTrainer(DCGANTrainer):
    """InfoGAN on one set of images: no labels; the categorical code finds its own classes."""

    kind = "infogan"
    arch = infogan
    data = DataLayout("images")
    Options = InfoGANOptions
    exported_nets = ("G",)
    # how tconv1's inputs split into z and codes is not in the weights (the manifest states it)
    not_inferable = ("nz", "num_categories", "num_continuous")

    def build(self) -> None:
        cfg = self.config
        self.g_config = config_from(self.arch, cfg.arch)
        if infogan.output_size(self.g_config) != cfg.image_size:
            raise FinetuneConfigError(
                f"infogan with base={self.g_config.base} makes {infogan.output_size(self.g_config)}-pixel images, "
                f"not image_size {cfg.image_size}: base is image_size / 4."
            )
        if self.g_config.num_categories < 2 and self.g_config.num_continuous < 1:
            raise FinetuneConfigError("infogan needs codes: num_categories of 2 or more, or num_continuous of 1 or more.")
        generator = infogan.build(self.g_config)
        body, d_head, q_head = infogan.build_discriminator(self.g_config, ndf=int(cfg.disc.get("ndf", 64)),
                                                          fc_dim=cfg.disc.get("fc_dim"))
        for module in (generator, body, d_head, q_head):
            module.apply(infogan.weights_init)
        freeze_first_layers(body, cfg.freeze_d_layers)
        self.nets = {"G": generator, "D": body, "D_head": d_head, "Q": q_head}
        self.add_optimizer("G", [generator], cfg.lr)
        self.add_optimizer("D", [body, d_head, q_head], self.lr_d)  # Q learns with D, as in the official code
        if cfg.ema_decay:
            self.add_ema("G")

    def prepare_data(self, data: TrainData) -> None:
        images = images_to_tensor(data["images"])
        check_images("images", images, self.config, self.g_config.nc)
        self.images = (images + 1) / 2  # the generator ends in a sigmoid: D sees reals in 0..1 too

    # -- codes ---------------------------------------------------------------------------

    def draw_codes(self, count: int) -> dict[str, torch.Tensor]:
        """A batch of generator inputs: z, category indices, continuous codes, and all of them as one input."""
        config = self.g_config
        z = self.randn(count, config.nz)
        categories = self.randint(max(config.num_categories, 1), count)
        continuous = (torch.rand(count, config.num_continuous, device="cpu") * 2 - 1).to(self.device)
        return {"input": self.assemble(z, categories, continuous), "categories": categories, "continuous": continuous}

    def assemble(self, z: torch.Tensor, categories: torch.Tensor, continuous: torch.Tensor) -> torch.Tensor:
        """(z, one-hot category, continuous codes) as the generator's (N, nz + K + C, 1, 1) input."""
        onehot = F.one_hot(categories, max(self.g_config.num_categories, 1)).float()[:, : self.g_config.num_categories]
        return torch.cat([z, onehot, continuous], dim=1)[:, :, None, None]

    def information_loss(self, features: torch.Tensor, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """L_I: Q's negative log-likelihood of the codes (constants dropped)."""
        logits, means = self.nets["Q"](features)
        loss = features.new_zeros(())
        if self.g_config.num_categories:
            loss = loss + F.cross_entropy(logits, codes["categories"])
        if self.g_config.num_continuous:
            loss = loss + 0.5 * (means - codes["continuous"]).pow(2).sum(dim=1).mean()
        return loss

    # -- one step ------------------------------------------------------------------------

    def features(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D's body on real and fake images as one batch, so that its BatchNorm layers normalise both alike.

        Apart, the last BatchNorm (over a 1x1 map, so over the batch only) takes away the mean of every
        feature within an all-real and an all-fake batch: D then tells them apart by how each batch varies,
        and G, drawing grey noise, fooled it (seen at 300 steps: D's verdicts flip when the batches are mixed).
        """
        both = self.nets["D"](self.augment(torch.cat([real, fake])))
        return both[: len(real)], both[len(real) :]

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["D_head"](self.nets["D"](self.augment(images)))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg = self.config
        real = batch["images"][: cfg.batch_size]
        codes = self.draw_codes(len(real))
        fake = self.nets["G"](codes["input"])
        head = self.nets["D_head"]

        real_features, fake_features = self.features(real, fake.detach())
        loss_info_d = self.information_loss(fake_features, codes)
        loss_d = discriminator_loss(head(real_features), head(fake_features), cfg.loss)
        self.step_optimizer(loss_d + self.options.lambda_info * loss_info_d, "D")

        _, fake_features = self.features(real, fake)
        loss_info = self.information_loss(fake_features, codes)
        loss_g = generator_loss(head(fake_features), cfg.loss)
        self.step_optimizer(loss_g + self.options.lambda_info * loss_info, "G")
        self.update_ema(step)
        return {"D": loss_d.item(), "G": loss_g.item(), "info": loss_info.item()}

    # -- samples and export --------------------------------------------------------------

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        """A row per category (the same z along each column, continuous codes 0), then a row sweeping each
        continuous code from -2 to 2 (one z, category 0)."""
        config = self.g_config
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        z = torch.randn(count, config.nz, generator=generator, device="cpu")
        rows = []
        for category in range(config.num_categories):
            rows.append(self.assemble(z, torch.full((count,), category, device="cpu"),
                                      torch.zeros(count, config.num_continuous, device="cpu")))
        sweep = torch.linspace(*SWEEP, count, device="cpu")
        for index in range(config.num_continuous):
            continuous = torch.zeros(count, config.num_continuous, device="cpu")
            continuous[:, index] = sweep
            rows.append(self.assemble(z[:1].repeat(count, 1), torch.zeros(count, dtype=torch.long, device="cpu"),
                                      continuous))
        return {"z": torch.cat(rows), "row": torch.tensor([count], device="cpu")}

    def generate(self, net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return net(z) * 2 - 1  # the samples and the BatchNorm calibration take -1..1, as the other kinds'

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        net = self.final_generator().eval()
        pictures = [tensor_to_image(image) for image in self.generate(net, fixed["z"])]
        per_row = int(fixed["row"][0])
        rows = []
        for start in range(0, len(pictures), per_row):
            row = Image.new("RGB", (per_row * pictures[0].width, pictures[0].height))
            for column, picture in enumerate(pictures[start : start + per_row]):
                row.paste(picture, (column * picture.width, 0))
            rows.append(row)
        return rows

    def calibration_inputs(self) -> list[tuple[torch.Tensor, ...]]:
        generator = torch.Generator().manual_seed(self.config.seed + 3)
        size, config = 4 * self.config.batch_size, self.g_config
        batches = []
        for _ in range(4):
            z = torch.randn(size, config.nz, generator=generator, device="cpu")
            categories = torch.randint(0, max(config.num_categories, 1), (size,), generator=generator, device="cpu")
            continuous = torch.rand(size, config.num_continuous, generator=generator, device="cpu") * 2 - 1
            batches.append((self.assemble(z, categories, continuous),))
        return batches
