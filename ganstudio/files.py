"""Files: written so that a reader never sees half of one, locked between processes, read only when they are plain
files of a bounded size, kept within a disk budget."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from ganstudio.errors import UnsafePathError

try:
    import fcntl
except ImportError:  # Windows: a thread lock only
    fcntl = None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``; when the block ends without an error, it replaces ``path`` in one step.

    A process killed mid-write leaves the previous file whole (and a stray temporary file, removed here on errors).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Replace a text file (UTF-8) in one step."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock named by ``path`` (a ``.lock`` file beside it) against other threads and processes.

    For read-modify-write of a shared file (the user manifest): two writers that each read, change and
    write would otherwise lose one of the changes.
    """
    lock_path = Path(f"{os.fspath(path)}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(str(lock_path.resolve()), threading.Lock())
    with thread_lock, open(lock_path, "a+") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` lies in ``folder``, both with every link followed (a link out of the folder is outside)."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def check_regular_file(path: str | os.PathLike, *, max_bytes: int) -> int:
    """The size of ``path`` when it is a regular file of at most ``max_bytes``.

    A device (/dev/zero), a pipe or a socket would make a reader wait or read forever; they are refused
    from their metadata, without opening them.

    Raises:
        UnsafePathError: not a regular file, or larger than ``max_bytes``.
    """
    try:
        info = os.stat(path)
    except OSError:
        raise UnsafePathError(f"'{Path(path).name}' cannot be read.") from None
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(f"'{Path(path).name}' is not a regular file, so it was not read.")
    if info.st_size > max_bytes:
        raise UnsafePathError(f"'{Path(path).name}' is {info.st_size / 2**20:.0f} MiB, over the limit of "
                              f"{max_bytes / 2**20:.0f} MiB for one file.")
    return info.st_size


def copy_regular_file(source: str | os.PathLike, target: str | os.PathLike, *, max_bytes: int) -> Path:
    """Copy a regular file of at most ``max_bytes``, reading no more than that even if it grows meanwhile.

    Raises:
        UnsafePathError: not a regular file, or larger than ``max_bytes``.
    """
    check_regular_file(source, max_bytes=max_bytes)
    target = Path(target)
    # O_NONBLOCK: should the path have become a pipe since it was looked at, opening it does not wait
    fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as reader, atomic_path(target) as tmp, open(tmp, "wb") as writer:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            raise UnsafePathError(f"'{Path(source).name}' is not a regular file, so it was not read.")
        copied = 0
        while chunk := reader.read(min(1 << 20, max_bytes + 1 - copied)):
            copied += len(chunk)
            if copied > max_bytes:
                raise UnsafePathError(f"'{Path(source).name}' grew over the limit of {max_bytes / 2**20:.0f} MiB "
                                      "while it was copied.")
            writer.write(chunk)
    return target


def folder_size(path: str | os.PathLike) -> int:
    """Bytes of the regular files under ``path`` (links are not followed)."""
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(root, name))
                if stat.S_ISREG(info.st_mode):
                    total += info.st_size
    return total


def trim_to_budget(folder: str | os.PathLike, max_bytes: int, *, keep: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Remove the least recently changed entries of ``folder`` until what is left fits in ``max_bytes``.

    ``keep`` (entries of ``folder``) are never removed, even when they alone are over the budget.
    Returns what was removed.
    """
    folder = Path(folder)
    if max_bytes <= 0 or not folder.is_dir():
        return []
    kept = {Path(path).resolve() for path in keep}
    entries = []
    for child in folder.iterdir():
        with contextlib.suppress(OSError):
            size = folder_size(child) if child.is_dir() else child.lstat().st_size
            entries.append((child.lstat().st_mtime, size, child))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, child in sorted(entries, key=lambda item: item[0]):
        if total <= max_bytes:
            break
        if child.resolve() in kept:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
        total -= size
        removed.append(child)
    return removed
