"""Errors that speak to the person using the studio.

Each error also inherits a built-in exception, so callers that only know the
standard library can still catch them (``except ValueError``).
"""

from __future__ import annotations


class GanStudioError(Exception):
    """Base class of every error the studio raises on purpose."""


class ModelNotFoundError(GanStudioError, LookupError):
    """A model name, path or hub file that cannot be found."""


class CheckpointError(GanStudioError, ValueError):
    """A checkpoint that cannot be read, or does not fit the architecture."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that would run code when loaded."""


class ImageError(GanStudioError, ValueError):
    """An input that is not a usable image."""


class WrongTaskError(GanStudioError, ValueError):
    """A model used for a task it cannot do."""


class BackendError(GanStudioError, RuntimeError):
    """A runtime (PyTorch or ONNX Runtime) that is missing or failed."""


class DataError(GanStudioError, RuntimeError):
    """Training data that is missing, or cannot be fetched or built."""


class IntegrityError(DataError, ValueError):
    """A downloaded file whose hash is not the one pinned in the code."""


class UnsafePathError(GanStudioError, ValueError):
    """An address or description naming a file outside where it may point, or something that is not a plain file."""


class LimitError(GanStudioError, ValueError):
    """A request over one of the studio's limits (a quota, a size, a count); the message says which and what to do."""
