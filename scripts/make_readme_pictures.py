"""Render the README's pictures of the built-in models from the models themselves (run from the repo root).

    python scripts/make_readme_pictures.py   # writes docs/package-models.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganstudio.registry import Registry  # noqa: E402
from ganstudio.tasks import generate, translate  # noqa: E402

WIDTH = 1024


def row(pictures: list[Image.Image], height: int) -> Image.Image:
    tiles = [picture.resize((height * picture.width // picture.height, height), Image.LANCZOS) for picture in pictures]
    strip = Image.new("RGB", (sum(tile.width for tile in tiles), height), "white")
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width
    return strip


def labelled(strip: Image.Image, text: str) -> Image.Image:
    canvas = Image.new("RGB", (WIDTH, strip.height + 20), "white")
    canvas.paste(strip.resize((WIDTH, strip.height * WIDTH // strip.width)) if strip.width > WIDTH else strip, (0, 20))
    ImageDraw.Draw(canvas).text((4, 4), text, fill="black")
    return canvas


def main() -> int:
    from skimage import data

    registry = Registry()
    faces = generate(registry.load("faces-dcgan"), seed=1, num_images=8).images
    eyes_model = registry.load("eyes-cgan")
    eyes = [generate(eyes_model, seed=3, label=name).images[0] for name in eyes_model.labels]
    photo = Image.fromarray(data.astronaut()).resize((256, 256))
    vintage = translate(registry.load("vintage-photo"), photo)
    rows = [
        labelled(row(faces, 128), "faces-dcgan: seeds 1-8 (gan-face-generate, DigiFace-1M)"),
        labelled(row(eyes, 128), "eyes-cgan: " + ", ".join(eyes_model.labels) + " (omniart-eye-generator)"),
        labelled(row([photo, vintage], 256), "vintage-photo: skimage's astronaut before and after (vintagify)"),
    ]
    sheet = Image.new("RGB", (WIDTH, sum(r.height for r in rows)), "white")
    y = 0
    for part in rows:
        sheet.paste(part, (0, y))
        y += part.height
    Path("docs").mkdir(exist_ok=True)
    sheet.save("docs/package-models.jpg", quality=85)
    return 0


if __name__ == "__main__":
    sys.exit(main())
