"""Long tasks that report progress, run one at a time in a worker thread, outside the request that asked.

Style transfer by optimisation (``optimize_style``) takes minutes and shows its image as it goes.
A request submits the run and returns at once with its id; the page polls ``status`` (the latest
report) and may ``cancel``, which keeps the last report. Unlike fine-tuning (``train.jobs``, a worker
process and files on disk), a run lives in the app's memory: it needs no checkpoint to resume, and the
worker keeps what is costly to load (VGG-19) between runs.

A run is a function of a ``threading.Event`` (set when it should stop) that yields reports; the last
report is the result. One worker thread runs the queue in order; a short queue keeps one person from
filling the machine, and finished runs are forgotten after a while.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Generic, TypeVar

from ganstudio.errors import GanStudioError

logger = logging.getLogger(__name__)

Report = TypeVar("Report")
Work = Callable[[threading.Event], Iterator]

MAX_WAITING = 8  # queued runs, all people together
KEEP_FINISHED_S = 3600.0
MAX_FINISHED = 32  # finished runs kept (each holds its last image), the oldest forgotten first


class RunState(StrEnum):
    """queued -> running -> done, or cancelled (the last report kept) or failed (the message says why)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINISHED = (RunState.DONE, RunState.CANCELLED, RunState.FAILED)


@dataclass(frozen=True)
class RunStatus(Generic[Report]):
    """Where a run stands: its state, its latest report (None before the first), and why it failed."""

    id: str
    label: str
    state: RunState
    latest: Report | None = None
    message: str = ""
    ahead: int = 0  # runs before it in the queue (queued runs only)
    created: float = 0.0
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.state not in FINISHED


@dataclass
class _Run:
    status: RunStatus
    work: Work
    stop: threading.Event
    order: int


class BackgroundRuns:
    """A queue of runs and the worker thread that runs them, oldest first (the thread starts with the first run)."""

    def __init__(self, *, max_waiting: int = MAX_WAITING, keep_finished_s: float = KEEP_FINISHED_S):
        self.max_waiting = max_waiting
        self.keep_finished_s = keep_finished_s
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def submit(self, work: Work, *, label: str = "") -> RunStatus:
        """Queue ``work``; returns its status at once (queued).

        Raises:
            GanStudioError: the queue is full.
        """
        with self._lock:
            self._forget_old()
            waiting = sum(1 for run in self._runs.values() if run.status.state == RunState.QUEUED)
            if waiting >= self.max_waiting:
                raise GanStudioError(f"{waiting} runs are already waiting; try again when one has finished.")
            run_id = secrets.token_hex(8)  # unguessable: whoever holds the id may watch and cancel the run
            run = _Run(RunStatus(run_id, label, RunState.QUEUED, created=time.time()), work, threading.Event(),
                       next(self._order))
            self._runs[run_id] = run
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._worker, name="ganstudio-background", daemon=True)
                self._thread.start()
            self._wake.notify()
            return self._with_place(run)

    def status(self, run_id: str) -> RunStatus:
        """The run's state and latest report.

        Raises:
            GanStudioError: no such run (a wrong id, or one finished over an hour ago).
        """
        with self._lock:
            return self._with_place(self._get(run_id))

    def cancel(self, run_id: str) -> RunStatus:
        """Stop a run: a queued one never starts; a running one stops after its current step, keeping its last report."""
        with self._lock:
            run = self._get(run_id)
            run.stop.set()
            if run.status.state == RunState.QUEUED:
                run.status = replace(run.status, state=RunState.CANCELLED, message="cancelled before it started",
                                     finished=time.time())
            return self._with_place(run)

    def wait(self, run_id: str, timeout: float = 600.0) -> RunStatus:
        """Block until the run has finished (for the CLI and tests).

        Raises:
            TimeoutError: it is still active after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(run_id)
            if not status.active:
                return status
            time.sleep(0.05)
        raise TimeoutError(f"run {run_id} is still {self.status(run_id).state} after {timeout:.0f} s")

    # -- the worker -----------------------------------------------------------------

    def _worker(self) -> None:
        while True:
            with self._lock:
                run = self._next()
                while run is None:
                    self._wake.wait()
                    run = self._next()
                run.status = replace(run.status, state=RunState.RUNNING)
            self._run(run)

    def _run(self, run: _Run) -> None:
        state, message = RunState.DONE, ""
        try:
            for report in run.work(run.stop):
                with self._lock:
                    run.status = replace(run.status, latest=report)
            if run.stop.is_set():
                state, message = RunState.CANCELLED, "stopped; the last result is kept"
        except GanStudioError as error:
            state, message = RunState.FAILED, str(error)
        except Exception as error:  # keep the worker alive whatever one run does; the details go to the log
            logger.exception("background run %s (%s) failed", run.status.id, run.status.label)
            state, message = RunState.FAILED, f"unexpected error ({type(error).__name__}); the details are in the server log"
        with self._lock:
            run.status = replace(run.status, state=state, message=message, finished=time.time())

    def _next(self) -> _Run | None:
        queued = [run for run in self._runs.values() if run.status.state == RunState.QUEUED]
        return min(queued, key=lambda run: run.order) if queued else None

    def _get(self, run_id: str) -> _Run:
        run = self._runs.get(str(run_id))
        if run is None:
            raise GanStudioError(f"no run {run_id!r}: it finished over an hour ago, or the app restarted. Start it again.")
        return run

    def _with_place(self, run: _Run) -> RunStatus:
        if run.status.state != RunState.QUEUED:
            return run.status
        ahead = sum(1 for other in self._runs.values() if other.status.active and other.order < run.order)
        return replace(run.status, ahead=ahead)

    def _forget_old(self) -> None:
        cutoff = time.time() - self.keep_finished_s
        finished = sorted((run for run in self._runs.values() if run.status.finished), key=lambda run: run.status.finished)
        for index, run in enumerate(finished):
            if run.status.finished < cutoff or index < len(finished) - MAX_FINISHED:
                del self._runs[run.status.id]
