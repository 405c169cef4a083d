"""The app as a whole: API names, house rules for ui/, app.py's flags and start-up."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ui.studio import REPO_ROOT, free_port

UI_DIR = REPO_ROOT / "ganstudio" / "ui"
TASK_ENDPOINTS = {
    "/generate", "/random_seed", "/style_mix", "/move_along_directions", "/interpolate", "/translate", "/translate_sketch", "/edit_attributes", "/edit_domain",
    "/domain_grid", "/stylize", "/style_previews", "/list_models", "/set_backend", "/import_model", "/export_onnx",
    "/finetune_start", "/finetune_status", "/finetune_jobs", "/finetune_cancel", "/finetune_resume",
}


def test_every_task_is_an_api_endpoint_with_a_clear_name(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert TASK_ENDPOINTS <= named


def test_ui_modules_hold_no_torch_and_no_array_maths():
    for path in UI_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"torch", "numpy"}, f"{path.name} imports {imported & {'torch', 'numpy'}}"


def test_building_the_app_loads_no_model(studio_registry):
    from ganstudio.registry import Registry
    from ganstudio.ui import build_app

    registry = Registry(user_dir=studio_registry.user_dir)
    build_app(registry)
    assert registry.names("generate") and registry.loaded_names() == []


def test_app_py_serves_on_the_given_host_and_port_without_loading_models(tmp_path):
    port = free_port()
    env = {**os.environ, "GANSTUDIO_HOME": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_SERVER_PORT", None)
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = started + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.perf_counter() < deadline, "app.py did not answer within 60 s"
                time.sleep(0.5)
        print(f"app.py answered {time.perf_counter() - started:.1f} s after start")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=10) as response:
            assert b"/generate" in response.read()
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert not Path(tmp_path, "onnx").exists()  # nothing was exported or loaded at start


def test_every_callback_that_reads_models_or_jobs_runs_as_its_visitor(tmp_path):
    import typing

    import gradio as gr

    from ganstudio.policy import Policy
    from ganstudio.registry import Registry
    from ganstudio.ui import build_app

    app = build_app(Registry(user_dir=tmp_path / "user", policy=Policy.public_space()))
    unscoped = []
    for block_fn in app.fns.values():
        fn = block_fn.fn
        if fn is None:
            continue
        inner = inspect.unwrap(fn)
        reads = {"registry", "jobs"} & set(inner.__code__.co_freevars)
        if reads and not getattr(fn, "runs_as_visitor", False):
            unscoped.append(f"{block_fn.api_name or inner.__name__} (reads {', '.join(sorted(reads))})")
        elif getattr(fn, "runs_as_visitor", False):
            # Gradio fills the request in only when it can read the annotation
            assert typing.get_type_hints(fn)["request"] == typing.Optional[gr.Request], block_fn.api_name
    assert not unscoped, f"wrap these with common.user_errors or common.as_visitor: {unscoped}"
