"""CycleGAN trainer: two ResNet generators, two PatchGANs, adversarial + cycle + identity losses."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganstudio.models import cyclegan_resnet, patchgan
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
)


@dataclass(frozen=True)
class CycleGANOptions:
    """The official loss weights: cycle consistency (lambda_A = lambda_B) and identity (times lambda_cycle)."""

    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5


class CycleGANTrainer(Trainer):
    """CycleGAN (Zhu et al.): two ResNet generators, two PatchGANs, LSGAN + cycle + identity losses.

    The official 50-image history pool of fakes is left out (it adds little at this scale and would
    have to be checkpointed for exact resumes).
    """

    kind = "cyclegan"
    arch = cyclegan_resnet
    data = DataLayout("unpaired")
    Options = CycleGANOptions
    exported_nets = ("G_A", "G_B")

    def build(self) -> None:
        cfg = self.config
        if cfg.n_critic != 1:
            raise FinetuneConfigError("cyclegan trains with n_critic=1.")
        self.g_config = config_from(self.arch, cfg.arch)
        d_config = patchgan.Config(
            input_nc=self.g_config.output_nc,
            ndf=int(cfg.disc.get("ndf", 64)),
            n_layers=int(cfg.disc.get("n_layers", 3)),
            norm=cfg.disc.get("norm", "instance"),
        )
        self.nets = {
            "G_A": self.arch.build(self.g_config),  # A -> B
            "G_B": self.arch.build(self.g_config),  # B -> A
            "D_A": patchgan.build(d_config),  # judges B images (real B vs G_A(A)), as the official naming
            "D_B": patchgan.build(d_config),  # judges A images
        }
        for net in self.nets.values():
            normal_init(net)
        for name in ("D_A", "D_B"):
            freeze_first_layers(self.nets[name], cfg.freeze_d_layers)
        self.add_optimizer("G", [self.nets["G_A"], self.nets["G_B"]], cfg.lr)
        self.add_optimizer("D", [self.nets["D_A"], self.nets["D_B"]], self.lr_d)
        if cfg.ema_decay:
            self.add_ema("G_A", "G_B")

    def prepare_data(self, data: TrainData) -> None:
        self.domain_a, self.domain_b = images_to_tensor(data["A"]), images_to_tensor(data["B"])
        check_images("A", self.domain_a, self.config, self.g_config.input_nc)
        check_images("B", self.domain_b, self.config, self.g_config.output_nc)

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        # Unpaired: the two domains are drawn independently.
        return {
            "A": self.domain_a[self.random_indices(len(self.domain_a), generator)],
            "B": self.domain_b[self.random_indices(len(self.domain_b), generator)],
        }

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg = self.config
        g_a, g_b, d_a, d_b = (self.nets[n] for n in ("G_A", "G_B", "D_A", "D_B"))
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = g_a(real_a), g_b(real_b)
        rec_a, rec_b = g_b(fake_b), g_a(fake_a)

        # Generators first, discriminators frozen (official optimize_parameters order).
        d_a.requires_grad_(False)
        d_b.requires_grad_(False)
        loss_idt = torch.zeros((), device=self.device)
        options = self.options
        if options.lambda_identity > 0:
            # Official: identity weighted by lambda_identity * lambda_cycle (lambda_A = lambda_B = lambda_cycle).
            loss_idt = (F.l1_loss(g_a(real_b), real_b) + F.l1_loss(g_b(real_a), real_a)) * options.lambda_cycle * options.lambda_identity
        loss_gan = generator_loss(d_a(self.augment(fake_b)), cfg.loss) + generator_loss(d_b(self.augment(fake_a)), cfg.loss)
        loss_cycle = (F.l1_loss(rec_a, real_a) + F.l1_loss(rec_b, real_b)) * options.lambda_cycle
        self.step_optimizer(loss_gan + loss_cycle + loss_idt, "G")
        d_a.requires_grad_(True)
        d_b.requires_grad_(True)
        for net in (d_a, d_b):
            freeze_first_layers(net, cfg.freeze_d_layers)

        loss_d = self._d_loss(d_a, real_b, fake_b.detach()) + self._d_loss(d_b, real_a, fake_a.detach())
        self.step_optimizer(loss_d, "D")
        self.update_ema(step)
        return {"D": loss_d.item(), "G_gan": loss_gan.item(), "cycle": loss_cycle.item(), "idt": loss_idt.item()}

    def _d_loss(self, net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        real = real.detach().requires_grad_(cfg.r1_weight > 0)
        real_logits = net(self.augment(real))
        loss = 0.5 * discriminator_loss(real_logits, net(self.augment(fake)), cfg.loss)
        if cfg.r1_weight:
            loss = loss + cfg.r1_weight * r1_penalty(real_logits, real)
        return loss

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        index_a = torch.randperm(len(self.domain_a), generator=generator, device="cpu")[:count]
        index_b = torch.randperm(len(self.domain_b), generator=generator, device="cpu")[:count]
        return {"A": self.domain_a[index_a], "B": self.domain_b[index_b]}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        g_a, g_b = self.inference_net("G_A").eval(), self.inference_net("G_B").eval()
        fake_b, fake_a = g_a(fixed["A"]), g_b(fixed["B"])
        rows = [image_row([a, fb, b, fa]) for a, fb, b, fa in zip(fixed["A"], fake_b, fixed["B"], fake_a, strict=True)]
        self.nets["G_A"].train()
        self.nets["G_B"].train()
        return rows

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        return {role: self.inference_net(role).state_dict() for role in ("G_A", "G_B")}

    def arch_config(self):
        return self.g_config
