"""Load test: start the app, drive it with concurrent gradio_client users mixing tasks, report latency and errors.

Not a unit test. It starts ``app.py`` on a free port (or uses ``--url``), gives each user its own
client session, and lets every user call a random task after the other until the time is up.
It then reports requests served, errors (the goal is 0) and p50/p95 latency per task, and checks
that the app still answers.

    python scripts/load_test.py --users 16 --duration 60 --tiny-models

``--tiny-models`` adds small random-weight models of every kind (those of the UI tests) so that
every task has a model even before the built-in digit models exist.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--url", help="drive a running app instead of starting one")
    parser.add_argument("--tiny-models", action="store_true", help="add tiny models of every kind (needs torch)")
    parser.add_argument("--concurrency", type=int, help="app.py --concurrency (default: the app's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    server, home = None, tempfile.mkdtemp(prefix="ganstudio-load-")
    url = args.url
    if url is None:
        if args.tiny_models:
            make_tiny_models(Path(home))
        server, url = start_app(Path(home) / "user", args.concurrency)
    try:
        from gradio_client import Client

        tasks = available_tasks(Client(url, verbose=False))
        mix = ", ".join(f"{name} [{call['model_name']}]" for name, call in tasks)
        print(f"app at {url}; tasks in the mix: {mix}", flush=True)
        records = run_users(url, tasks, users=args.users, duration=args.duration, seed=args.seed)
        answering = still_answers(url, tasks)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    figures = summarize(records, users=args.users, duration=args.duration, answering=answering)
    print(format_report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0 if figures["errors"] == 0 and answering else 1


# -- the app ---------------------------------------------------------------------------------

def make_tiny_models(home: Path) -> None:
    """The UI tests' tiny models, imported into ``home/user`` (the app's user folder)."""
    sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]
    from ui.studio import make_studio_registry

    make_studio_registry(home)


def start_app(user_dir: Path, concurrency: int | None) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free port with its own user folder; returns once it answers."""
    sys.path[:0] = [str(REPO_ROOT / "tests")]
    from ui.studio import free_port

    port = free_port()
    command = [sys.executable, "app.py", "--port", str(port)]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    env = {**os.environ, "GANSTUDIO_HOME": str(user_dir), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, started = f"http://127.0.0.1:{port}/", time.perf_counter()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            print(f"app.py answered {time.perf_counter() - started:.1f} s after start", flush=True)
            return server, url
        except OSError:
            if server.poll() is not None or time.perf_counter() - started > 120:
                server.kill()
                raise SystemExit("app.py did not start") from None
            time.sleep(0.5)


# -- the mix ---------------------------------------------------------------------------------

def available_tasks(client) -> list[tuple[str, dict]]:
    """(name, predict kwargs) for every task that has a model in the registry, with example inputs."""
    from gradio_client import handle_file

    sys.path[:0] = [str(REPO_ROOT)]
    from ganstudio.ui.examples import example

    table = client.predict(api_name="/list_models")[0]
    rows = [dict(zip(table["headers"], row)) for row in table["data"]]
    by_arch = defaultdict(list)
    for row in rows:
        by_arch[row["Architecture"]].append(row["Name"])
    cat, hubble = handle_file(example("cat")), handle_file(example("hubble"))
    tasks = []
    for arch in ("dcgan", "cgan"):
        for name in by_arch[arch][:1]:
            label = "1" if arch == "cgan" else None
            tasks.append((f"generate ({arch})", dict(api_name="/generate", model_name=name, seed=None, num_images=8,
                                                     label=label, truncation=0.0)))
            tasks.append((f"interpolate ({arch})", dict(api_name="/interpolate", model_name=name, seed_a=1, seed_b=2, steps=8,
                                                        mode="slerp", label=label, frame_ms=100)))
    for arch in ("cyclegan_resnet", "pix2pix_unet"):
        for name in by_arch[arch][:1]:
            tasks.append((f"translate ({arch})", dict(api_name="/translate", model_name=name, image=cat, direction="AtoB")))
    for name in by_arch["stargan"][:1]:
        tasks.append(("edit_attributes", dict(api_name="/edit_attributes", model_name=name, image=cat, attributes=[])))
    for name in by_arch["stargan_v2"][:1]:
        tasks.append(("edit_domain", dict(api_name="/edit_domain", model_name=name, image=cat, domain="0", guidance="seed",
                                          reference=None, seed=3)))
    for name in by_arch["magenta_arbitrary"][:1]:
        tasks.append(("stylize (arbitrary)", dict(api_name="/stylize", model_name=name, content=cat, style=hubble, style_index=0,
                                                  alpha=1.0, preserve_color=False, max_side=256)))
    for name in by_arch["magenta_multistyle"][:1]:
        tasks.append(("stylize (26 styles)", dict(api_name="/stylize", model_name=name, content=cat, style=None, style_index=5,
                                                  alpha=1.0, preserve_color=False, max_side=256)))
    if not tasks:
        raise SystemExit("the registry has no model to load the app with; try --tiny-models")
    return tasks


def run_users(url: str, tasks: list[tuple[str, dict]], *, users: int, duration: float, seed: int) -> list[tuple]:
    """Each user: its own session, random tasks back to back until the time is up. Records (task, seconds, error)."""
    from gradio_client import Client

    records: list[tuple[str, float, str | None]] = []
    lock = threading.Lock()
    start_together = threading.Barrier(users)
    deadline: list[float] = []

    def user(index: int) -> None:
        chooser = random.Random(seed + index)
        # Like a browser, which fetches what it shows when it shows it, the users do not download every output file.
        client = Client(url, verbose=False, download_files=False)
        start_together.wait()
        if not deadline:
            deadline.append(time.perf_counter() + duration)
        while time.perf_counter() < deadline[0]:
            name, call = chooser.choice(tasks)
            started = time.perf_counter()
            try:
                client.predict(**call)
                error = None
            except Exception as exc:  # gradio_client raises AppError and transport errors alike
                error = f"{type(exc).__name__}: {exc}"[:200]
            with lock:
                records.append((name, time.perf_counter() - started, error))

    threads = [threading.Thread(target=user, args=(index,), daemon=True) for index in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 600)
    return records


def still_answers(url: str, tasks: list[tuple[str, dict]]) -> bool:
    """After the load: a fresh session runs one call of each task."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    try:
        for _, call in tasks:
            client.predict(**call)
        return True
    except Exception as exc:
        print(f"after the load the app failed: {exc}", file=sys.stderr)
        return False


# -- the report ------------------------------------------------------------------------------

def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def summarize(records: list[tuple], *, users: int, duration: float, answering: bool) -> dict:
    per_task: dict[str, dict] = {}
    for name in sorted({record[0] for record in records}):
        times = [seconds for task, seconds, _ in records if task == name]
        errors = [error for task, _, error in records if task == name and error]
        per_task[name] = {"served": len(times) - len(errors), "errors": len(errors), "p50_s": round(percentile(times, 0.5), 3),
                          "p95_s": round(percentile(times, 0.95), 3), "mean_s": round(statistics.fmean(times), 3),
                          "first_errors": errors[:3]}
    errors = sum(task["errors"] for task in per_task.values())
    return {"users": users, "duration_s": duration, "requests": len(records), "served": len(records) - errors,
            "errors": errors, "per_second": round(len(records) / duration, 2), "answers_afterwards": answering,
            "tasks": per_task}


def format_report(figures: dict) -> str:
    lines = [
        f"{figures['users']} users for {figures['duration_s']:.0f} s: {figures['served']} requests served, "
        f"{figures['errors']} errors, {figures['per_second']} requests/s; "
        f"answers afterwards: {'yes' if figures['answers_afterwards'] else 'NO'}",
        "",
        "| task | served | errors | p50 (s) | p95 (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, task in figures["tasks"].items():
        lines.append(f"| {name} | {task['served']} | {task['errors']} | {task['p50_s']:.2f} | {task['p95_s']:.2f} |")
        lines += [f"|  ↳ {error} | | | | |" for error in task["first_errors"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
