"""Fine-tune tab: train a built-in, imported or fresh model on your own pictures, as a background job.

The tab only translates. A base model and the options become a plan (``train/finetune.py``), the
uploads a training set (``train/uploads.py``), and both a job of the app's ``JobManager``
(``train/jobs.py``), whose worker process trains while the person keeps using the other tabs.
A timer reads the jobs' status.json and losses.jsonl every second: no callback trains, or even
loads a model. When a job has registered its model, the hidden ``registered`` textbox changes and
the app refreshes every model picker (``ui/__init__.py``).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.registry import Registry
from ganstudio.train.finetune import FinetunePlan, plan_finetune
from ganstudio.train.jobs import RESUMABLE, JobManager, JobStatus
from ganstudio.train.kinds import KINDS, data_layout, kind_of_arch
from ganstudio.train.uploads import (
    MIN_IMAGES,
    MIN_PER_CLASS,
    build_training_set,
    image_limit,
)
from ganstudio.ui import common

NEW = "new "  # base choices that train from scratch: "new dcgan", "new cyclegan"... (no model name has a space)
POLL_S = 1.0
MAX_PLOT_STEPS = 400  # longer loss histories are thinned for the plot
UPLOAD_TYPES = ["image", ".zip"]
HEADERS = ["Job", "Name", "Kind", "State", "Step", "ETA", "Message"]
WIDTHS = ["15%", "13%", "9%", "10%", "8%", "9%", "36%"]
TABS_OF_TASK = {task: [tab] for task, tab in common.TASK_TABS.items()} | {"generate": ["Generate", "Interpolate"]}
STATE_ICONS = {"queued": "⏳", "running": "🏃", "trained": "📦", "done": "✅", "failed": "❌", "cancelled": "⏹",
               "interrupted": "⏸"}

NO_JOB = "No job yet. Choose a base model, upload your pictures and press **Start fine-tuning**."
INTRO = """Train a model further on your own pictures, or a new one from scratch. Training runs in a background
process, one job at a time: keep using the other tabs, and come back here to watch it. The finished model
appears in every tab's model picker."""


def build_tab(registry: Registry, backends: gr.State, *, jobs: JobManager,
              tab: gr.Tab) -> dict[str, gr.components.Component]:
    """Lay out the Fine-tune tab and wire its events; ``jobs`` is the app's one queue, ``tab`` the tab itself.

    Returns the parts the app links to: ``base`` (a model picker) and ``registered`` (a hidden textbox
    that changes when a job has added a model to the registry).
    """
    choices = base_choices(registry)
    first = choices[0] if choices else None
    try:
        defaults = _defaults(registry, first)
    except GanStudioError:  # a broken entry must not stop the app: the form starts empty
        defaults = _defaults(registry, None)
    statuses = jobs.jobs()
    if jobs.has_queued():
        jobs.start()  # jobs queued when the app last stopped
    # -- layout
    gr.Markdown(INTRO, elem_classes=["model-about"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=340):
            gr.Markdown("#### 1 · Base model and your pictures")
            base = gr.Dropdown(choices, value=first, label="Base model", allow_custom_value=True,
                               elem_id="finetune-base",
                               info="A built-in or imported model to fine-tune, or “new …” to train from scratch")
            about = gr.Markdown(defaults["about"], elem_classes=["model-about"])
            files = gr.File(**defaults["files"], file_count="multiple", file_types=UPLOAD_TYPES, height=140,
                            elem_id="finetune-files")
            files_b = gr.File(**defaults["files_b"], file_count="multiple", file_types=UPLOAD_TYPES, height=140,
                              elem_id="finetune-files-b")
            with gr.Row(equal_height=True):
                name = gr.Textbox(label="Name of the new model", placeholder=defaults["name"], scale=3,
                                  info="Lowercase-hyphenated; empty = the placeholder")
                overwrite = gr.Checkbox(False, label="Replace a model of this name", scale=2)
        with gr.Column(scale=1, min_width=320):
            gr.Markdown("#### 2 · Training options")
            with gr.Row():
                steps = gr.Number(defaults["steps"], label="Steps", precision=0, minimum=1, info="Generator updates")
                batch_size = gr.Number(defaults["batch_size"], label="Batch size", precision=0, minimum=1)
            with gr.Row():
                lr = gr.Number(defaults["lr"], label="Learning rate", minimum=0, step=0.00005)
                image_size = gr.Number(defaults["image_size"], label="Image size (px)", precision=0, minimum=16,
                                       info="Default: the size the base model draws")
            with gr.Accordion("Tricks for small datasets", open=True):
                freeze_d = gr.Slider(0, 4, value=0, step=1, label="Freeze the first discriminator layers (FreezeD)",
                                     info="Start from the base model's trained D and keep its first N layers "
                                          "as they are (0 = off: a fresh D, which did better on small digit sets)")
                with gr.Row(equal_height=True):
                    diff_augment = gr.Checkbox(True, label="DiffAugment",
                                               info="Colour, shift and cutout before D: fewer images needed")
                    ema = gr.Number(defaults["ema"], label="EMA decay", minimum=0, maximum=0.9999, step=0.001,
                                    info="Average of G's weights (0 = off)")
                seed = gr.Number(0, label="Seed", precision=0, minimum=0, info="Same seed, same run")
            start = gr.Button("Start fine-tuning", variant="primary", elem_id="finetune-start")
            start_info = common.run_info("Start")
    gr.Markdown("#### 3 · Jobs (one trains at a time; the others wait in the queue)")
    table = gr.Dataframe(value=job_rows(statuses), headers=HEADERS, interactive=False, wrap=True, column_widths=WIDTHS,
                         label="Jobs, newest first", elem_id="finetune-jobs")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            # no value: the first tick picks the newest job when the page opens (not the newest when the app started)
            job = gr.Dropdown(job_choices(statuses), value=None, label="Job", allow_custom_value=True,
                              elem_id="finetune-job", info="Newest first; click a row of the table to pick it")
            progress = gr.Markdown(NO_JOB, label="Progress", elem_id="finetune-progress",
                                   elem_classes=["finetune-progress"])
            with gr.Row():
                cancel = gr.Button("⏹ Cancel", size="sm", interactive=False, elem_id="finetune-cancel")
                resume = gr.Button("▶ Resume", size="sm", interactive=False, elem_id="finetune-resume")
        with gr.Column(scale=3, min_width=320):
            losses = gr.LinePlot(None, x="step", y="value", color="loss", x_title="step", y_title="loss",
                                 color_title="", label="Losses (live)", visible=False, elem_id="finetune-losses")
        with gr.Column(scale=2, min_width=260):
            sample = gr.Image(label="Latest samples (fixed seeds)", format="png", interactive=False, height=300,
                              elem_classes=["pixelated"], elem_id="finetune-sample")
    timer = gr.Timer(POLL_S)
    seen = gr.State({})  # what this page shows already: the poll skips outputs that did not change
    # Models the jobs have registered. A rendered (but hidden) component, not a gr.State: its change event
    # fires in the browser when the timer's tick sets a new value, and the app refreshes every picker then.
    registered = gr.Textbox(_registered(statuses), visible="hidden", elem_id="finetune-registered")

    # -- callbacks
    @common.user_errors
    def base_options(base_name: str | None):
        """The defaults of a base model (what plan_finetune would use) and the uploads its kind needs."""
        found = _defaults(registry, base_name)
        return (found["about"], gr.File(**found["files"]), gr.File(**found["files_b"]),
                gr.Textbox(placeholder=found["name"]), found["steps"], found["batch_size"], found["lr"],
                found["image_size"], found["ema"])

    @common.user_errors
    def start_job(base_name: str, files: list[str] | None, files_b: list[str] | None, name: str, overwrite: bool,
                  steps: float, batch_size: float, lr: float, image_size: float, freeze_d_layers: float,
                  diff_augment: bool, ema_decay: float, seed: float, progress=gr.Progress()):
        """Queue a fine-tuning job and return at once; training runs in a worker process (poll /finetune_status).

        Args:
            base_name: a trainable model (see /list_models), or "new <kind>" (dcgan, cgan, infogan, pix2pix,
                cyclegan, stargan, stargan_v2, fast_style) to train from scratch.
            files: images or zips; per-class kinds need a zip with a folder per class; pix2pix: side-by-side pairs
                or the inputs; cyclegan: domain A; fast_style: content photos.
            files_b: pix2pix: the targets, with the inputs' file names; cyclegan: domain B; fast_style: the one
                style image.
            name: the new model's name (empty: from the base).
            overwrite: replace a user model of that name.
        """
        # the numbers go to the plan as they came: it checks them (a NaN or 10^9 from the API included)
        plan = _plan(registry, base_name, steps=steps if steps is not None else 0, batch_size=batch_size or None,
                     lr=lr or None, image_size=image_size or None, freeze_d_layers=freeze_d_layers or 0,
                     diff_augment=bool(diff_augment), ema_decay=ema_decay, seed=seed or 0)
        _check_uploads(plan.kind, files, files_b)
        progress(0.1, desc="Reading the uploaded pictures…")
        policy = registry.policy
        limit = image_limit(policy.max_training_images, policy.max_training_bytes, plan.config.image_size,
                            pairs=data_layout(plan.kind).form in ("paired", "unpaired"))
        data, report = build_training_set(plan.kind, files=files or [], files_b=files_b or [],
                                          size=plan.config.image_size, channels=plan.channels,
                                          class_names=plan.class_names, max_images=limit)
        status = jobs.submit(name=(name or "").strip() or default_name(base_name), config=plan.config, data=data,
                             base=plan.base, data_report=report.to_json(), overwrite=bool(overwrite))
        common.discard_uploads([*(files or []), *(files_b or [])])
        jobs.start()
        everything = jobs.jobs()
        ahead = sum(1 for other in everything if other.id != status.id and other.state in ("queued", "running"))
        when = f"queued behind {ahead} job(s)" if ahead else "starting now"
        message = (f"Job `{status.id}`: **{status.name}**, {plan.kind}, {plan.config.steps} steps at "
                   f"{plan.config.image_size} px, {when}. Data: {report.summary()}.")
        return message, status.id, job_rows(everything)  # the timer's next tick names the new job in the picker

    @common.user_errors
    def list_jobs(job_id: str | None):
        """Every fine-tuning job (newest first) with its state, step, ETA and message; the picked job stays picked.

        Args:
            job_id: the job shown below the table (empty: the newest).
        """
        everything = jobs.jobs()
        return job_rows(everything), gr.Dropdown(choices=job_choices(everything), value=_pick(everything, job_id))

    @common.user_errors
    def job_status(job_id: str | None):
        """One job: progress (state, step/total, ETA), its loss history and its latest sample grid.

        Args:
            job_id: a job id (see /finetune_jobs).
        """
        return job_outputs(registry, jobs, jobs.status(_known_job(jobs, job_id)) if job_id else None)

    @common.user_errors
    def cancel_job(job_id: str | None):
        """Stop a job: a queued one leaves the queue; a running one saves a checkpoint and stops (Resume continues).

        Args:
            job_id: a queued or running job.
        """
        return job_outputs(registry, jobs, jobs.cancel(_known_job(jobs, job_id)))

    @common.user_errors
    def resume_job(job_id: str | None):
        """Queue an interrupted, cancelled or failed job again; it continues from its last checkpoint.

        Args:
            job_id: an interrupted, cancelled or failed job.
        """
        status = jobs.resume(_known_job(jobs, job_id))
        jobs.start()
        return job_outputs(registry, jobs, status)

    def pick_row(event: gr.SelectData) -> str | None:
        """The job of a clicked table row."""
        return event.row_value[0] if event.row_value else gr.skip()

    @common.as_visitor
    def poll(job_id: str | None, seen: dict, registered: str):
        """The timer's tick: only what changed since the last one (the rest is skipped)."""
        try:
            return poll_changes(registry, jobs, job_id, seen, registered)
        except Exception:  # a toast every second would help nobody; the next tick tries again
            common.logger.exception("fine-tune status poll failed")
            return (gr.skip(),) * 9

    # -- events
    base.change(base_options, base, [about, files, files_b, name, steps, batch_size, lr, image_size, ema],
                api_name="finetune_defaults", api_visibility="undocumented", queue=False)
    start.click(start_job, [base, files, files_b, name, overwrite, steps, batch_size, lr, image_size, freeze_d,
                            diff_augment, ema, seed], [start_info, job, table], api_name="finetune_start",
                concurrency_limit=1, concurrency_id="finetune_start")
    tab.select(list_jobs, job, [table, job], api_name="finetune_jobs", queue=False)
    shown = [progress, losses, sample, cancel, resume]
    job.change(job_status, job, shown, api_name="finetune_status", queue=False, show_progress="hidden")
    cancel.click(cancel_job, job, shown, api_name="finetune_cancel", queue=False)
    resume.click(resume_job, job, shown, api_name="finetune_resume", queue=False)
    table.select(pick_row, None, job, api_name="finetune_pick_job", api_visibility="undocumented", queue=False)
    timer.tick(poll, [job, seen, registered], [table, job, *shown, seen, registered], api_name="finetune_poll",
               api_visibility="undocumented", queue=False, show_progress="hidden")
    return {"base": base, "registered": registered}


# -- what the job part of the tab shows -------------------------------------------------

def job_outputs(registry: Registry, jobs: JobManager, status: JobStatus | None, *,
                plot: gr.LinePlot | None = None) -> tuple:
    """Progress text, loss plot, sample grid, and whether Cancel and Resume apply, for one job."""
    if status is None:
        return NO_JOB, gr.LinePlot(visible=False), None, gr.Button(interactive=False), gr.Button(interactive=False)
    if plot is None:
        plot = loss_plot(jobs.losses(status.id))[0]
    return (describe_job(registry, status, jobs.jobs()), plot, shown_sample(status),
            gr.Button(interactive=status.state in ("queued", "running")),
            gr.Button(interactive=status.state in RESUMABLE))


def poll_changes(registry: Registry, jobs: JobManager, job_id: str | None, seen: dict, registered: str) -> tuple:
    """The outputs of a timer tick, each skipped when the page shows it already.

    The jobs table, the job picker, the picked job's outputs (``job_outputs``), then what the page
    shows now (the next tick's ``seen``) and the registered models. Reads status.json and
    losses.jsonl files only.
    """
    everything = jobs.jobs()
    picked = _pick(everything, job_id)
    status = next((s for s in everything if s.id == picked), None)
    ids = [s.id for s in everything]
    now = {"ids": ids, "rows": [_signature(s) for s in everything], "job": picked,
           "status": _signature(status) if status else None, "sample": status.sample if status else None,
           "plotted": seen.get("plotted"), "redraw": False}
    table = job_rows(everything) if now["rows"] != seen.get("rows") else gr.skip()
    picker = gr.Dropdown(choices=job_choices(everything), value=picked) if ids != seen.get("ids") or picked != job_id \
        else gr.skip()
    shown = [gr.skip()] * 5
    changed = picked != seen.get("job") or now["status"] != seen.get("status")
    if status is not None and (changed or seen.get("redraw")):
        plot, now["plotted"], now["redraw"] = loss_plot(jobs.losses(status.id), plotted=seen.get("plotted"))
        shown = list(job_outputs(registry, jobs, status, plot=plot)) if changed else [gr.skip(), plot] + [gr.skip()] * 3
        if picked == seen.get("job") and now["sample"] == seen.get("sample"):
            shown[2] = gr.skip()  # the same grid: no need to copy it again
    elif status is None and changed:
        shown = list(job_outputs(registry, jobs, None))
    done = _registered(everything)
    return (table, picker, *shown, now, done if done != registered else gr.skip())


# -- choices and defaults ---------------------------------------------------------------

def base_choices(registry: Registry) -> list[str]:
    """Every model this app can train further (built-in or imported, PyTorch weights), then "new <kind>"."""
    trainable = [entry.name for entry in registry.entries() if entry.format != "onnx" and kind_of_arch(entry.arch)]
    return trainable + [f"{NEW}{kind}" for kind in KINDS]


def default_name(base: str | None) -> str:
    """The new model's name when none is given: ``<base>-finetuned``, or ``my-<kind>`` from scratch."""
    if not base:
        return "my-model"
    return f"my-{base[len(NEW):]}" if base.startswith(NEW) else f"{base}-finetuned"


def _plan(registry: Registry, base: str | None, **options) -> FinetunePlan:
    """The plan for a base choice: a registry model, or "new <kind>"."""
    if base and base.startswith(NEW):
        return plan_finetune(registry, kind=base[len(NEW):], **options)
    if base and base not in registry.names():
        raise GanStudioError(f"'{base}' is not a model here. Pick a base in the list: "
                             f"{', '.join(base_choices(registry))}.")
    return plan_finetune(registry, base=base or None, **options)


def _defaults(registry: Registry, base: str | None) -> dict:
    """What the form shows for a base: plan_finetune's defaults and the upload widgets of its kind."""
    if not base:
        return {"about": "", "files": _upload("dcgan")[0], "files_b": _upload("dcgan")[1], "name": "my-model",
                "steps": None, "batch_size": None, "lr": None, "image_size": None, "ema": None}
    plan = _plan(registry, base)
    first, second, hint = _upload(plan.kind, plan.class_names)
    origin = "from scratch (random weights)" if base.startswith(NEW) else f"from **{base}**'s weights"
    about = f"*{plan.kind}* · trains {origin}, at {plan.config.image_size} px. {hint}"
    return {"about": about, "files": first, "files_b": second, "name": default_name(base),
            "steps": plan.config.steps, "batch_size": plan.config.batch_size, "lr": plan.config.lr,
            "image_size": plan.config.image_size, "ema": plan.config.ema_decay}


def _upload(kind: str, class_names: tuple[str, ...] = ()) -> tuple[dict, dict, str]:
    """Labels and visibility of the two upload widgets for a kind, and what to upload."""
    layout = data_layout(kind)
    if layout.form == "per_class":
        folder, folders = layout.unit, f"{layout.unit}s"
        names = f"Folder names must be its {folders}: {', '.join(class_names)}." if class_names else \
            f"The folder names become the {folders}."
        return ({"label": f"A .zip with one folder of images per {folder}", "visible": True},
                {"label": "Second set (not used)", "visible": False},
                f"Upload a zip with a folder per {folder} (at least {MIN_PER_CLASS} images in each). {names}")
    if layout.form == "unpaired":
        return ({"label": "Domain A: images or a .zip", "visible": True},
                {"label": "Domain B: images or a .zip", "visible": True},
                f"Two unpaired sets, A and B ({MIN_IMAGES}+ images each): the model learns to turn one into the other.")
    if layout.form == "style":
        return ({"label": "Content photos: images or a .zip", "visible": True},
                {"label": "One style image", "visible": True},
                (f"Photos of any kind ({MIN_IMAGES}+, more is better) and the one picture whose style the network "
                 "learns; the loss reads them through VGG-19 (Johnson et al.)."))
    if layout.form == "paired":
        return ({"label": "Pairs side by side (input left, target right), or the inputs", "visible": True},
                {"label": "Targets, with the same file names as the inputs (empty for side-by-side pairs)",
                 "visible": True},
                (f"Aligned pairs ({MIN_IMAGES}+): side-by-side images as in the pix2pix datasets, or inputs and "
                 "targets as two sets matched by file name."))
    return ({"label": "Training images, or a .zip of them", "visible": True},
            {"label": "Second set (not used)", "visible": False},
            f"At least {MIN_IMAGES} pictures of one kind of thing; they are centre-cropped to squares.")


def _check_uploads(kind: str, files: list[str] | None, files_b: list[str] | None) -> None:
    """Refuse, before reading anything, uploads that cannot make a training set of this kind.

    Raises:
        GanStudioError: nothing uploaded, a missing second set, or loose images for a per-class kind.
    """
    if not files:
        raise GanStudioError(f"upload your training pictures first (at least {MIN_IMAGES}, or a .zip).")
    layout = data_layout(kind)
    if layout.form == "unpaired" and not files_b:
        raise GanStudioError(f"a {kind} model learns from two sets: upload domain B's pictures too.")
    if layout.form == "style" and not files_b:
        raise GanStudioError("a fast style network learns one style: upload the style image too.")
    # A browser uploads loose files without their folders, so only a zip can carry the classes.
    if layout.form == "per_class" and not all(Path(path).suffix.lower() == ".zip" for path in files):
        folder = layout.unit
        raise GanStudioError(f"a {kind} model learns from a folder of images per {folder}: upload one .zip "
                             f"with a folder per {folder} (a browser upload loses folders).")


# -- showing jobs -----------------------------------------------------------------------

def job_rows(statuses: list[JobStatus]) -> list[list[str]]:
    """One table row per job, newest first; queued jobs say their place in the queue."""
    queued = [s.id for s in statuses if s.state == "queued"]
    rows = []
    for status in reversed(statuses):
        state = f"queued #{queued.index(status.id) + 1}" if status.state == "queued" else status.state
        eta = _duration(status.eta_s) if status.state == "running" and status.eta_s is not None else ""
        rows.append([status.id, status.name, status.kind, state, f"{status.step}/{status.total}", eta, status.message])
    return rows


def job_choices(statuses: list[JobStatus]) -> list[tuple[str, str]]:
    """The job picker's choices, newest first: "name · id" shown, the id as the value."""
    return [(f"{status.name} · {status.id}", status.id) for status in reversed(statuses)]


def _pick(statuses: list[JobStatus], job_id: str | None) -> str | None:
    """The job to show: the picked one while it exists, else the newest."""
    if job_id and any(status.id == job_id for status in statuses):
        return job_id
    return statuses[-1].id if statuses else None


def _signature(status: JobStatus) -> list:
    """What the page shows of a job (the worker rewrites status.json without touching ``updated``)."""
    return [status.id, status.state, status.step, status.total, status.eta_s, status.message, status.sample]


def _registered(statuses: list[JobStatus]) -> str:
    """The models that finished jobs have registered, as one string (the value of the hidden ``registered``)."""
    return ", ".join(sorted({status.model for status in statuses if status.state == "done" and status.model}))


def _known_job(jobs: JobManager, job_id: str | None) -> str:
    """A job id of the queue: only listed ids reach the job folders (an id is part of a path).

    Raises:
        GanStudioError: no job is picked, or there is no such job.
    """
    if not job_id:
        raise GanStudioError("pick a job first (the table lists them).")
    known = [status.id for status in jobs.jobs()]
    if job_id not in known:
        raise GanStudioError(f"no job {job_id!r}. Known jobs: {', '.join(reversed(known)) or 'none yet'}.")
    return job_id


def describe_job(registry: Registry, status: JobStatus, statuses: list[JobStatus]) -> str:
    """What the person reads about one job: where it stands, what to do next, what data it has."""
    origin = f"fine-tuned from {status.base}" if status.base else "from scratch"
    lines = [f"**{status.name}** · {status.kind} {origin} · job `{status.id}`"]
    percent = round(100 * status.step / status.total) if status.total else 0
    head = f"{STATE_ICONS.get(status.state, '')} **{status.state.capitalize()}** · step {status.step}/{status.total}"
    if status.state == "running":
        eta = f" · about {_duration(status.eta_s)} left" if status.eta_s is not None else " · estimating the time left"
        place = f" · on {'the GPU' if status.device.startswith('cuda') else 'the CPU'}" if status.device else ""
        lines.append(f"{head} ({percent}%){place}{eta}")
        lines.append(f'<progress value="{status.step}" max="{status.total or 1}"></progress>')
        if status.message:
            lines.append(f"Last losses: {status.message}")
    elif status.state == "queued":
        waiting = [s for s in statuses if s.state in ("queued", "running")]
        ahead = next((i for i, s in enumerate(waiting) if s.id == status.id), 0)
        lines.append(f"{head} · {ahead} job(s) ahead; it starts on its own. {status.message}".rstrip())
    elif status.state == "done":
        lines.append(f"{head} · {_done_message(registry, status)}")
    elif status.state == "failed":
        lines.append(f"{head} · **Why:** {status.message.rstrip('.')}. Nothing was added to the registry; "
                     "change the options and start again (or Resume, once the cause is fixed).")
    elif status.state == "trained":
        lines.append(f"{head} · training finished; registering the model…")
    else:  # cancelled, interrupted
        lines.append(f"{head} · {status.message.rstrip('.')}. **Resume** continues from the last checkpoint.")
    if status.data.get("summary"):
        lines.append(f"Data: {status.data['summary']}.")
    return "\n\n".join(lines)


def _done_message(registry: Registry, status: JobStatus) -> str:
    if not status.model or status.model not in registry.names():
        return f"{status.message} (the model is no longer in the registry)."
    tabs = [tab for task in registry.get(status.model).tasks for tab in TABS_OF_TASK.get(task, [task])]
    where = f"the {' and '.join(tabs)} tab{'s' if len(tabs) > 1 else ''}" if tabs else "the Models tab"
    return (f"registered as **{status.model}**: pick it in {where}. "
            "Export it to ONNX and download it in the **Models** tab.")


def loss_plot(rows: list[dict], *, plotted: list[str] | None = None) -> tuple[gr.LinePlot, list[str] | None, bool]:
    """The loss plot of a job, the loss names it draws (None: hidden), and whether to draw again next time.

    Works around Gradio 6.31's LinePlot. A new value goes into the chart already drawn, whose colours
    were fixed for the loss names of its first value: lines of other names would not show, and an
    empty first value shows none ever after; None after data fails on a missing element. So the
    plot is hidden while a job has no losses, and a chart ``plotted`` with other names is hidden for
    one tick (``redraw``): shown again, it is drawn afresh for the new names.
    """
    names = list(dict.fromkeys(key for row in rows for key in row if key != "step"))
    if not names:
        return gr.LinePlot(visible=False), None, False
    if plotted is not None and plotted != names:
        return gr.LinePlot(visible=False), None, True
    return gr.LinePlot(loss_frame(rows), visible=True), names, False


def loss_frame(rows: list[dict]) -> pd.DataFrame:
    """The loss history as long rows (step, loss, value); long runs are thinned."""
    if len(rows) > MAX_PLOT_STEPS:
        stride = -(-len(rows) // MAX_PLOT_STEPS)
        rows = rows[::stride] + ([rows[-1]] if (len(rows) - 1) % stride else [])
    records = [{"step": row["step"], "loss": key, "value": value}
               for row in rows for key, value in row.items() if key != "step"]
    return pd.DataFrame(records, columns=["step", "loss", "value"])


def shown_sample(status: JobStatus) -> str | None:
    """The job's latest sample grid, enlarged, as a file Gradio may serve (jobs live in the user folder)."""
    if not status.sample or not Path(status.sample).is_file():
        return None
    grid = images.open_image(status.sample)
    return common.shown_png(grid, common.output_folder(), f"{status.name}-step{status.step}")


def _duration(seconds: float | None) -> str:
    seconds = max(0, int(seconds or 0))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
