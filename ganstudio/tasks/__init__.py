"""Task functions: images (and seeds, labels, styles) in, images out.

They know nothing of the UI or the CLI, and nothing of torch: networks are called
through the registry's backends on numpy arrays.
"""

from __future__ import annotations

from ganstudio.tasks.directions import (
    Directions,
    edit_along_directions,
    principal_directions,
)
from ganstudio.tasks.edit import domain_grid, edit_attributes, edit_domain
from ganstudio.tasks.generate import GenerationResult, generate
from ganstudio.tasks.interpolate import InterpolationResult, interpolate
from ganstudio.tasks.style_mix import StyleMixResult, style_mix
from ganstudio.tasks.stylize import stylize
from ganstudio.tasks.translate import translate

__all__ = [
    "Directions",
    "GenerationResult",
    "InterpolationResult",
    "StyleMixResult",
    "domain_grid",
    "edit_along_directions",
    "edit_attributes",
    "edit_domain",
    "generate",
    "interpolate",
    "principal_directions",
    "style_mix",
    "stylize",
    "translate",
]
