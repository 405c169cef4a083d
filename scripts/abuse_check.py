"""Abuse check: start a public studio on the loopback interface and try to read, crash, stall or fill it.

Not a unit test (``tests/ui/test_public_space.py`` holds those). It starts ``app.py --public`` on
127.0.0.1 with a user folder, a Hugging Face cache and a Gradio upload folder of its own, and a Hub
address where nothing listens, then plays a stranger with ``gradio_client`` and plain HTTP: path
tricks, forged files and descriptions, out-of-range numbers, other visitors' models and jobs, repeated
exports. Every call has a time limit and the traffic stays small (a few MB in all). For each case it
reports the expected and the actual outcome, how long it took, the server's memory, and whether a
normal request is still answered; then the disk the run left behind.

    python scripts/abuse_check.py [--json report.json]

Exit status 0 when every case came out as expected and the studio answered throughout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]
CALL_TIMEOUT_S = 60
SERVER_PATH_MARKERS = ("/tmp/", "/root/", "/proc/", "/home/", "/dev/", "/etc/", "/gradio/")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Outcome:
    case: str
    expected: str
    outcome: str
    ok: bool
    seconds: float
    serving: bool
    rss_mb: float
    detail: str


class Run:
    """The studio under test, its folders, and the outcomes so far."""

    def __init__(self, root: Path):
        self.root = root
        self.home, self.hub, self.uploads = root / "home", root / "hub", root / "gradio"
        self.server: subprocess.Popen | None = None
        self.url = ""
        self.outcomes: list[Outcome] = []

    # -- the studio ----------------------------------------------------------------------

    def start(self) -> None:
        from ui.studio import free_port, make_studio_registry, save_tiny_checkpoint

        make_studio_registry(self.home)  # tiny models, imported by the owner: shared ones
        save_tiny_checkpoint("dcgan", self.hub / "models--someone--repo" / "snapshots" / COMMIT / "gens" / "G.pth",
                             nz=8, ngf=4, n_layers=4)
        (self.hub / "models--someone--repo" / "refs").mkdir(parents=True)
        (self.hub / "models--someone--repo" / "refs" / "main").write_text(COMMIT)
        save_tiny_checkpoint("dcgan", self.root / "secret" / "netG_epoch_7.pth", nz=8, ngf=4, n_layers=4)
        (self.root / "secret" / "token.txt").write_text("hf_not_for_strangers\n")
        port = free_port()
        env = {**os.environ, "GANSTUDIO_HOME": str(self.home / "user"), "GRADIO_ANALYTICS_ENABLED": "False",
               "HF_HUB_CACHE": str(self.hub), "HF_ENDPOINT": "http://127.0.0.1:9", "GRADIO_TEMP_DIR": str(self.uploads)}
        for name in ("HF_HUB_OFFLINE", "SPACE_ID", "GANSTUDIO_PUBLIC", "GANSTUDIO_MAX_USER_MODELS"):
            env.pop(name, None)
        self.log = open(self.root / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.server = subprocess.Popen([sys.executable, "app.py", "--public", "--host", "127.0.0.1", "--port", str(port)],
                                       cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url, started = f"http://127.0.0.1:{port}/", time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                print(f"public studio at {self.url} answered {time.perf_counter() - started:.1f} s after start", flush=True)
                return
            except OSError:
                if self.server.poll() is not None or time.perf_counter() - started > 120:
                    raise SystemExit(f"app.py did not start; see {self.root / 'server.log'}") from None
                time.sleep(0.5)

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
            self.log.close()

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False)

    def rss_mb(self) -> float:
        """The server's resident memory now (MB)."""
        try:
            for line in Path(f"/proc/{self.server.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return -1.0

    def peak_rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.server.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return -1.0

    def serving(self) -> bool:
        """A normal request is still answered (a generation with a shared model)."""
        try:
            result = self.client().submit("tiny-dcgan", 1, 1, None, 0.0, api_name="/generate").result(timeout=CALL_TIMEOUT_S)
            return bool(result[1])
        except Exception:
            return False

    # -- cases ---------------------------------------------------------------------------

    def expect_refusal(self, case: str, call, *, contains: str | tuple[str, ...] = "", within_s: float = CALL_TIMEOUT_S,
                       echo: str = "") -> None:
        """``call()`` must fail with a message (containing one of ``contains``) that shows no server path; ``echo``
        is the attacker's own input, which the message may repeat."""
        started = time.perf_counter()
        options = (contains,) if isinstance(contains, str) else contains
        try:
            result = call()
            outcome, detail, ok = "accepted", _short(repr(result)), False
        except Exception as error:  # gradio_client's AppError, or our own assertion
            message = str(error)
            leaked = [marker for marker in SERVER_PATH_MARKERS if marker in message.replace(echo or "\0", "")]
            outcome = "refused" + (f", message shows {leaked}" if leaked else "")
            ok = not leaked and any(option in message for option in options)
            detail = _short(message)
        seconds = time.perf_counter() - started
        ok = ok and seconds <= within_s
        wanted = f" ({' or '.join(repr(option) for option in options)})" if any(options) else ""
        self.record(case, f"refused{wanted} within {within_s:.0f} s", outcome, ok, seconds, detail)

    def expect(self, case: str, expected: str, check) -> None:
        """``check()`` returns (ok, outcome text, detail)."""
        started = time.perf_counter()
        try:
            ok, outcome, detail = check()
        except Exception as error:
            ok, outcome, detail = False, f"error: {type(error).__name__}", _short(str(error) or traceback.format_exc())
        self.record(case, expected, outcome, ok, time.perf_counter() - started, detail)

    def record(self, case: str, expected: str, outcome: str, ok: bool, seconds: float, detail: str) -> None:
        serving = self.serving()
        entry = Outcome(case, expected, outcome, ok and serving, round(seconds, 2), serving, round(self.rss_mb(), 1), detail)
        self.outcomes.append(entry)
        mark = "ok  " if entry.ok else "FAIL"
        print(f"{mark} {case}: {outcome} ({seconds:.1f} s, server {entry.rss_mb:.0f} MB, "
              f"{'answering' if serving else 'NOT ANSWERING'})", flush=True)


def play(run: Run) -> None:
    """Every case, in order; each is independent of the ones before it."""
    import httpx
    from gradio_client import handle_file
    from PIL import Image

    work = run.root / "attacker"
    work.mkdir()
    alice, bob = run.client(), run.client()

    def predict(client, *args, api_name: str, **kwargs):
        return client.submit(*args, api_name=api_name, **kwargs).result(timeout=CALL_TIMEOUT_S)

    def import_model(client, files=None, address="", name="probe", overwrite=False):
        return predict(client, files, address, name, overwrite, api_name="/import_model")

    def names(client) -> set[str]:
        return {row[0] for row in predict(client, api_name="/list_models")[0]["data"]}

    snapshot = run.hub / "models--someone--repo" / "snapshots" / COMMIT
    secret = run.root / "secret"
    # -- reading files
    run.expect_refusal("hf:// path with '..' to a folder outside the cache",
                       lambda: import_model(alice, address=f"hf://someone/repo/{os.path.relpath(secret, snapshot)}"),
                       contains="'..' parts")
    description = {"name": "leak", "arch": "dcgan", "tasks": ["generate"], "format": "onnx",
                   "files": {"G": "/proc/self/environ"}}
    uploaded = httpx.post(f"{run.url}gradio_api/upload", timeout=30,
                          files={"files": ("model.json", json.dumps(description).encode())}).json()[0]
    address = f"hf://someone/repo/{os.path.relpath(Path(uploaded).parent, snapshot)}"
    run.expect_refusal("uploaded model.json reached through an hf:// path with '..'",
                       lambda: import_model(alice, address=address), contains="'..' parts", echo=address)
    run.expect_refusal("hf:// folder snapshot in a public studio",
                       lambda: import_model(alice, address="hf://someone/repo/gens"), contains="single files")
    # over plain HTTP: gradio_client would upload a path that exists on its own machine
    run.expect_refusal("server path passed as an uploaded file", lambda: call_over_http(run.url, "import_model", [[{
        "path": str(secret / "netG_epoch_7.pth"), "orig_name": "G.pth", "meta": {"_type": "gradio.FileData"}}], "",
        "stolen", False]))
    run.expect_refusal("model.json through the upload widget (file type)",
                       lambda: import_model(alice, files=[handle_file(str(_write(work / "model.json", json.dumps(description))))]))

    def file_route(path: str):
        status = httpx.get(f"{run.url}gradio_api/file={path}", timeout=30).status_code
        return status == 200, f"HTTP {status}", path

    for label, path in (("/etc/hostname", "/etc/hostname"), ("the studio's secret folder", str(secret / "token.txt")),
                        ("the user manifest", str(run.home / "user" / "manifest.json"))):
        run.expect(f"GET /gradio_api/file= {label}", "not served", lambda path=path: _negate(file_route(path)))

    checkpoint = _tiny_checkpoint(work / "netG_epoch_8.pth")

    def upload_then_fetch():
        path = httpx.post(f"{run.url}gradio_api/upload", timeout=30,
                          files={"files": ("netG_epoch_8.pth", checkpoint.read_bytes())}).json()[0]
        call_over_http(run.url, "import_model", [[{"path": path, "orig_name": "netG_epoch_8.pth",
                                                   "meta": {"_type": "gradio.FileData"}}], "", "used-upload", False])
        status = httpx.get(f"{run.url}gradio_api/file={path}", timeout=30).status_code
        return status != 200, f"after the import: HTTP {status}", path

    run.expect("another client's upload fetched once it was imported", "not served", upload_then_fetch)
    # -- memory
    run.expect_refusal("checkpoint whose zip directory declares 2 GiB",
                       lambda: import_model(alice, files=[handle_file(str(_zip_bomb(work / "netG_epoch_9.pth")))]),
                       contains="over this studio's limit")
    small = _write_image(work / "small.png", Image.new("RGBA", (256, 256), (0, 0, 0, 255)))
    huge = _write_image(work / "layer.png", Image.new("L", (5000, 5000)))
    run.expect_refusal("sketch layer of 5000x5000 (25 MP)", lambda: predict(
        alice, "tiny-sketch2digit", {"background": None, "layers": [handle_file(str(huge))],
                                     "composite": handle_file(str(small)), "id": None}, "AtoB", api_name="/translate_sketch"),
        contains="16 MP")
    run.expect_refusal("sketch of 40 layers", lambda: predict(
        alice, "tiny-sketch2digit", {"background": None, "layers": [handle_file(str(small))] * 40,
                                     "composite": handle_file(str(small)), "id": None}, "AtoB", api_name="/translate_sketch"),
        contains="at most 8")
    lie = _png_claiming(work / "lie.png", 20000, 20000)
    run.expect_refusal("PNG whose header claims 20000x20000",
                       lambda: predict(alice, "tiny-cyclegan", handle_file(str(lie)), "AtoB", api_name="/translate"),
                       contains=("over the limit", "too large to open safely"))
    strip = _write_image(work / "strip.png", Image.new("RGB", (20000, 8)))
    run.expect_refusal("20000x8 strip (enlarged for display: 640000x256)",
                       lambda: predict(alice, "tiny-cyclegan", handle_file(str(strip)), "AtoB", api_name="/translate"),
                       contains="times longer")
    exported = predict(alice, "tiny-cgan", api_name="/export_onnx")[0]
    onnx_file = next(path for path in exported if path.endswith(".onnx"))
    run.expect_refusal("an ONNX file from elsewhere (a crafted graph can ask for any memory)",
                       lambda: import_model(alice, files=[handle_file(onnx_file)]), contains="exported itself")
    # -- numbers and hangs (Gradio checks a Slider's or Number's range itself; the tasks check again)
    for label, args, endpoint, words in (
        ("generate with truncation 1e-9", ("tiny-dcgan", 1, 64, None, 1e-9), "/generate", "truncation"),
        ("generate 10^6 images", ("tiny-dcgan", 1, 10**6, None, 0.0), "/generate", "number of images"),
        ("generate with seed 2^40", ("tiny-dcgan", 2**40, 1, None, 0.0), "/generate", "seed"),
        ("interpolate 10^6 frames", ("tiny-dcgan", 1, 2, 10**6, "slerp", None, 100), "/interpolate", "steps"),
        ("interpolate frames of 10^9 ms", ("tiny-dcgan", 1, 2, 4, "slerp", None, 10**9), "/interpolate", "frame lasts"),
        ("stylize at max_side 10^9", ("magenta-26-styles", handle_file(str(small)), None, 0, 1.0, False, 10**9), "/stylize",
         "max_side"),
    ):
        run.expect_refusal(label, lambda args=args, endpoint=endpoint: predict(alice, *args, api_name=endpoint),
                           contains=(words, "is greater than maximum value"), within_s=15)
    run.expect_refusal("hf:// file while the Hub cannot be reached",
                       lambda: import_model(alice, address="hf://someone/repo/other/G.pth"), contains="cannot be reached",
                       within_s=8)
    # -- fine-tuning
    from ui.studio import training_pictures

    pictures = [handle_file(path) for path in training_pictures(work / "pictures", 10)]

    def start(client, base="tiny-dcgan", name="", steps=2, batch=4, lr=0.0002, size=32, files_b=None):
        return predict(client, base, pictures, files_b, name, False, steps, batch, lr, size, 0, False, 0.0, 0,
                       api_name="/finetune_start")

    run.expect_refusal("fine-tune 10^7 steps", lambda: start(alice, steps=10**7), contains="limit of 2000")
    run.expect_refusal("fine-tune a new CycleGAN at 2048 px",
                       lambda: start(alice, base="new cyclegan", size=2048, files_b=pictures), contains="limit of 128")
    run.expect_refusal("fine-tune a batch of 10^9", lambda: start(alice, batch=10**9), contains="limit of 32")
    run.expect_refusal("fine-tune with a learning rate of 1e30", lambda: start(alice, lr=1e30), contains="learning rate")
    # -- other visitors' things
    import_model(alice, files=[handle_file(str(checkpoint))], name="alices-model")
    run.expect("a visitor's model in another visitor's table", "absent",
               lambda: ("alices-model" not in names(bob), f"bob sees {sorted(names(bob))[:6]}…", ""))
    for label, args, endpoint in (("generate with", ("alices-model", 1, 1, None, 0.0), "/generate"),
                                  ("remove", ("alices-model",), "/remove_model"),
                                  ("export", ("alices-model",), "/export_onnx")):
        run.expect_refusal(f"{label} another visitor's model",
                           lambda args=args, endpoint=endpoint: predict(bob, *args, api_name=endpoint),
                           contains="not in the registry")
    run.expect_refusal("overwrite another visitor's model",
                       lambda: import_model(bob, files=[handle_file(str(checkpoint))], name="alices-model", overwrite=True),
                       contains="is taken")
    _, job_id, _ = start(alice, name="alices-job", steps=200)
    run.expect("another visitor's job in the jobs table", "absent",
               lambda: (job_id not in {row[0] for row in predict(bob, None, api_name="/finetune_jobs")[0]["data"]},
                        "not listed", job_id))
    for endpoint in ("/finetune_status", "/finetune_cancel", "/finetune_resume"):
        run.expect_refusal(f"{endpoint} of another visitor's job", lambda endpoint=endpoint: predict(
            bob, job_id, api_name=endpoint), contains="no job")
    run.expect_refusal("a second job of one visitor while the first is queued",
                       lambda: start(alice, name="second"), contains="queued or running")
    predict(alice, job_id, api_name="/finetune_cancel")
    carol = run.client()
    for index in range(3):
        import_model(carol, files=[handle_file(str(checkpoint))], name=f"carol-{index}")
    run.expect_refusal("a visitor's fourth model", lambda: import_model(carol, files=[handle_file(str(checkpoint))],
                                                                           name="carol-3"), contains="you keep 3 models")
    # -- disk
    def repeated_exports():
        folders = (run.home, run.uploads, Path(tempfile.gettempdir()) / "ganstudio-outputs")
        start = sum(_disk(folder) for folder in folders)
        predict(bob, "tiny-stargan-v2", api_name="/export_onnx")
        first = sum(_disk(folder) for folder in folders)
        for _ in range(9):
            predict(bob, "tiny-stargan-v2", api_name="/export_onnx")
        again = sum(_disk(folder) for folder in folders) - first
        return again < 2**20, (f"the first export took {(first - start) / 2**20:.1f} MB (files, zip, served copies), "
                               f"the 9 after it {again / 2**20:.2f} MB"), ""

    run.expect("10 ONNX exports of one model", "only the first takes disk", repeated_exports)
    # -- messages
    run.expect_refusal("a 5 MB model name", lambda: predict(bob, "x" * 5_000_000, 1, 1, None, 0.0, api_name="/generate"),
                       contains="not in the registry")
    run.expect("the 5 MB name echoed back", "at most 2000 characters of message", lambda: _echo_bounded(bob, predict))


def call_over_http(url: str, api_name: str, data: list) -> list:
    """Call an endpoint as a plain HTTP client does; raises with the error the studio sent, if any."""
    import httpx

    with httpx.Client(base_url=url, timeout=CALL_TIMEOUT_S) as http:
        response = http.post(f"/gradio_api/call/{api_name}", json={"data": data})
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        stream = http.get(f"/gradio_api/call/{api_name}/{response.json()['event_id']}").text
    events = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("event: ")]
    payload = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("data: ")]
    if "complete" not in events:
        raise RuntimeError(f"the studio refused: {payload[-1] if payload else events}")
    return json.loads(payload[-1])


def _echo_bounded(client, predict):
    try:
        predict(client, "y" * 5_000_000, 1, 1, None, 0.0, api_name="/generate")
    except Exception as error:
        return len(str(error)) < 2000, f"{len(str(error))} characters", _short(str(error))
    return False, "accepted", ""


def _negate(result):
    served, outcome, detail = result
    return not served, outcome, detail


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_image(path: Path, image) -> Path:
    image.save(path, optimize=True)
    return path


def _tiny_checkpoint(path: Path) -> Path:
    from ui.studio import save_tiny_checkpoint

    return save_tiny_checkpoint("dcgan", path, nz=8, ngf=4, n_layers=4, seed=8)


def _zip_bomb(path: Path) -> Path:
    """A torch.save file whose zip directory says its data unpacks to 2 GiB and 1 byte."""
    import torch

    torch.save({"weight": torch.zeros(4)}, path)
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x01\x02")
    while start != -1:
        length = struct.unpack("<H", data[start + 28:start + 30])[0]
        if data[start + 46:start + 46 + length].decode().endswith("/data/0"):
            struct.pack_into("<I", data, start + 24, 2 * 1024**3 + 1)
        start = data.find(b"PK\x01\x02", start + 4)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert sum(info.file_size for info in archive.infolist()) > 2 * 1024**3
    return path


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A valid 8x8 PNG whose header says width x height."""
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def _disk(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the outcomes to this file")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (server log, user folder)")
    args = parser.parse_args()
    run = Run(Path(tempfile.mkdtemp(prefix="ganstudio-abuse-")))
    started = time.perf_counter()
    try:
        run.start()
        play(run)
        peak = run.peak_rss_mb()
        disk = {"user folder": _disk(run.home / "user"), "uploads": _disk(run.uploads), "hub cache": _disk(run.hub)}
    finally:
        run.stop()
        if not args.keep:
            shutil.rmtree(run.root, ignore_errors=True)
    failed = [outcome for outcome in run.outcomes if not outcome.ok]
    print(f"\n{len(run.outcomes)} cases in {time.perf_counter() - started:.0f} s: {len(run.outcomes) - len(failed)} as "
          f"expected, {len(failed)} not; the studio answered after {sum(o.serving for o in run.outcomes)} of them. "
          f"Server peak memory {peak:.0f} MB; left on disk: "
          + ", ".join(f"{name} {size / 2**20:.1f} MB" for name, size in disk.items()))
    for outcome in failed:
        print(f"  not as expected: {outcome.case}: {outcome.outcome} ({outcome.detail})")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(o) for o in run.outcomes], indent=1), encoding="utf-8")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
