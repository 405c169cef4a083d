"""Style mixing: the row seeds' images with some of their ws taken from the column seeds' (StyleGAN).

NVlabs ``style_mixing.py``: every seed's z (``RandomState(seed).randn(z_dim)``) is mapped, truncated
towards ``w_avg`` (``w_avg + (w - w_avg) * psi``), and for each (row, column) pair the row's ws get
the column's ws at ``col_styles`` (its ``--styles``, 0-6 by default). Low indices carry the coarse
styles (pose, face shape), high ones the fine ones (colours, texture). Rosinality's
``g([z1, z2], inject_index=k)`` is the same with ``col_styles`` = k .. num_ws - 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganstudio.errors import GanStudioError
from ganstudio.registry import LoadedModel
from ganstudio.tasks import styles
from ganstudio.tasks.generate import check_seed, resolve_label

MAX_SEEDS = 8  # per side: a grid of up to 9 x 9 images
DEFAULT_COL_STYLES = tuple(range(7))  # style_mixing.py's --styles 0-6


@dataclass(frozen=True)
class StyleMixResult:
    """The mixes (``images[row][col]``), and the grid style_mixing.py writes: the column seeds' images along
    the top, the row seeds' down the left, each mix where they cross (the corner is black)."""

    grid: Image.Image
    images: list[list[Image.Image]]
    row_seeds: list[int]
    col_seeds: list[int]
    col_styles: list[int]
    label: int | None = None


def parse_number_list(text: str) -> list[int]:
    """``"0,1,2"``, ``"0-6"`` or a mix (``"1,3-5"``) as a list of whole numbers, in order.

    Raises:
        GanStudioError: a part is not a number or a range a-b with a <= b.
    """
    numbers: list[int] = []
    for part in filter(None, (piece.strip() for piece in str(text).split(","))):
        match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if match and int(match.group(1)) <= int(match.group(2)):
            numbers.extend(range(int(match.group(1)), int(match.group(2)) + 1))
        elif part.isdigit():
            numbers.append(int(part))
        else:
            raise GanStudioError(f"{part!r} is not a whole number or a range like 0-6; write e.g. 0,1,2 or 0-3.")
    if not numbers:
        raise GanStudioError("give at least one number, e.g. 0-6 or 3,11.")
    return numbers


def style_mix(model: LoadedModel, *, row_seeds: Sequence[int], col_seeds: Sequence[int],
              col_styles: Sequence[int] = DEFAULT_COL_STYLES, label: int | str | None = None,
              truncation_psi: float = 1.0, truncation_cutoff: int | None = None, noise_mode: str = "const",
              translate: tuple[float, float] | None = None, rotate: float | None = None) -> StyleMixResult:
    """Mix every row seed with every column seed, as style_mixing.py.

    Args:
        row_seeds: the seeds whose ws are kept (one row each).
        col_seeds: the seeds whose ws at ``col_styles`` replace the row's (one column each).
        col_styles: indices of the ws taken from the column seed (0 .. num_ws - 1).
        label: the class, for a class-conditional model (style_mixing.py itself takes none).
        truncation_psi, truncation_cutoff, noise_mode, translate, rotate: as ``generate``.

    Raises:
        WrongTaskError: the model is not a StyleGAN model.
        GanStudioError: no seeds, too many, or a style index out of range.
    """
    model.require_task("generate")
    num_ws = styles.style_options(model)["num_ws"]
    rows = [check_seed(seed, "row seed") for seed in row_seeds]
    cols = [check_seed(seed, "column seed") for seed in col_seeds]
    for name, seeds in (("row", rows), ("column", cols)):
        if not 1 <= len(seeds) <= MAX_SEEDS:
            raise GanStudioError(f"give 1 to {MAX_SEEDS} {name} seeds, not {len(seeds)}.")
    chosen = sorted({int(index) for index in col_styles})
    if not chosen or chosen[0] < 0 or chosen[-1] >= num_ws:
        raise GanStudioError(f"column styles must be indices from 0 to {num_ws - 1} (this model takes {num_ws} ws), "
                             f"not {list(col_styles)}.")
    options = styles.check_options(model, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                                   noise_mode=noise_mode, translate=translate, rotate=rotate)
    class_index = resolve_label(model, label)
    seeds = list(dict.fromkeys(rows + cols))  # style_mixing.py maps every seed once, as one batch
    all_ws = dict(zip(seeds, styles.map_seeds(model, seeds, class_index, options), strict=True))
    mixes = np.stack([_mix(all_ws[row], all_ws[col], chosen) for row in rows for col in cols])
    mixed = styles.synthesize(model, mixes, options)
    singles = dict(zip(seeds, styles.synthesize(model, np.stack([all_ws[seed] for seed in seeds]), options), strict=True))
    images = [mixed[r * len(cols):(r + 1) * len(cols)] for r in range(len(rows))]
    return StyleMixResult(grid=_grid(images, [singles[s] for s in rows], [singles[s] for s in cols]), images=images,
                          row_seeds=rows, col_seeds=cols, col_styles=chosen, label=class_index)


def _mix(row_ws: np.ndarray, col_ws: np.ndarray, col_styles: list[int]) -> np.ndarray:
    """``w = w_row.clone(); w[col_styles] = w_col[col_styles]``."""
    mixed = np.array(row_ws, copy=True)
    mixed[col_styles] = col_ws[col_styles]
    return mixed


def _grid(images: list[list[Image.Image]], row_images: list[Image.Image], col_images: list[Image.Image]) -> Image.Image:
    width, height = row_images[0].size
    canvas = Image.new("RGB", (width * (len(col_images) + 1), height * (len(row_images) + 1)), "black")
    for col, picture in enumerate(col_images):
        canvas.paste(picture, (width * (col + 1), 0))
    for row, picture in enumerate(row_images):
        canvas.paste(picture, (0, height * (row + 1)))
        for col, mixed in enumerate(images[row]):
            canvas.paste(mixed, (width * (col + 1), height * (row + 1)))
    return canvas
