"""Models tab: the registry as a table; import a checkpoint; export to ONNX; runtime and precision per model."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import gradio as gr

from ganstudio.errors import GanStudioError, ModelNotFoundError
from ganstudio.export import export_archive
from ganstudio.manifest import ModelEntry
from ganstudio.registry import Registry, resolve_source
from ganstudio.serving import int8_fidelity, load_model
from ganstudio.ui import common

HEADERS = ["Name", "Tasks", "Architecture", "Format", "Runtime", "Device", "Size", "Source", "Loaded"]
WIDTHS = ["15%", "8%", "13%", "9%", "10%", "6%", "7%", "26%", "6%"]
CHECKPOINT_TYPES = [".pth", ".pt", ".ckpt", ".tar", ".pkl", ".safetensors", ".onnx"]  # .pkl: NVlabs network pickles


def build_tab(registry: Registry, backends: gr.State, *, tab: gr.Tab) -> dict[str, gr.components.Component]:
    """Lay out the Models tab and wire its events; ``tab`` is the tab itself (the table refreshes when it opens)."""
    all_names = registry.names()
    # -- layout
    devices = gr.Markdown("Open this tab to see the devices.", label="Devices", elem_classes=["run-info"])
    table = gr.Dataframe(value=model_rows(registry, {}, with_devices=False), headers=HEADERS, interactive=False,
                         wrap=True, column_widths=WIDTHS, label="Models", elem_id="models-table")
    refresh = gr.Button("Refresh", size="sm")
    with gr.Row(equal_height=False):
        with gr.Column():
            gr.Markdown("### Runtime per model")
            runtime_model = gr.Dropdown(all_names, value=all_names[0] if all_names else None, label="Model",
                                        allow_custom_value=True)
            backend = gr.Radio(common.BACKEND_CHOICES, value="auto", label="Runtime",
                               info="ONNX Runtime for a PyTorch model exports it once (slow the first time)")
            precision = gr.Radio(precision_choices(), value="fp32", label="Precision", info=precision_info())
            apply = gr.Button("Use this runtime", variant="primary")
            runtime_info = common.run_info("Runtime")
            remove = gr.Button("Remove this model (imported or fine-tuned only)", variant="stop", size="sm")
        with gr.Column():
            gr.Markdown("### Import a checkpoint")
            files = gr.File(label="Checkpoint file(s): a CycleGAN pair is latest_net_G_A.pth + latest_net_G_B.pth",
                            file_count="multiple", file_types=CHECKPOINT_TYPES, height=120, elem_id="models-import-files")
            address = gr.Textbox(label="…or a Hugging Face file", placeholder="hf://owner/repo/path/to/G.pth[@revision]")
            with gr.Row(equal_height=True):
                new_name = gr.Textbox(label="Name (optional)", placeholder="my-model", scale=3, elem_id="models-import-name")
                overwrite = gr.Checkbox(False, label="Replace a model of this name", scale=2)
            run_import = gr.Button("Import", variant="primary")
            import_info = common.run_info("Import")
        with gr.Column():
            gr.Markdown("### Export to ONNX")
            export_choices = exportable(registry)
            export_picker = gr.Dropdown(export_choices, value=export_choices[0] if export_choices else None,
                                       label="PyTorch model", allow_custom_value=True, elem_id="models-export")
            run_export = gr.Button("Export to ONNX", variant="primary")
            exported = gr.File(label="ONNX files (zip, and each network)", file_count="multiple", elem_id="models-exported")
            export_info = common.run_info("Export")

    # -- callbacks
    @common.user_errors
    def list_models(backends: dict):
        """Every model in the registry with its task, architecture, format, runtime, device, size and source."""
        return model_rows(registry, backends), describe_devices()

    @common.user_errors
    def set_backend(model_name: str, backend: str, backends: dict, precision: str = "fp32", progress=gr.Progress()):
        """Run a model with PyTorch or ONNX Runtime, in fp32 or a faster precision, in this session; load it to show
        its device and, for int8, what quantising changed.

        Args:
            model_name: any model (see /list_models).
            backend: "auto" (the model's own format), "torch" or "onnx".
            precision: "fp32" (the official pixels), "int8" (ONNX Runtime on the CPU, quantised the first time),
                "bf16" (PyTorch, where the hardware has it) or "fp16" (GPU).
        """
        entry = common.entry_for(registry, model_name, None)
        precision = precision or "fp32"
        chosen = {**(backends or {}), entry.name: backend if precision == "fp32" else f"{backend}:{precision}"}
        if progress is not None and precision == "int8":
            progress(0.05, desc=f"Preparing int8 {entry.name}: calibrating on sample pictures (first time only)…")
        model = common.load_model(registry, entry.name, None, chosen, progress)
        return chosen, describe_runtime(entry.name, model), model_rows(registry, chosen)

    @common.user_errors
    def remove_model(model_name: str, backends: dict):
        """Delete an imported or fine-tuned model and its files; built-in models cannot be removed.

        Args:
            model_name: a user model (see /list_models).
        """
        entry = common.entry_for(registry, model_name, None)
        registry.remove(entry.name)
        chosen = {name: choice for name, choice in (backends or {}).items() if name != entry.name}
        return chosen, f"Removed **{entry.name}** and its files.", model_rows(registry, chosen)

    @common.user_errors
    def import_checkpoint(files: list[str] | None, address: str, name: str, overwrite: bool, backends: dict,
                          progress=gr.Progress()):
        """Import a checkpoint as a user model: uploaded file(s), or an hf://owner/repo/file address.

        Args:
            files: one checkpoint, or the files of one model (e.g. a CycleGAN pair).
            address: hf://owner/repo/path/to/file[@revision], instead of files.
            name: the model's name (default: from the file name).
            overwrite: replace a user model of the same name.
        """
        name = (name or "").strip() or None
        if name is None and files and len(files) > 1:
            raise GanStudioError("several files make one model: give it a name.")
        progress(0.1, desc="Reading and checking the checkpoint…")
        source, origin = _import_source(files, address)
        entry = registry.import_model(source, name=name, overwrite=bool(overwrite), source=origin)
        common.discard_uploads(files or [])
        tab_names = ", ".join(common.TASK_TABS.get(task, task) for task in entry.tasks) or "no tab (training only)"
        message = f"Imported **{entry.name}** ({entry.arch}). Find it in: {tab_names}."
        return message, model_rows(registry, backends)

    @common.user_errors
    def export_model(model_name: str, progress=gr.Progress()):
        """Export a PyTorch model to ONNX (checked against PyTorch) and return a zip and the .onnx files.

        Args:
            model_name: a PyTorch or safetensors model (see /list_models).
        """
        entry = common.entry_for(registry, model_name, None)
        if entry.format == "onnx":
            raise GanStudioError(f"'{entry.name}' is already an ONNX model.")
        progress(0.1, desc=f"Exporting {entry.name} to ONNX and checking it against PyTorch…")
        model = load_model(registry, entry.name, backend="onnx")
        folder = Path(model.entry.base_dir)
        # the export's own zip and files, made once per model: asking again adds nothing to the disk
        archive = str(export_archive(model.entry))
        parity = model.entry.metrics.get("onnx_parity_max_abs_diff", {})
        worst = max(parity.values(), default=0.0)
        message = f"Exported **{entry.name}**: {len(model.entry.files)} network(s), max difference from PyTorch {worst:.1e}."
        return [archive, *(str(folder / path) for path in model.entry.files.values())], message

    # -- events
    gr.on([tab.select, refresh.click], list_models, backends, [table, devices], api_name="list_models",
          queue=False)
    apply.click(set_backend, [runtime_model, backend, backends, precision], [backends, runtime_info, table],
                api_name="set_backend", concurrency_id=common.MODEL_QUEUE)
    remove.click(remove_model, [runtime_model, backends], [backends, runtime_info, table], api_name="remove_model",
                 concurrency_id=common.MODEL_QUEUE)
    # imports wait for the Hub and read whole files: a queue of their own, so that they never hold a model slot
    imported = run_import.click(import_checkpoint, [files, address, new_name, overwrite, backends], [import_info, table],
                                api_name="import_model", concurrency_id="imports", concurrency_limit=1)
    run_export.click(export_model, export_picker, [exported, export_info], api_name="export_onnx",
                     concurrency_id=common.MODEL_QUEUE)
    return {"runtime_model": runtime_model, "export_model": export_picker, "imported": imported}


def model_rows(registry: Registry, backends: dict, *, with_devices: bool = True) -> list[list[str]]:
    """One table row per model."""
    loaded = set(registry.loaded_names())  # an ONNX export of "x" is loaded as "x-onnx"
    bundled_dir = registry.weights_dir.resolve()
    rows = []
    for entry in registry.entries():
        chosen, precision = common.runtime_choice(backends, entry.name)
        if chosen == "auto":
            chosen = "onnx" if entry.format == "onnx" or precision == "int8" else "torch"
        where = "bundled" if Path(entry.base_dir or ".").resolve() == bundled_dir else "imported"
        runtime = common.BACKEND_NAMES[chosen] + ("" if precision == "fp32" else f" · {precision}")
        device = "cpu" if precision == "int8" else expected_device(chosen)
        rows.append([
            entry.name, ", ".join(entry.tasks) or "training only", entry.arch, entry.format,
            runtime, device if with_devices else "…", _size(entry),
            f"{where}: {shown_source(entry.source)}" if entry.source else where,
            "yes" if {entry.name, f"{entry.name}-onnx"} & loaded else "",
        ])
    return rows


@functools.cache
def expected_device(backend: str) -> str:
    """Where a backend puts a model on this machine (the "auto" device)."""
    from ganstudio.runtime import onnx_providers, torch_device

    try:
        if backend == "torch":
            return torch_device("auto")
        cuda = onnx_providers("auto")[0] == "CUDAExecutionProvider"
    except (ImportError, GanStudioError):
        return "unavailable"
    # onnxruntime-gpu lists its CUDA provider even where there is no GPU: PyTorch, when installed, knows better.
    return "cuda" if cuda and expected_device("torch") != "cpu" else "cpu"


def describe_devices() -> str:
    """The device line above the table."""
    from ganstudio.runtime import cpu_features

    torch_place, onnx_place = expected_device("torch"), expected_device("onnx")
    return (f"PyTorch runs on **{torch_place.upper()}** · ONNX Runtime runs on **{onnx_place.upper()}** · "
            f"CPU: {cpu_features().describe()}")


PRECISION_LABELS = {"fp32": "fp32 (official pixels)", "int8": "int8 (ONNX Runtime, CPU)", "bf16": "bf16 (PyTorch)",
                    "fp16": "fp16 (GPU)"}


@functools.cache
def offered_precisions() -> dict[str, str]:
    """Precision -> why it is or is not offered on this machine: each precision on the backend that runs it, on the
    device it would use. One that the hardware would only emulate is left out. Decided without importing torch
    (the app starts without it): a GPU is taken to be there when its driver loads, and checked when a model loads."""
    from ganstudio.runtime import cuda_driver_present, precision_support

    gpu = cuda_driver_present()
    offered = {}
    for precision, backend in (("fp32", "onnx"), ("int8", "onnx"), ("bf16", "torch"), ("fp16", "torch")):
        place = "cuda" if gpu and precision != "int8" else "cpu"
        if place == "cuda" and precision == "bf16":
            offered[precision] = "bf16 autocast on the GPU (checked when the model loads)"
            continue
        support = precision_support(precision, backend=backend, device=place)
        offered[precision] = support.note if support.usable else f"not offered: {support.note}"
    return offered


def precision_choices() -> list[tuple[str, str]]:
    return [(PRECISION_LABELS[name], name) for name, note in offered_precisions().items() if not note.startswith("not offered")]


def precision_info() -> str:
    """The line under the precision choice: what is not offered here and why, and that fp32 stays the default."""
    left_out = [f"{name}: {note.removeprefix('not offered: ')}" for name, note in offered_precisions().items()
                if note.startswith("not offered")]
    text = "fp32 gives the official pixels and stays the default; the faster precisions change them a little (shown after loading)."
    return text + (" Not offered here: " + " ".join(left_out) if left_out else "")


def describe_runtime(name: str, model) -> str:
    """What a model now runs with, and for int8 what quantising changed on pictures calibration did not see."""
    runtime = common.BACKEND_NAMES[model.backend] + ("" if model.precision == "fp32" else f" in **{model.precision}**")
    message = f"**{name}** runs with {runtime} on **{model.device.upper()}** in this session."
    fidelity = int8_fidelity(model) if model.precision == "int8" else None
    if fidelity is not None:
        verdict = ("a visible change: chosen explicitly, fp32 gives the official pixels" if fidelity.visible
                   else "no visible change")
        message += f" Measured against fp32 on held-out pictures: {fidelity.describe()} ({verdict})."
    return message


def _size(entry: ModelEntry) -> str:
    total = 0
    for source in entry.files.values():
        if source.startswith("hf://"):
            return "on the Hub"
        try:
            total += resolve_source(source, entry.base_dir).stat().st_size
        except (ModelNotFoundError, OSError):
            return "missing"
    return f"{total / 1e6:.1f} MB" if total >= 100_000 else f"{total / 1e3:.0f} kB"


def exportable(registry: Registry) -> list[str]:
    """Models that can be exported to ONNX: PyTorch or safetensors models that do a task."""
    return [entry.name for entry in registry.entries() if entry.format != "onnx" and entry.tasks]


MAX_UPLOADED_FILES = 8  # the most files one model is made of (StarGAN v2's or AdaIN's are 1 or 2)


def shown_source(source: str) -> str:
    """Where a model came from, for the table: an address as it is, a file by its name only (never a server path)."""
    if source.startswith(("hf://", "package://")) or "/" not in source:
        return source
    return Path(source).name


def _import_source(files: list[str] | None, address: str | None) -> tuple[str, str]:
    """What to import (a hub address, an uploaded file, or a folder of the uploaded files), and the origin
    to record for it (the address, or the uploaded files' names: their server paths mean nothing to anyone)."""
    address = (address or "").strip()
    if address:
        if not address.startswith("hf://"):
            raise GanStudioError("write a Hugging Face address as hf://owner/repo/path/to/file[@revision], or upload the file.")
        return address, address
    if not files:
        raise GanStudioError("upload a checkpoint file (or several for one model), or give an hf:// address.")
    if len(files) > MAX_UPLOADED_FILES:
        raise GanStudioError(f"one model is made of at most {MAX_UPLOADED_FILES} files; upload the files of one model.")
    origin = "upload of " + ", ".join(Path(path).name for path in files)
    if len(files) == 1:
        return files[0], origin
    # Several files make one model (CycleGAN's G_A and G_B): gather them under their own names.
    folder = common.output_folder()
    for path in files:
        shutil.copyfile(path, folder / Path(path).name)
    return str(folder), origin
