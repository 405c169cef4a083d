"""Adversarial losses, penalties and DiffAugment on small tensors."""

from __future__ import annotations

import pytest
import torch

from ganstudio.train.losses import (
    diff_augment,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
)


@pytest.mark.parametrize("loss", ["bce", "lsgan", "hinge", "wgan"])
def test_discriminator_prefers_high_real_and_low_fake_logits(loss):
    good = discriminator_loss(torch.full((4,), 3.0), torch.full((4,), -3.0), loss)
    bad = discriminator_loss(torch.full((4,), -3.0), torch.full((4,), 3.0), loss)
    assert good < bad
    # The generator wants its fakes judged real.
    assert generator_loss(torch.full((4,), 3.0), loss) < generator_loss(torch.full((4,), -3.0), loss)


def test_lsgan_targets_are_one_and_zero():
    assert discriminator_loss(torch.ones(3), torch.zeros(3), "lsgan") == 0
    assert generator_loss(torch.ones(3), "lsgan") == 0


def test_r1_is_half_the_squared_gradient_norm():
    images = torch.randn(2, 1, 4, 4, requires_grad=True)
    logits = (3.0 * images).sum(dim=(1, 2, 3))  # gradient 3 everywhere
    assert r1_penalty(logits, images).item() == pytest.approx(0.5 * 9 * 16)


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    weight = torch.zeros(1, 1, 2, 2)
    weight[0, 0, 0, 0] = 1.0
    critic = lambda x: (x * weight).sum(dim=(1, 2, 3))  # |grad| = 1 everywhere
    assert gradient_penalty(critic, torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)).item() == pytest.approx(0.0)


def test_diff_augment_keeps_shape_is_seeded_and_passes_gradients():
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    torch.manual_seed(0)
    first = diff_augment(x)
    torch.manual_seed(0)
    second = diff_augment(x)
    assert first.shape == x.shape and torch.equal(first, second)
    first.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(diff_augment(x, policy=""), x)
