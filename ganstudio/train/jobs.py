"""Background fine-tuning jobs: a queue, one worker process at a time, resume after a kill.

Each job is a folder under ``<user dir>/jobs/<id>/``:
    job.json      what was asked: name, kind, base model, FinetuneConfig, data report (written once)
    status.json   where it stands: state, step, ETA, last sample, message (rewritten atomically)
    losses.jsonl  one line of losses per reported step (for the live plot)
    data.npz      the training set, decoded and resized
    work/         train()'s folder: checkpoint.pt, samples/, model/ (the exported safetensors)
    cancel        present when the person asked to stop

The app (or the CLI) owns a ``JobManager``: its scheduler thread starts ``python -m
ganstudio.train.jobs <job folder>`` for the oldest queued job, waits for it, and registers the
model when it finished. Training never runs in the app's process, so the studio stays responsive;
a worker that dies (killed, out of memory, app restarted) leaves its last checkpoint, and
``resume`` continues from there.

A job belongs to the visitor who queued it (``ganstudio.policy``): a visitor lists, watches, cancels
and resumes only their own jobs, and the registry's policy bounds how many jobs each visitor (and
everyone together) may have queued. Until it finishes, a job holds its model's place under the model cap.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path

from ganstudio.errors import GanStudioError, LimitError
from ganstudio.files import write_text_atomically
from ganstudio.manifest import ModelEntry
from ganstudio.registry import Registry, safe_name

logger = logging.getLogger(__name__)

class JobState(StrEnum):
    """Where a job is in its life: queued -> running -> trained (exported, not yet registered) -> done,
    or failed / cancelled / interrupted (the app stopped), which can resume."""

    QUEUED = "queued"
    RUNNING = "running"
    TRAINED = "trained"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


RESUMABLE = (JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED)
FINISHED = (JobState.DONE, *RESUMABLE)
ACTIVE = (JobState.QUEUED, JobState.RUNNING, JobState.TRAINED)
STATUS_INTERVAL_S = 0.5
JOB_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}(?:[0-9a-f]{4})?")  # the suffix had 4 digits before it had 8


@dataclass
class JobStatus:
    """Where a job stands; what the Fine-tune tab and ``python -m ganstudio jobs`` show."""

    id: str
    name: str
    kind: str
    state: JobState = JobState.QUEUED
    step: int = 0
    total: int = 0
    resumed_from: int = 0
    eta_s: float | None = None
    message: str = ""
    sample: str | None = None
    model: str | None = None
    base: str | None = None
    data: dict = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0
    pid: int | None = None
    device: str = ""  # where the worker trains ("cuda:0", "cpu"), once it runs
    owner: str = ""  # the visitor who queued it ("" outside a public studio's requests)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def describe(self) -> str:
        progress = f"{self.step}/{self.total}" if self.total else ""
        eta = f", about {_duration(self.eta_s)} left" if self.state == JobState.RUNNING and self.eta_s is not None else ""
        place = f" on {self.device}" if self.device and self.state == JobState.RUNNING else ""
        text = f"{self.name} [{self.kind}] {self.state}{place} {progress}{eta}"
        return text + (f": {self.message}" if self.message else "")

    @classmethod
    def from_json(cls, data: dict) -> JobStatus:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state"] = JobState(values.get("state", JobState.QUEUED))
        return cls(**values)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _write_status(folder: Path, status: JobStatus) -> None:
    status.updated = time.time()
    _write_json(folder / "status.json", asdict(status))


def _write_json(path: Path, data: dict) -> None:
    write_text_atomically(path, json.dumps(data, indent=1))


class JobManager:
    """The fine-tuning queue of one user folder. ``start()`` runs the scheduler thread."""

    def __init__(self, registry: Registry, root: str | os.PathLike | None = None):
        self.registry = registry
        self.root = Path(root) if root else registry.user_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen | None = None
        self._recover_after_restart()
        registry.add_reservations(self._reserved_names)

    # -- asking ----------------------------------------------------------------------

    def submit(self, *, name: str, config, data: dict, base: str | None = None, data_report: dict | None = None,
               overwrite: bool = False, device: str = "auto") -> JobStatus:
        """Queue a job that trains ``config`` on ``data`` and registers the result as ``name``.

        ``device`` is where the worker trains: "auto" (the GPU when there is one, else the CPU), "cuda" or "cpu".

        Raises:
            GanStudioError: the name belongs to a built-in model, another visitor's model or another job (or to a
                user model, without overwrite), or the disk is too full.
            LimitError: the job is larger than the policy allows, or the visitor (or the studio) has as many
                jobs queued, or models kept, as it may.
        """
        from ganstudio.train.uploads import check_disk_space, save_training_set

        name = safe_name(name)
        owner = self.registry.visitor() or ""
        if device not in ("auto", "cuda", "cpu"):
            raise GanStudioError(f"device {device!r} is not one of auto, cuda, cpu.")
        data_bytes = sum(getattr(array, "nbytes", 0) for array in data.values())
        self._check_size(config, data_bytes)
        with self._lock:  # the checks and the new job folder in one step: two requests cannot both take the last place
            everything = self._all_jobs()
            self._check_quota(everything, owner)
            active = [job for job in everything if job.name == name and job.state in ACTIVE]
            if active:
                mine = active[0].owner == owner or self.registry.visitor() is None
                raise GanStudioError(f"job {active[0].id} will already register '{name}'; choose another name or cancel it."
                                     if mine else f"the name '{name}' is taken. Choose another name.")
            self.registry.check_name_free(name, overwrite=overwrite)
            self.registry.check_room_for(name)  # now, not after the training
            check_disk_space(self.root, 3 * data_bytes + 200 * 2**20)
            job_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(4)
            folder = self.root / job_id
            folder.mkdir(parents=True)
            save_training_set(data, folder / "data.npz")
            request = {"id": job_id, "name": name, "kind": config.kind, "base": base, "config": config.to_json(),
                       "data": data_report or {}, "overwrite": overwrite, "device": device, "owner": owner}
            _write_json(folder / "job.json", request)
            now = time.time()
            status = JobStatus(id=job_id, name=name, kind=config.kind, total=config.steps, base=base,
                               data=data_report or {}, created=now, updated=now, owner=owner)
            self._save(status)
        self._wake.set()
        return status

    def _check_size(self, config, data_bytes: int) -> None:
        """Refuse a job larger than the policy allows, whoever built its config."""
        policy = self.registry.policy
        for what, value, highest in (("steps", config.steps, policy.max_steps),
                                     ("batch size", config.batch_size, policy.max_batch_size),
                                     ("image size", config.image_size, policy.max_image_size),
                                     ("training data (bytes)", data_bytes, policy.max_training_bytes)):
            if value > highest:
                raise LimitError(f"{what} {value} is over this studio's limit of {highest} for one fine-tuning job.")

    def _check_quota(self, everything: list[JobStatus], owner: str, *, resuming: bool = False) -> None:
        """Refuse a job beyond the queue's size, the visitor's jobs at a time, or the visitor's jobs in all."""
        policy = self.registry.policy
        active = [job for job in everything if job.state in ACTIVE]
        if policy.max_active_jobs and len(active) >= policy.max_active_jobs:
            raise LimitError(f"{len(active)} fine-tuning jobs are queued or running, as many as this studio takes. "
                             "Try again when one has finished.")
        if self.registry.visitor() is None:
            return
        mine = [job for job in everything if job.owner == owner]
        if policy.max_active_jobs_per_visitor and sum(job.state in ACTIVE for job in mine) >= policy.max_active_jobs_per_visitor:
            raise LimitError(f"you have {policy.max_active_jobs_per_visitor} job(s) queued or running, the most one "
                             "visitor may. Wait for it to finish, or cancel it.")
        if policy.max_jobs_per_visitor and not resuming and len(mine) >= policy.max_jobs_per_visitor:
            raise LimitError(f"you have started {len(mine)} fine-tuning jobs here, the most one visitor may.")

    def _reserved_names(self) -> list[tuple[str, str]]:
        """(name, owner) of the models that queued and running jobs will register (the registry counts them)."""
        return [(job.name, job.owner) for job in self._all_jobs() if job.state in ACTIVE]

    def cancel(self, job_id: str) -> JobStatus:
        """Stop a job: a queued one is dropped from the queue, a running one checkpoints and stops."""
        with self._lock:
            status = self.status(job_id)
            if status.state == JobState.QUEUED:
                status.state, status.message = JobState.CANCELLED, "cancelled before it started"
                self._save(status)
            elif status.state == JobState.RUNNING:
                (self.root / job_id / "cancel").touch()
            return self.status(job_id)

    def resume(self, job_id: str) -> JobStatus:
        """Queue an interrupted, cancelled or failed job again; it continues from its last checkpoint.

        Raises:
            GanStudioError: the job is not in a resumable state.
        """
        with self._lock:
            status = self.status(job_id)
            if status.state not in RESUMABLE:
                raise GanStudioError(f"job {job_id} is {status.state}; only {', '.join(RESUMABLE)} jobs can be resumed.")
            self._check_quota([job for job in self._all_jobs() if job.id != job_id], status.owner, resuming=True)
            self.registry.check_room_for(status.name)
            (self.root / job_id / "cancel").unlink(missing_ok=True)
            status.state, status.message, status.pid = JobState.QUEUED, f"resuming from step {checkpoint_step(self.root / job_id)}", None
            self._save(status)
        self._wake.set()
        return status

    # -- looking ---------------------------------------------------------------------

    def status(self, job_id: str) -> JobStatus:
        """One job of the visitor's (any job, outside a request).

        Raises:
            GanStudioError: not a job id, or no such job of the visitor's (one message for both).
        """
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            raise GanStudioError(f"{str(job_id)[:40]!r} is not a job id (like 20261123-160501-ab12cd34). "
                                 "Run `python -m ganstudio jobs`.")
        status = self._read_status(job_id)
        if status is None or not self._owned_by_visitor(status):
            raise GanStudioError(f"no job {job_id!r}. Run `python -m ganstudio jobs` to list them.")
        return status

    def _owned_by_visitor(self, status: JobStatus) -> bool:
        """Jobs are a visitor's own: unlike models, there are no shared ones to show to others."""
        visitor = self.registry.visitor()
        return visitor is None or status.owner == visitor

    def _read_status(self, job_id: str) -> JobStatus | None:
        path = self.root / job_id / "status.json"
        if not path.is_file():
            return None
        return JobStatus.from_json(json.loads(path.read_text(encoding="utf-8")))

    def jobs(self) -> list[JobStatus]:
        """The visitor's jobs (every job, outside a request), oldest first."""
        return [status for status in self._all_jobs() if self._owned_by_visitor(status)]

    def _all_jobs(self) -> list[JobStatus]:
        found = []
        for folder in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if JOB_ID.fullmatch(folder.name) and (folder / "status.json").is_file():
                try:
                    status = self._read_status(folder.name)
                except (OSError, json.JSONDecodeError):
                    continue  # a folder being created right now
                if status is not None:
                    found.append(status)
        return sorted(found, key=lambda s: s.created)

    def has_queued(self) -> bool:
        """Whether any job waits in the queue (of any visitor): the scheduler should run."""
        return any(status.state == JobState.QUEUED for status in self._all_jobs())

    def losses(self, job_id: str) -> list[dict]:
        """The loss history, one dict per reported step (a resumed run's repeated steps keep their last values)."""
        self.status(job_id)  # a job of the visitor's
        path = self.root / job_id / "losses.jsonl"
        by_step: dict[int, dict] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the line a killed worker was writing
                by_step[int(row["step"])] = row
        return [by_step[step] for step in sorted(by_step)]

    def wait(self, job_id: str, timeout: float = 600.0) -> JobStatus:
        """Block until the job has finished (for the CLI and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(job_id)
            if status.finished:
                return status
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} still {self.status(job_id).state} after {timeout:.0f} s")

    # -- running ---------------------------------------------------------------------

    def start(self) -> JobManager:
        """Start the scheduler thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._scheduler, name="ganstudio-jobs", daemon=True)
                self._thread.start()
        return self

    def stop(self, *, kill_worker: bool = False) -> None:
        self._stop.set()
        self._wake.set()
        if kill_worker and self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def worker_pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _scheduler(self) -> None:
        # One scheduler per user folder, even with several app processes: the first holds the lock.
        lock = _try_lock(self.root / ".scheduler.lock")
        while lock is None and not self._stop.is_set():
            self._wake.wait(timeout=5.0)
            self._wake.clear()
            lock = _try_lock(self.root / ".scheduler.lock")
        while not self._stop.is_set():
            queued = [status for status in self._all_jobs() if status.state == JobState.QUEUED]
            if not queued:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            try:
                self._run(queued[0])
            except Exception:  # keep the queue alive whatever one job does
                logger.exception("job %s could not be run", queued[0].id)

    def _run(self, status: JobStatus) -> None:
        folder = self.root / status.id
        with self._lock:
            status.state, status.message, status.updated = JobState.RUNNING, "starting", time.time()
            self._save(status)
            log = open(folder / "log.txt", "ab")  # noqa: SIM115 - closed below, after the worker
            self._process = subprocess.Popen([sys.executable, "-m", "ganstudio.train.jobs", str(folder)],
                                             stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
            status.pid = self._process.pid
            self._save(status)
        code = self._process.wait()
        log.close()
        self.finish(status.id, exit_code=code)

    def finish(self, job_id: str, *, exit_code: int = 0) -> JobStatus:
        """After a worker ends: register a trained model, or record why it stopped."""
        with self._lock:
            status = self.status(job_id)
            status.pid = None
            if status.state == JobState.TRAINED:
                try:
                    entry = self._register(job_id)
                    status.state, status.model = JobState.DONE, entry.name
                    status.message = f"registered as '{entry.name}': pick it in the other tabs"
                except GanStudioError as error:
                    status.state, status.message = JobState.FAILED, f"training finished but the model was not registered: {error}"
            elif status.state == JobState.RUNNING:
                # (a job already QUEUED again was resumed after its worker wrote its last status: leave it queued)
                step = checkpoint_step(self.root / job_id)
                status.state = JobState.INTERRUPTED
                status.message = (f"the worker stopped unexpectedly (exit code {exit_code}); resume to continue from "
                                  f"the checkpoint at step {step}")
            status.updated = time.time()
            self._save(status)
            return status

    def _register(self, job_id: str) -> ModelEntry:
        folder = self.root / job_id
        request = json.loads((folder / "job.json").read_text(encoding="utf-8"))
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        name = request["name"]
        self.registry.check_name_free(name, overwrite=True)
        target = self.registry.user_dir / "models" / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        files, training_files = {}, {}
        for role, path in result["files"].items():
            shutil.copyfile(path, target / Path(path).name)
            files[role] = f"models/{name}/{Path(path).name}"
        for network, path in result.get("discriminator_files", {}).items():
            (target / "discriminators").mkdir(exist_ok=True)
            shutil.copyfile(path, target / "discriminators" / Path(path).name)
            training_files[network] = f"models/{name}/discriminators/{Path(path).name}"
        base = self.registry.get(request["base"]) if request.get("base") and request["base"] in self.registry.names() else None
        from ganstudio.models import get_architecture

        arch = get_architecture(result["arch"])
        entry = ModelEntry(
            name=name, arch=result["arch"], tasks=tuple(base.tasks if base else arch.SPEC.tasks), format="safetensors",
            files=files, training_files=training_files, config=result["model_config"],
            preprocessing=dict(base.preprocessing) if base else {},
            labels=tuple(request.get("data", {}).get("classes") or (base.labels if base else ())),
            source=f"fine-tuned from {request.get('base') or 'scratch'} (job {job_id}, {result['step']} steps)",
            description=f"Fine-tuned on {request.get('data', {}).get('used', '?')} of your images.",
            owner=request.get("owner", ""),
        )
        return self.registry.register(entry)

    def _save(self, status: JobStatus) -> None:
        status.updated = time.time()
        _write_json(self.root / status.id / "status.json", asdict(status))

    def _recover_after_restart(self) -> None:
        # A job left "running" by a previous app process has no worker any more.
        for status in self._all_jobs():
            if status.state == JobState.TRAINED:
                self.finish(status.id)
            elif status.state == JobState.RUNNING and not _alive(status.pid):
                self._mark_interrupted(status)

    def _mark_interrupted(self, status: JobStatus) -> None:
        status.state = JobState.INTERRUPTED
        status.message = f"stopped when the app stopped; resume to continue from step {checkpoint_step(self.root / status.id)}"
        status.pid = None
        self._save(status)


def _try_lock(path: Path):
    """An exclusive, non-blocking lock on ``path`` (held while the returned file stays open), or None."""
    handle = open(path, "a")  # noqa: SIM115 - kept open as long as the lock is held
    try:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # Windows: no advisory locks; one app per user folder is assumed
        return handle
    except OSError:
        handle.close()
        return None
    return handle


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def checkpoint_step(folder: Path) -> int:
    """The step of the job's last checkpoint (0 when there is none), read without loading the weights."""
    marker = folder / "work" / "checkpoint_step.txt"
    try:
        return int(marker.read_text().strip())
    except (OSError, ValueError):
        return 0


# -- the worker process --------------------------------------------------------------------

def run_job(folder: str | os.PathLike) -> int:
    """Train the job in ``folder`` in this process (the worker's body; the CLI calls it directly).

    Progress goes to status.json and losses.jsonl; the exported files to result.json. Returns 0
    when training finished or was cancelled, 1 when it failed (the reason is in status.json).
    """
    import torch

    from ganstudio.runtime import physical_cores
    from ganstudio.train.config import FinetuneConfig
    from ganstudio.train.distributed import device_for
    from ganstudio.train.loop import CHECKPOINT_NAME, train
    from ganstudio.train.uploads import load_training_set

    folder = Path(folder)
    request = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    status = JobStatus.from_json(json.loads((folder / "status.json").read_text(encoding="utf-8")))
    status.state, status.pid, status.message = JobState.RUNNING, os.getpid(), ""
    _write_status(folder, status)
    # leave a core to the studio itself
    torch.set_num_threads(max(1, physical_cores() - 1))
    started, last_write = time.monotonic(), 0.0
    losses_file = open(folder / "losses.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed in finally

    def on_progress(step: int, total: int, losses: dict, samples) -> None:
        nonlocal last_write
        losses_file.write(json.dumps({"step": step, **{k: round(float(v), 5) for k, v in losses.items()}}) + "\n")
        losses_file.flush()
        _record_checkpoint_step(folder, step, config.checkpoint_every, total)
        sample_path = folder / "work" / "samples" / f"step_{step:06d}.png"
        if samples is not None and sample_path.is_file():
            status.sample = str(sample_path)
        now = time.monotonic()
        if now - last_write >= STATUS_INTERVAL_S or samples is not None or step == total:
            done = step - status.resumed_from
            status.step, status.total = step, total
            status.eta_s = (now - started) / done * (total - step) if done > 0 else None
            status.message = ", ".join(f"{k} {float(v):.3f}" for k, v in losses.items())
            _write_status(folder, status)
            last_write = now

    try:
        config = FinetuneConfig.from_json(request["config"])
        device = device_for(request.get("device", "auto"))
        status.device = str(device)
        status.resumed_from = checkpoint_step(folder) if (folder / "work" / CHECKPOINT_NAME).is_file() else 0
        result = train(config, load_training_set(folder / "data.npz"), folder / "work",
                       on_progress=on_progress, should_stop=lambda: (folder / "cancel").exists(), device=device)
        status.step = result.step
        # train() checkpoints where it stops too (a cancel between two regular checkpoints): say so
        _write_checkpoint_step(folder, result.step)
        if result.stopped:
            status.state, status.message = JobState.CANCELLED, f"stopped at step {result.step}; resume to continue"
        else:
            _write_json(folder / "result.json", {"files": {role: str(path) for role, path in result.files.items()},
                                                  "discriminator_files": {name: str(path) for name, path
                                                                          in result.discriminator_files.items()},
                                                  "arch": result.arch, "model_config": result.model_config,
                                                  "step": result.step, "wall_time_s": result.wall_time_s})
            status.state, status.message = JobState.TRAINED, f"trained {result.step} steps in {_duration(result.wall_time_s)}"
        return_code = 0
    except GanStudioError as error:
        status.state, status.message, return_code = JobState.FAILED, str(error), 1
    except Exception as error:  # report any failure in the UI; the traceback goes to log.txt
        traceback.print_exc()
        status.state, status.message, return_code = JobState.FAILED, f"training failed: {type(error).__name__}: {error}", 1
    finally:
        losses_file.close()
    status.eta_s, status.pid = None, None
    _write_status(folder, status)
    return return_code


def _record_checkpoint_step(folder: Path, step: int, every: int, total: int) -> None:
    # train() writes checkpoint.pt at these steps; keep its step readable without loading torch
    if step % every == 0 or step == total:
        _write_checkpoint_step(folder, step)


def _write_checkpoint_step(folder: Path, step: int) -> None:
    write_text_atomically(folder / "work" / "checkpoint_step.txt", str(step))


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m ganstudio.train.jobs JOB_FOLDER", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return run_job(sys.argv[1])


if __name__ == "__main__":
    sys.exit(main())
