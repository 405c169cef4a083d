"""BackgroundRuns: runs go one at a time in a worker thread; status shows the latest report; cancel keeps it."""

from __future__ import annotations

import threading
import time

import pytest

from ganstudio.errors import GanStudioError
from ganstudio.tasks.background import BackgroundRuns, RunState


def counting(steps: int, *, pause: float = 0.0, gate: threading.Event | None = None, fail_at: int | None = None):
    """A run that reports 1, 2, ... steps; it may wait at a gate first, and fail at a step."""

    def work(stop: threading.Event):
        if gate is not None:
            gate.wait(5)
        for step in range(1, steps + 1):
            if stop.is_set():
                return
            if step == fail_at:
                raise GanStudioError(f"step {step} went wrong")
            time.sleep(pause)
            yield step

    return work


def test_a_run_reports_as_it_goes_and_ends_done_with_its_last_report():
    runs = BackgroundRuns()
    status = runs.submit(counting(5), label="count")
    assert status.state in (RunState.QUEUED, RunState.RUNNING) and status.label == "count"
    finished = runs.wait(status.id, timeout=10)
    assert finished.state == RunState.DONE and finished.latest == 5 and not finished.active


def test_runs_go_one_at_a_time_in_order_and_queued_ones_know_their_place():
    runs, gate = BackgroundRuns(), threading.Event()
    first = runs.submit(counting(2, gate=gate))
    second = runs.submit(counting(2))
    assert runs.status(second.id).state == RunState.QUEUED and runs.status(second.id).ahead == 1
    gate.set()
    assert runs.wait(second.id, timeout=10).state == RunState.DONE
    assert runs.status(first.id).finished <= runs.status(second.id).finished


def test_cancel_stops_a_running_run_after_its_step_and_keeps_its_last_report():
    runs = BackgroundRuns()
    status = runs.submit(counting(1000, pause=0.01))
    while runs.status(status.id).latest is None:
        time.sleep(0.01)
    runs.cancel(status.id)
    stopped = runs.wait(status.id, timeout=10)
    assert stopped.state == RunState.CANCELLED and 1 <= stopped.latest < 1000 and "last result is kept" in stopped.message


def test_a_queued_run_that_is_cancelled_never_starts():
    runs, gate, started = BackgroundRuns(), threading.Event(), []
    runs.submit(counting(1, gate=gate))

    def never(stop):
        started.append(True)
        yield 1

    waiting = runs.submit(never)
    assert runs.cancel(waiting.id).state == RunState.CANCELLED
    gate.set()
    time.sleep(0.2)
    assert started == [] and runs.status(waiting.id).latest is None


def test_a_failing_run_says_why_and_the_next_one_still_runs():
    runs = BackgroundRuns()
    failing = runs.submit(counting(5, fail_at=3))
    after = runs.submit(counting(2))
    assert runs.wait(failing.id, timeout=10).message == "step 3 went wrong"
    assert runs.status(failing.id).state == RunState.FAILED and runs.status(failing.id).latest == 2
    assert runs.wait(after.id, timeout=10).state == RunState.DONE


def test_an_unexpected_error_is_reported_without_its_details():
    def broken(stop):
        raise KeyError("internal")
        yield

    runs = BackgroundRuns()
    status = runs.wait(runs.submit(broken).id, timeout=10)
    assert status.state == RunState.FAILED and "KeyError" in status.message and "server log" in status.message


def test_a_full_queue_and_an_unknown_id_are_explained():
    runs, gate = BackgroundRuns(max_waiting=1), threading.Event()
    runs.submit(counting(1, gate=gate))
    time.sleep(0.1)  # the first one is running: it does not wait any more
    runs.submit(counting(1))
    with pytest.raises(GanStudioError, match="already waiting"):
        runs.submit(counting(1))
    gate.set()
    with pytest.raises(GanStudioError, match="no run 'nope'"):
        runs.status("nope")
