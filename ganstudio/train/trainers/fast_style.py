"""Fast style network trainer: one TransformerNet per style, trained with VGG-19 perceptual losses.

Paper: Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
ECCV 2016. Mirrors pytorch/examples ``fast_neural_style/neural_style/neural_style.py`` ``train()``: the
network (``models.fast_style``, so the result loads and exports as the official ``*.model`` files do)
takes content photos in 0..255; its output, divided by 255, goes through the loss network with the
photo. The loss is ``lambda_content * MSE(relu2_2 of output, relu2_2 of photo)`` plus
``lambda_style * sum over relu1_2, relu2_2, relu3_3, relu4_3 of MSE(Gram(output), Gram(style))``
(Grams divided by C*H*W), plus an optional total variation term (Johnson's paper has one; the example
does not). Adam at 1e-3, batches of 4, as the example.

Differences: the loss network is VGG-19 (the same files as Gatys' optimisation, ``feature_network``),
where the example uses torchvision's VGG-16; the layer names are the same. The style image is taken
at the training size (its longer side), where the example keeps its own size by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from PIL import Image

from ganstudio.feature_network import load_vgg19
from ganstudio.models import fast_style
from ganstudio.models.vgg19 import (
    JOHNSON_CONTENT_LAYER,
    JOHNSON_STYLE_LAYERS,
    gram_matrix,
)
from ganstudio.train.config import FinetuneConfig, FinetuneConfigError
from ganstudio.train.kinds import DataLayout
from ganstudio.train.trainers.base import (
    TrainData,
    Trainer,
    check_images,
    config_from,
    image_row,
    images_to_tensor,
)

SAMPLE_PAIRS = 4  # photo | stylised, one row each


@dataclass(frozen=True)
class FastStyleOptions:
    """The perceptual loss (Johnson et al.): VGG-19 content and style (Gram) weights and total variation (the
    defaults are pytorch/examples'), and the VGG-19 file (empty: the torch hub cache; ``plan_finetune`` finds it)."""

    lambda_content: float = 1e5
    lambda_style: float = 1e10
    lambda_tv: float = 0.0
    vgg: str = ""


class FastStyleTrainer(Trainer):
    """A TransformerNet for the style image in ``data["style"]``, on the content photos in ``data["images"]``."""

    kind = "fast_style"
    arch = fast_style
    data = DataLayout("style")
    Options = FastStyleOptions
    feature_network = True  # plan_finetune finds the VGG-19 file and puts it in the config
    # no built-in model: the recipe of a fresh one is pytorch/examples' (Adam 1e-3, batches of 4, 256 px)
    recipe: ClassVar[FinetuneConfig] = FinetuneConfig(
        kind="fast_style", arch={"channels": 32, "n_residual": 5}, steps=2000, batch_size=4, lr=1e-3,
        betas=(0.9, 0.999), image_size=256, options={"lambda_content": 1e5, "lambda_style": 1e10}, checkpoint_every=200,
        sample_every=100)

    def build(self) -> None:
        cfg = self.config
        self.net_config = config_from(self.arch, cfg.arch)
        if cfg.image_size % 4:
            raise FinetuneConfigError(f"a fast style network trains on sides that are multiples of 4, not {cfg.image_size}.")
        network = fast_style.build(self.net_config)
        self.nets = {"G": network}
        self.add_optimizer("G", [network], cfg.lr)
        if cfg.ema_decay:
            self.add_ema("G")
        # the loss network is read, never trained: not in nets, not in the checkpoint (the file is, by path)
        self.vgg = load_vgg19(self.options.vgg or None, device=self.device)
        missing = [layer for layer in (*JOHNSON_STYLE_LAYERS, JOHNSON_CONTENT_LAYER) if layer not in self.vgg.available_layers]
        if missing:
            raise FinetuneConfigError(f"the VGG-19 file '{Path(self.options.vgg).name}' stops before {', '.join(missing)}; the perceptual "
                                      "loss reads relu1_2 to relu4_3. Use the whole file.")

    def prepare_data(self, data: TrainData) -> None:
        self.images = (images_to_tensor(data["images"]) + 1) * 127.5  # the network takes 0..255, as the example
        check_images("images", self.images, self.config, 3)
        style = torch.as_tensor(data["style"], dtype=torch.float32)
        if style.dim() != 4 or style.shape[0] != 1 or style.shape[3] != 3:
            raise FinetuneConfigError(f"the style must be one RGB image (1, H, W, 3) in 0..1, not {tuple(style.shape)}.")
        with torch.no_grad():
            features = self.vgg(style.permute(0, 3, 1, 2).to(self.device), JOHNSON_STYLE_LAYERS)
        self.style_grams = {name: gram_matrix(value) for name, value in features.items()}

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"images": self.images[self.random_indices(len(self.images), generator)]}

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        photos = batch["images"]
        output = self.nets["G"](photos)
        features = self.vgg(output / 255.0, [*JOHNSON_STYLE_LAYERS, JOHNSON_CONTENT_LAYER])
        with torch.no_grad():
            target = self.vgg(photos / 255.0, [JOHNSON_CONTENT_LAYER])[JOHNSON_CONTENT_LAYER]
        content = self.options.lambda_content * F.mse_loss(features[JOHNSON_CONTENT_LAYER], target)
        style = self.options.lambda_style * sum(
            F.mse_loss(gram_matrix(features[name]), gram.expand(len(photos), -1, -1))
            for name, gram in self.style_grams.items()
        )
        losses = {"content": content, "style": style}
        if self.options.lambda_tv:
            scaled = output / 255.0
            losses["tv"] = self.options.lambda_tv * ((scaled[:, :, 1:] - scaled[:, :, :-1]).abs().mean()
                                            + (scaled[:, :, :, 1:] - scaled[:, :, :, :-1]).abs().mean())
        total = sum(losses.values())
        self.step_optimizer(total, "G")
        self.update_ema(step)
        return {name: value.item() for name, value in {**losses, "total": total}.items()}

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        pick = torch.randperm(len(self.images), generator=generator)[: min(SAMPLE_PAIRS, count, len(self.images))]
        return {"images": self.images[pick]}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        net = self.inference_net("G").eval()
        output = net(fixed["images"]).clamp(0, 255)  # the example's save_image clamps to 0..255
        return [image_row([photo / 127.5 - 1, stylised / 127.5 - 1]) for photo, stylised in zip(fixed["images"], output)]

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        return {"G": self.inference_net("G").state_dict()}

    def arch_config(self):
        return self.net_config
