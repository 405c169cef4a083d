"""Training sets from a person's own files: loose images, zips, a folder per class, pairs.

Files that are not images, or are unusable (too small, too large, damaged), are skipped and
counted, never fatal; a set that ends up too small is refused before anything starts. Zips are
read member by member with caps on sizes, so a zip bomb or a path like ``../../etc`` does no harm.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ganstudio import images as image_io
from ganstudio.errors import GanStudioError, ImageError, LimitError
from ganstudio.files import atomic_path

MAX_UPLOAD_BYTES = 512 * 2**20  # all files of one training set together, zips uncompressed
MAX_FILE_BYTES = 64 * 2**20
MIN_IMAGES = 8
MIN_PER_CLASS = 2
MIN_SIDE = 16  # smaller pictures carry too little to learn from
MAX_IMAGES = 20_000  # per set, when the caller gives no limit
MAX_SKIPPED = 1000  # files that are not usable images, beyond which an upload is refused rather than searched


@dataclass
class UploadReport:
    """What was used and what was skipped (with why), for the UI to show."""

    used: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.used} image(s) used"
        if self.classes:
            text += f" in {len(self.classes)} folder(s) ({', '.join(self.classes)})"
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, reason in self.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            text += f"; {len(self.skipped)} skipped (" + ", ".join(f"{n} {r}" for r, n in reasons.items()) + ")"
        return text

    def to_json(self) -> dict:
        return {"used": self.used, "skipped": [list(item) for item in self.skipped], "classes": self.classes,
                "summary": self.summary()}


@dataclass(frozen=True)
class UploadedFile:
    """One file from an upload: its name, its folder (the class, for per-class sets) and its bytes."""

    name: str
    folder: str
    data: bytes


def iter_uploads(paths: Sequence[str | os.PathLike], report: UploadReport, *,
                 max_files: int = MAX_IMAGES + MAX_SKIPPED) -> Iterator[UploadedFile]:
    """Every file in the given files, folders (recursively) and zips, in name order.

    Raises:
        LimitError: the upload is over MAX_UPLOAD_BYTES, or holds more than ``max_files`` files.
    """
    total, count = 0, 0
    for path in sorted(Path(p) for p in paths):
        for item in _expand(path, report):
            total += len(item.data)
            count += 1
            if total > MAX_UPLOAD_BYTES:
                raise LimitError(
                    f"the upload is over {MAX_UPLOAD_BYTES // 2**20} MB. Use fewer or smaller images "
                    "(training resizes them to a few dozen pixels anyway)."
                )
            if count > max_files:
                raise LimitError(f"the upload holds more than {max_files} files. Upload fewer pictures.")
            yield item


def _expand(path: Path, report: UploadReport) -> Iterator[UploadedFile]:
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            relative = child.relative_to(path)
            yield from _read_file(child, folder=relative.parts[-2] if len(relative.parts) > 1 else "", report=report)
    elif zipfile.is_zipfile(path):
        yield from _read_zip(path, report)
    elif path.is_file():
        yield from _read_file(path, folder=path.parent.name, report=report)
    else:
        report.skipped.append((path.name, "missing"))


def _read_file(path: Path, *, folder: str, report: UploadReport) -> Iterator[UploadedFile]:
    if path.stat().st_size > MAX_FILE_BYTES:
        report.skipped.append((path.name, "over the per-file size cap"))
        return
    yield UploadedFile(name=path.name, folder=folder, data=path.read_bytes())


def _read_zip(path: Path, report: UploadReport) -> Iterator[UploadedFile]:
    with zipfile.ZipFile(path) as archive:
        for member in sorted(archive.infolist(), key=lambda m: m.filename):
            if member.is_dir() or member.filename.startswith("__MACOSX/") or Path(member.filename).name.startswith("."):
                continue
            name = PurePosixPath(member.filename)
            if member.file_size > MAX_FILE_BYTES:
                report.skipped.append((name.name, "over the per-file size cap"))
                continue
            # Only the bytes are used: member names never become paths on disk.
            with archive.open(member) as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                report.skipped.append((name.name, "over the per-file size cap"))
                continue
            yield UploadedFile(name=name.name, folder=name.parent.name if len(name.parts) > 1 else "", data=data)


def decode_training_image(data: bytes, size: int, *, channels: int = 3) -> np.ndarray:
    """One picture as (size, size, channels) float32 in 0..1: centre square, resized (Lanczos).

    Raises:
        ImageError: not an image, or smaller than MIN_SIDE.
    """
    picture = image_io.open_image(data)
    if min(picture.size) < MIN_SIDE:
        raise ImageError(f"smaller than {MIN_SIDE} px")
    square = image_io.center_square(picture, size)
    if channels == 1:
        return (np.asarray(square.convert("L"), dtype=np.float32) / 255.0)[..., None]
    return np.asarray(square, dtype=np.float32) / 255.0


def load_images(paths: Sequence[str | os.PathLike], size: int, *, channels: int = 3,
                report: UploadReport | None = None,
                max_images: int = MAX_IMAGES) -> tuple[list[np.ndarray], list[str], list[str], UploadReport]:
    """Decode every usable image: arrays, file names and folder names, plus the report.

    Raises:
        LimitError: more than ``max_images`` usable images (decoding stops there).
    """
    report = report or UploadReport()
    arrays, names, folders = [], [], []
    for item in iter_uploads(paths, report, max_files=max_images + MAX_SKIPPED):
        try:
            arrays.append(decode_training_image(item.data, size, channels=channels))
        except ImageError as error:
            reason = "not images" if "not an image" in str(error) else _short_reason(str(error))
            report.skipped.append((item.name, reason))
            continue
        _check_count(len(arrays), max_images)
        names.append(item.name)
        folders.append(item.folder)
    report.used += len(arrays)
    return arrays, names, folders, report


def _check_count(count: int, max_images: int) -> None:
    if count > max_images:
        raise LimitError(f"more than {max_images} usable images in one set; this studio trains on at most "
                         f"{max_images} at this image size. Upload fewer pictures.")


def image_limit(max_images: int, max_bytes: int, size: int, *, pairs: bool = False) -> int:
    """How many images one set may hold: ``max_images``, fewer when their decoded arrays would pass ``max_bytes``."""
    per_image = size * size * 3 * 4 * (2 if pairs else 1)
    return max(1, min(max_images, max_bytes // per_image))


def _short_reason(message: str) -> str:
    for key, reason in (("at least", "too small"), ("smaller than", "too small"), ("too large", "too large"),
                        ("over the limit", "too large"), ("damaged", "damaged")):
        if key in message:
            return reason
    return "unreadable"


def split_side_by_side(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A pix2pix-style pair stored side by side (input left, target right) as two square arrays."""
    height, width = array.shape[:2]
    half = width // 2
    left = Image.fromarray((array[:, :half] * 255).round().astype(np.uint8).squeeze())
    right = Image.fromarray((array[:, half:2 * half] * 255).round().astype(np.uint8).squeeze())
    return (np.asarray(left.resize((height, height), Image.BICUBIC), dtype=np.float32) / 255.0,
            np.asarray(right.resize((height, height), Image.BICUBIC), dtype=np.float32) / 255.0)


def build_training_set(kind: str, *, files: Sequence[str | os.PathLike], files_b: Sequence[str | os.PathLike] = (),
                       size: int, channels: int = 3, class_names: Sequence[str] = (),
                       max_images: int = MAX_IMAGES) -> tuple[dict, UploadReport]:
    """The ``data`` dict that ``train()`` takes for ``kind``, from uploaded files.

    dcgan: any images. cgan / stargan / stargan_v2: a folder per class or domain (in a zip or on disk).
    pix2pix: side-by-side pairs in ``files``, or inputs in ``files`` and targets in ``files_b`` matched by name.
    cyclegan: domain A in ``files``, domain B in ``files_b``.
    fast_style: content photos in ``files``, one style image in ``files_b`` (its longer side resized to ``size``).
    ``class_names``: the base model's classes, so that folder names map to its labels.

    ``max_images`` bounds each set (a pair set counts its pairs).

    Raises:
        GanStudioError: too few usable images, or folders that do not match the base model's classes.
        LimitError: more than ``max_images`` images in a set, or an upload over the size or file-count caps.
    """
    from ganstudio.train.kinds import data_layout

    report = UploadReport()
    layout = data_layout(kind)
    if layout.form == "images":
        arrays, *_ = load_images(files, size, channels=channels, report=report, max_images=max_images)
        _require(len(arrays), MIN_IMAGES, "images", report)
        return {"images": np.stack(arrays)}, report
    if layout.form == "per_class":
        return _per_class_set(kind, layout, files, size, channels, class_names, report, max_images)
    if layout.form == "unpaired":
        a_images, *_ = load_images(files, size, report=report, max_images=max_images)
        b_images, *_ = load_images(files_b, size, report=report, max_images=max_images)
        _require(len(a_images), MIN_IMAGES, "images in domain A", report)
        _require(len(b_images), MIN_IMAGES, "images in domain B", report)
        return {"A": np.stack(a_images), "B": np.stack(b_images)}, report
    if layout.form == "style":
        return _style_set(files, files_b, size, report, max_images)
    return _paired_set(files, files_b, size, report, max_images)


def _style_set(files, files_b, size, report, max_images):
    photos, *_ = load_images(files, size, report=report, max_images=max_images)
    _require(len(photos), MIN_IMAGES, "content photos", report)
    styles = []
    for item in iter_uploads(files_b, report):
        try:
            styles.append((item.name, image_io.open_image(item.data)))
        except ImageError as error:
            report.skipped.append((item.name, _short_reason(str(error)) if "not an image" not in str(error) else "not images"))
    if len(styles) != 1:
        found = ", ".join(name for name, _ in styles) or "none"
        raise GanStudioError(f"a fast style network learns one style: give exactly one style image (found {found}).")
    picture = styles[0][1]
    scale = size / max(picture.size)
    picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.LANCZOS)
    report.used += 1
    return {"images": np.stack(photos), "style": np.asarray(picture, dtype=np.float32)[None] / 255.0}, report


def _per_class_set(kind, layout, files, size, channels, class_names, report, max_images):
    arrays, _, folders, report = load_images(files, size, channels=channels, report=report, max_images=max_images)
    found = sorted({folder for folder in folders if folder})
    if not found:
        raise GanStudioError(f"a {kind} model learns from a folder of images per class: put each class in its own "
                             "folder (inside the zip, or as sub-folders) named after the class.")
    names = list(class_names) or found
    unknown = [folder for folder in found if folder not in names]
    if unknown:
        raise GanStudioError(f"folder(s) {', '.join(unknown)} are not classes of the base model ({', '.join(names)}). "
                             "Rename them, or start from a fresh model.")
    labels = np.array([names.index(folder) for folder in folders if folder], dtype=np.int64)
    kept = np.stack([array for array, folder in zip(arrays, folders) if folder])
    for name in found:
        _require(int((labels == names.index(name)).sum()), MIN_PER_CLASS, f"images in folder '{name}'", report)
    _require(len(kept), MIN_IMAGES, "images", report)
    report.classes = found
    if layout.label_encoding == "onehot":
        return {"images": kept, layout.label_key: np.eye(len(names), dtype=np.float32)[labels]}, report
    return {"images": kept, layout.label_key: labels}, report


def _paired_set(files, files_b, size, report, max_images):
    if files_b:
        inputs, input_names, _, _ = load_images(files, size, report=report, max_images=max_images)
        targets, target_names, _, _ = load_images(files_b, size, report=report, max_images=max_images)
        by_name = dict(zip(target_names, targets))
        pairs = [(a, by_name[name]) for a, name in zip(inputs, input_names) if name in by_name]
        unmatched = len(inputs) - len(pairs)
        if unmatched:
            report.skipped.extend((name, "no target of the same name") for name in input_names if name not in by_name)
    else:
        # side by side: decode at double width, then split
        wide, *_ = load_images_wide(files, size, report, max_images=max_images)
        pairs = [split_side_by_side(array) for array in wide]
    _require(len(pairs), MIN_IMAGES, "pairs", report)
    return {"A": np.stack([a for a, _ in pairs]), "B": np.stack([b for _, b in pairs])}, report


def load_images_wide(paths, size: int, report: UploadReport, *, max_images: int = MAX_IMAGES):
    """Side-by-side pairs: each image resized to (2*size) x size, keeping both halves."""
    arrays = []
    for item in iter_uploads(paths, report, max_files=max_images + MAX_SKIPPED):
        try:
            picture = image_io.open_image(item.data)
        except ImageError as error:
            report.skipped.append((item.name, _short_reason(str(error)) if "not an image" not in str(error) else "not images"))
            continue
        if picture.width < 2 * MIN_SIDE or picture.width < picture.height * 1.5:
            report.skipped.append((item.name, "not a side-by-side pair"))
            continue
        arrays.append(np.asarray(picture.resize((2 * size, size), Image.BICUBIC), dtype=np.float32) / 255.0)
        _check_count(len(arrays), max_images)
    report.used += len(arrays)
    return arrays, report


def _require(count: int, minimum: int, what: str, report: UploadReport) -> None:
    if count < minimum:
        raise GanStudioError(f"only {count} usable {what}; at least {minimum} are needed ({report.summary()}).")


def check_disk_space(folder: str | os.PathLike, needed_bytes: int) -> None:
    """Refuse to start when the disk holding ``folder`` has less than ``needed_bytes`` free.

    Raises:
        GanStudioError: not enough free space.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise GanStudioError(
            f"only {free / 2**20:.0f} MB free on the disk of '{folder}'; this job needs about "
            f"{needed_bytes / 2**20:.0f} MB for data and checkpoints. Free some space and retry."
        )


def save_training_set(data: dict, path: str | os.PathLike) -> Path:
    """Store a training set as one compressed .npz (what the worker process loads)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **data)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path


def load_training_set(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
