"""Task functions: images (and seeds, labels, styles) in, images out.

They know nothing of the UI or the CLI, and nothing of torch: networks are called
through the registry's backends on numpy arrays.
"""

from __future__ import annotations

from ganstudio.tasks.edit import domain_grid, edit_attributes, edit_domain
from ganstudio.tasks.generate import GenerationResult, generate
from ganstudio.tasks.interpolate import InterpolationResult, interpolate
from ganstudio.tasks.stylize import stylize
from ganstudio.tasks.translate import translate

__all__ = [
    "GenerationResult",
    "InterpolationResult",
    "domain_grid",
    "edit_attributes",
    "edit_domain",
    "generate",
    "interpolate",
    "stylize",
    "translate",
]
