"""Adversarial losses, gradient penalties and differentiable augmentation.

The discriminator outputs raw logits everywhere (a patch map or one value per image); each loss
takes them as they come and averages over every element.

- "bce": the non-saturating loss of Goodfellow et al. (2014), as DCGAN and pix2pix train.
- "lsgan": least squares (Mao et al. 2017), CycleGAN's choice: real -> 1, fake -> 0.
- "hinge": Lim & Ye (2017) / Miyato et al. (2018), with a linear generator loss.
- "wgan": Wasserstein critic (Arjovsky et al. 2017), meant with ``gradient_penalty`` (Gulrajani
  et al. 2017), as StarGAN v1 trains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real: torch.Tensor | None, fake: torch.Tensor | None, loss: str) -> torch.Tensor:
    """The discriminator's loss on real and fake logits (either may be None: only the other term)."""
    terms = []
    if real is not None:
        terms.append(_real_term(real, loss))
    if fake is not None:
        terms.append(_fake_term(fake, loss))
    return sum(terms)


def _real_term(logits: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    if loss == "lsgan":
        return F.mse_loss(logits, torch.ones_like(logits))
    if loss == "hinge":
        return F.relu(1.0 - logits).mean()
    if loss == "wgan":
        return -logits.mean()
    raise ValueError(f"unknown loss {loss!r}")


def _fake_term(logits: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
    if loss == "lsgan":
        return F.mse_loss(logits, torch.zeros_like(logits))
    if loss == "hinge":
        return F.relu(1.0 + logits).mean()
    if loss == "wgan":
        return logits.mean()
    raise ValueError(f"unknown loss {loss!r}")


def generator_loss(fake: torch.Tensor, loss: str) -> torch.Tensor:
    """The generator's adversarial loss on the discriminator's logits for its images."""
    if loss in ("bce", "lsgan"):
        # Non-saturating: the generator pushes its images towards the "real" target.
        return _real_term(fake, loss)
    if loss in ("hinge", "wgan"):
        return -fake.mean()
    raise ValueError(f"unknown loss {loss!r}")


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1: half the squared gradient norm of D at real images, averaged over the batch (StarGAN v2's ``r1_reg``).

    ``real_images`` must have ``requires_grad`` set before the discriminator saw them.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return 0.5 * grad.pow(2).reshape(grad.size(0), -1).sum(1).mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: (||grad D(x_hat)|| - 1)^2 at random points between real and fake images.

    ``critic`` maps images to logits (a patch map is summed, as StarGAN's ``gradient_penalty`` does).
    """
    alpha = _per_image_uniform(real)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(mixed)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    norm = grad.reshape(grad.size(0), -1).norm(2, dim=1)
    return ((norm - 1) ** 2).mean()


# --------------------------------------------------------------------------- DiffAugment


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout") -> torch.Tensor:
    """Differentiable augmentation (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN
    Training", NeurIPS 2020; mirrors mit-han-lab/data-efficient-gans ``DiffAugment_pytorch.py``).

    Apply the same policy to real and fake images right before the discriminator, in both its and
    the generator's step. Random numbers come from torch's global CPU generator (seeded, checkpointed)
    and move to the images' device, so a seed augments alike on the CPU and on a GPU.
    """
    for name in policy.split(","):
        name = name.strip()
        if name:
            for function in AUGMENTATIONS[name]:
                x = function(x)
    return x.contiguous()


def _per_image_uniform(x: torch.Tensor) -> torch.Tensor:
    """One U(0, 1) number per image of ``x``, shaped (N, 1, 1, 1), drawn on the CPU and moved to x's device."""
    return torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device="cpu").to(x.device)


def _per_image_offsets(x: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """One integer in [low, high) per image of ``x``, shaped (N, 1, 1), drawn on the CPU and moved to x's device."""
    return torch.randint(low, high, size=[x.size(0), 1, 1], device="cpu").to(x.device)


def _rand_brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_per_image_uniform(x) - 0.5)


def _rand_saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_per_image_uniform(x) * 2) + mean


def _rand_contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_per_image_uniform(x) + 0.5) + mean


def _rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = _per_image_offsets(x, -shift_x, shift_x + 1)
    translation_y = _per_image_offsets(x, -shift_y, shift_y + 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long, device=x.device),
        torch.arange(x.size(2), dtype=torch.long, device=x.device),
        torch.arange(x.size(3), dtype=torch.long, device=x.device),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def _rand_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = _per_image_offsets(x, 0, x.size(2) + (1 - cutout_size[0] % 2))
    offset_y = _per_image_offsets(x, 0, x.size(3) + (1 - cutout_size[1] % 2))
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long, device=x.device),
        torch.arange(cutout_size[0], dtype=torch.long, device=x.device),
        torch.arange(cutout_size[1], dtype=torch.long, device=x.device),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


AUGMENTATIONS = {
    "color": [_rand_brightness, _rand_saturation, _rand_contrast],
    "translation": [_rand_translation],
    "cutout": [_rand_cutout],
}
