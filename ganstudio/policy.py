"""What a studio allows, and who is asking: the private (local) and public (a Space anyone can call) modes.

A ``Policy`` is plain data: the registry, the job queue and the UI read it, so a limit lives in one
place. ``Policy.local()`` is the studio on your own machine: every feature, no quotas. ``Policy.public()``
is a studio that strangers call with ``gradio_client``: hub addresses name single files and are
size-checked before downloading, only ONNX files this studio exported are run, fine-tuning is bounded per
job and per visitor, and imported and fine-tuned models belong to the visitor who made them.

Who is asking is the *visitor*: an opaque owner id the web UI sets for the duration of one request
(``visiting``). In a public studio a visitor sees the built-in and shared models (those without an
owner) and their own, and their own jobs only. Code that runs outside a request (the CLI, the job
scheduler, tests) has no visitor and sees everything; a private studio ignores visitors (everything
is shared, as on your own machine).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Policy:
    """The limits of one studio. 0 means "no limit" for the counts and budgets.

    Attributes:
        public: strangers can call it (a Hugging Face Space, ``--public``): ownership and quotas apply,
            and messages never show server paths.
        max_user_models: imported and fine-tuned models kept, all visitors together; queued jobs count.
        max_models_per_visitor: the same, per visitor (public mode).
        hub_folders: an ``hf://`` address may name a folder (a snapshot of many files), not only a file.
        hub_max_bytes: the largest file an ``hf://`` address may download (checked before downloading).
        hub_timeout_s: how long to wait for the Hub to answer, once (no retries).
        foreign_onnx: ONNX files from elsewhere (uploads, the Hub) may be imported. A crafted graph can ask
            ONNX Runtime for any amount of memory, so a public studio runs only the exports it made itself.
        export_budget_bytes: disk for ONNX exports; the least recently used ones are removed beyond it.
        max_steps, max_image_size, max_batch_size: the largest fine-tuning job.
        max_training_images: images per training set (each set of a pair counted apart).
        max_training_bytes: the decoded training set of one job (float32 arrays).
        max_active_jobs: queued and running jobs, all visitors together.
        max_active_jobs_per_visitor: queued and running jobs of one visitor.
        max_jobs_per_visitor: jobs one visitor may have started (finished ones count) in this studio's life.
    """

    public: bool = False
    max_user_models: int = 0
    max_models_per_visitor: int = 0
    hub_folders: bool = True
    hub_max_bytes: int = 0
    hub_timeout_s: float = 10.0
    foreign_onnx: bool = True
    export_budget_bytes: int = 0
    max_steps: int = 100_000
    max_image_size: int = 1024
    max_batch_size: int = 512
    max_training_images: int = 20_000
    max_training_bytes: int = 8 * GiB
    max_active_jobs: int = 0
    max_active_jobs_per_visitor: int = 0
    max_jobs_per_visitor: int = 0

    @classmethod
    def local(cls, **changes) -> Policy:
        """Your own machine: everything allowed, generous sanity limits only."""
        return replace(cls(), **changes)

    @classmethod
    def public_space(cls, **changes) -> Policy:
        """A studio anyone may call: bounded downloads, jobs and disk; models and jobs per visitor."""
        values = dict(
            public=True, max_user_models=20, max_models_per_visitor=3, hub_folders=False, hub_max_bytes=512 * MiB,
            hub_timeout_s=5.0, foreign_onnx=False, export_budget_bytes=1 * GiB,
            max_steps=2000, max_image_size=128, max_batch_size=32, max_training_images=1000,
            max_training_bytes=256 * MiB, max_active_jobs=4, max_active_jobs_per_visitor=1, max_jobs_per_visitor=5,
        )
        return cls(**{**values, **changes})

    @classmethod
    def from_environment(cls, public: bool | None = None) -> Policy:
        """The mode a studio starts in: public when asked (``public`` or ``GANSTUDIO_PUBLIC=1``) or when running
        as a Hugging Face Space (``SPACE_ID`` is set), unless ``GANSTUDIO_PUBLIC=0``; private otherwise.

        ``GANSTUDIO_MAX_USER_MODELS`` overrides the model cap of either mode (0: no limit).
        """
        if public is None:
            flag = os.environ.get("GANSTUDIO_PUBLIC", "").strip().lower()
            public = flag in ("1", "true", "yes") if flag else bool(os.environ.get("SPACE_ID"))
        policy = cls.public_space() if public else cls.local()
        cap = os.environ.get("GANSTUDIO_MAX_USER_MODELS", "").strip()
        return replace(policy, max_user_models=max(0, int(cap))) if cap else policy

    def describe(self) -> str:
        """One line for the server log and the page header."""
        if not self.public:
            return "private mode: every feature, no quotas"
        return (f"public mode: at most {self.max_user_models} user models ({self.max_models_per_visitor} per visitor), "
                f"fine-tuning up to {self.max_steps} steps at {self.max_image_size} px, "
                f"{self.max_active_jobs_per_visitor} job at a time per visitor")


# -- who is asking ----------------------------------------------------------------------------

NOBODY = "-"  # a visitor that owns nothing: what a page shows before it knows who opened it
_VISITOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("ganstudio_visitor", default=None)


def current_visitor() -> str | None:
    """The owner id of the request being served, or None outside a request (CLI, scheduler, tests)."""
    return _VISITOR.get()


@contextlib.contextmanager
def visiting(owner: str | None) -> Iterator[None]:
    """Serve the block as ``owner`` (None: unrestricted)."""
    token = _VISITOR.set(owner)
    try:
        yield
    finally:
        _VISITOR.reset(token)


def visible_to(owner: str, visitor: str | None) -> bool:
    """Whether a thing owned by ``owner`` ("" = shared) is visible to ``visitor`` (None = unrestricted)."""
    return visitor is None or owner == "" or owner == visitor
