"""StarGAN v2 trainer, as the official ``core/solver.py`` trains."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ganstudio.models import stargan_v2
from ganstudio.train.config import FinetuneConfigError
from ganstudio.train.kinds import DataLayout
from ganstudio.train.losses import discriminator_loss, generator_loss, r1_penalty
from ganstudio.train.trainers.base import (
    TrainData,
    Trainer,
    check_images,
    config_from,
    freeze_first_layers,
    he_init,
    image_row,
    images_to_tensor,
)


@dataclass(frozen=True)
class StarGANv2Options:
    """The official loss weights (style reconstruction, diversity sensitivity decaying to 0 over
    ``ds_decay_steps`` (0 = the whole run), cycle), the mapping network's learning rate (None = ``lr``), and
    ``alternate_guidance``: each step makes either the latent-guided or the reference-guided pass
    (alternating) instead of both, half the cost of an official step."""

    lambda_sty: float = 1.0
    lambda_ds: float = 1.0
    lambda_cycle: float = 1.0
    ds_decay_steps: int = 0
    lr_mapping: float | None = None
    alternate_guidance: bool = False

    def __post_init__(self):
        if self.ds_decay_steps < 0:
            raise ValueError(f"ds_decay_steps must be 0 or more, not {self.ds_decay_steps}")


class StarGANv2Trainer(Trainer):
    """StarGAN v2 (Choi et al. 2020), as the official ``core/solver.py`` trains it.

    Each step: the discriminator twice (latent-guided and reference-guided fakes, non-saturating loss,
    R1 on reals), then the generator twice (latent-guided, updating generator, mapping network and style
    encoder; reference-guided, updating the generator only) with adversarial + lambda_sty * style
    reconstruction - lambda_ds * diversity sensitivity + lambda_cycle * cycle losses. EMA copies of
    the generator, mapping network and style encoder are what gets exported (``ema_decay``, 0.999 officially).
    With ``alternate_guidance`` a step makes only one of the two passes (latent-guided on even steps),
    so two steps make one official iteration, in the same time.
    """

    kind = "stargan_v2"
    arch = stargan_v2
    data = DataLayout("per_class", label_key="domains", unit="domain")
    Options = StarGANv2Options
    exported_nets = ("generator", "mapping_network", "style_encoder")

    def extra_state(self) -> dict[str, float]:
        return {"lambda_ds": self.lambda_ds}

    def load_extra_state(self, extra) -> None:
        if "lambda_ds" in extra:
            self.lambda_ds = extra["lambda_ds"]

    def build(self) -> None:
        cfg = self.config
        self.lambda_ds = self.options.lambda_ds  # decays during the run (see train_step)
        if cfg.n_critic != 1:
            raise FinetuneConfigError("stargan_v2 trains with n_critic=1.")
        self.g_config = config_from(self.arch, {"img_size": cfg.image_size, **cfg.arch})
        if self.g_config.img_size != cfg.image_size or self.g_config.w_hpf:
            raise FinetuneConfigError("stargan_v2 trains with img_size = image_size and w_hpf = 0.")
        model = self.arch.build(self.g_config)
        discriminator = stargan_v2.Discriminator(
            self.g_config.img_size, self.g_config.num_domains, self.g_config.max_conv_dim, dim_in=self.g_config.dim_in
        )
        self.nets = {
            "generator": model.generator,
            "mapping_network": model.mapping_network,
            "style_encoder": model.style_encoder,
            "discriminator": discriminator,
        }
        for net in self.nets.values():
            he_init(net)
        freeze_first_layers(discriminator, cfg.freeze_d_layers)
        lr_mapping = cfg.lr if self.options.lr_mapping is None else self.options.lr_mapping
        for name in self.nets:
            lr = lr_mapping if name == "mapping_network" else (self.lr_d if name == "discriminator" else cfg.lr)
            self.add_optimizer(name, [self.nets[name]], lr)
        if cfg.ema_decay:
            self.add_ema(*self.exported_nets)

    def prepare_data(self, data: TrainData) -> None:
        self.images = images_to_tensor(data["images"])
        check_images("images", self.images, self.config, 3)
        self.domains = torch.as_tensor(np.asarray(data["domains"]), dtype=torch.long)
        count = self.g_config.num_domains
        if len(self.domains) != len(self.images) or self.domains.min() < 0 or self.domains.max() >= count:
            raise FinetuneConfigError(f"stargan_v2 needs one domain in 0..{count - 1} per image.")
        self.rows_by_domain = [torch.nonzero(self.domains == d).flatten() for d in range(count)]
        if any(len(rows) == 0 for rows in self.rows_by_domain):
            raise FinetuneConfigError("stargan_v2 needs at least one training image in every domain.")

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        index = self.random_indices(len(self.images), generator)
        y_trg = torch.randint(0, self.g_config.num_domains, (cfg.batch_size,), generator=generator, device="cpu")
        # Two references from each target domain (official ReferenceLoader).
        refs = []
        for _ in range(2):
            picks = torch.rand(cfg.batch_size, generator=generator, device="cpu")
            refs.append(torch.stack([
                self.rows_by_domain[int(y)][int(p * len(self.rows_by_domain[int(y)]))] for y, p in zip(y_trg, picks, strict=True)
            ]))
        latent = self.g_config.latent_dim
        return {
            "x_real": self.images[index], "y_org": self.domains[index], "y_trg": y_trg,
            "x_ref": self.images[refs[0]], "x_ref2": self.images[refs[1]],
            "z_trg": torch.randn(cfg.batch_size, latent, generator=generator, device="cpu"),
            "z_trg2": torch.randn(cfg.batch_size, latent, generator=generator, device="cpu"),
        }

    def _d_loss(self, batch, *, latent: bool) -> torch.Tensor:
        cfg, nets = self.config, self.nets
        x_real = batch["x_real"].detach().requires_grad_(True)
        out = nets["discriminator"](self.augment(x_real), batch["y_org"])
        loss_real = discriminator_loss(out, None, "bce")
        loss_reg = r1_penalty(out, x_real) if cfg.r1_weight else torch.zeros((), device=self.device)
        with torch.no_grad():
            if latent:
                s_trg = nets["mapping_network"](batch["z_trg"], batch["y_trg"])
            else:
                s_trg = nets["style_encoder"](batch["x_ref"], batch["y_trg"])
            x_fake = nets["generator"](batch["x_real"], s_trg)
        loss_fake = discriminator_loss(None, nets["discriminator"](self.augment(x_fake), batch["y_trg"]), "bce")
        return loss_real + loss_fake + cfg.r1_weight * loss_reg

    def _g_loss(self, batch, *, latent: bool) -> tuple[torch.Tensor, dict[str, float]]:
        nets = self.nets
        x_real, y_org, y_trg = batch["x_real"].detach(), batch["y_org"], batch["y_trg"]
        if latent:
            s_trg = nets["mapping_network"](batch["z_trg"], y_trg)
        else:
            s_trg = nets["style_encoder"](batch["x_ref"], y_trg)
        x_fake = nets["generator"](x_real, s_trg)
        loss_adv = generator_loss(nets["discriminator"](self.augment(x_fake), y_trg), "bce")
        # Style reconstruction: the style encoder reads the target style back from the fake.
        loss_sty = torch.mean(torch.abs(nets["style_encoder"](x_fake, y_trg) - s_trg))
        # Diversity sensitivity: two styles should give two different images (maximised).
        with torch.no_grad():
            if latent:
                s_trg2 = nets["mapping_network"](batch["z_trg2"], y_trg)
            else:
                s_trg2 = nets["style_encoder"](batch["x_ref2"], y_trg)
            x_fake2 = nets["generator"](x_real, s_trg2)
        loss_ds = torch.mean(torch.abs(x_fake - x_fake2))
        # Cycle: back to the source domain with the source's own style.
        s_org = nets["style_encoder"](x_real, y_org)
        loss_cyc = torch.mean(torch.abs(nets["generator"](x_fake, s_org) - x_real))
        loss = loss_adv + self.options.lambda_sty * loss_sty - self.lambda_ds * loss_ds + self.options.lambda_cycle * loss_cyc
        return loss, {"adv": loss_adv.item(), "sty": loss_sty.item(), "ds": loss_ds.item(), "cyc": loss_cyc.item()}

    def _zero_grads(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg, nets = self.config, self.nets
        losses = {}
        guidance = ((step % 2 == 0),) if self.options.alternate_guidance else (True, False)
        for latent in guidance:
            loss_d = self._d_loss(batch, latent=latent)
            self._zero_grads()
            loss_d.backward()
            self._average_gradients("discriminator")
            self.optimizers["discriminator"].step()
            losses["D_latent" if latent else "D_ref"] = loss_d.item()

        nets["discriminator"].requires_grad_(False)
        for latent in guidance:
            loss_g, parts = self._g_loss(batch, latent=latent)
            self._zero_grads()
            loss_g.backward()
            # Official: the latent-guided step trains all three, the reference-guided one the generator only.
            for name in (self.exported_nets if latent else ("generator",)):
                self._average_gradients(name)
                self.optimizers[name].step()
            losses.update({f"G_{'latent' if latent else 'ref'}_{k}": v for k, v in parts.items()})
        nets["discriminator"].requires_grad_(True)
        freeze_first_layers(nets["discriminator"], cfg.freeze_d_layers)
        self.update_ema(step)
        # Official: lambda_ds decays linearly to 0 over ds_iter steps.
        if self.lambda_ds > 0:
            self.lambda_ds = max(self.lambda_ds - self.options.lambda_ds / (self.options.ds_decay_steps or cfg.steps), 0.0)
        return losses

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        index = torch.randperm(len(self.images), generator=generator, device="cpu")[:count]
        domains = self.g_config.num_domains
        references = torch.stack([self.rows_by_domain[d % domains][k] for k, d in enumerate(range(domains))])
        return {
            "images": self.images[index],
            "z": torch.randn(domains, self.g_config.latent_dim, generator=generator, device="cpu"),
            "references": self.images[references],
        }

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        """Rows: input, then latent-guided into each domain, then reference-guided from each reference."""
        generator, mapping, encoder = (self.inference_net(n) for n in self.exported_nets)
        domains = torch.arange(self.g_config.num_domains, device=self.device)
        latent_styles = mapping(fixed["z"], domains)
        reference_styles = encoder(fixed["references"], domains)
        rows = []
        for image in fixed["images"]:
            batch = image[None].expand(len(domains), -1, -1, -1)
            rows.append(image_row([image, *generator(batch, latent_styles), *generator(batch, reference_styles)]))
        return rows

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        # One file, keys prefixed by network name, as the registry merges a container.
        state = {}
        for name in self.exported_nets:
            state.update({f"{name}.{k}": v for k, v in self.inference_net(name).state_dict().items()})
        return {"model": state}

    def arch_config(self):
        return self.g_config
