"""The benchmark: the training worker times a real training step; the precision table calls int8 visible as measured."""

from __future__ import annotations

import json
import subprocess
import sys

from support import REPO_ROOT


def test_training_worker_reports_steps_per_second_of_a_built_in_model():
    spec = {"model": "digits-dcgan", "device": "cpu", "steps": 2, "warmup": 1}
    done = subprocess.run([sys.executable, "-m", "ganstudio.bench", "--train-worker", json.dumps(spec)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["device"] == "cpu" and result["batch"] == 64
    assert 0 < result["steps_per_s"] < 1e4 and result["peak_rss_mb"] > 0


def _precision_result(psnr: float, fd: dict | None = None) -> dict:
    fidelity = {"mean_abs": 0.5, "max_abs": 20.0, "psnr_db": psnr, "values": 100}
    result = {"model": "m", "images_per_run": 1, "size": "64x64", "load": 0.5,
              "wall_ms": {"onnx fp32": 20.0, "onnx int8": 10.0}, "cpu_ms": {"onnx fp32": 30.0, "onnx int8": 12.0},
              "fidelity": {"int8": fidelity}}
    return {**result, "fd": fd} if fd else result


def test_int8_is_called_invisible_only_when_psnr_and_the_digit_judge_agree():
    from ganstudio.bench import _precision_row

    assert "no visible change" in _precision_row(_precision_result(38.0))
    assert "2.00x (2.50x)" in _precision_row(_precision_result(38.0))
    assert "visible: explicit only" in _precision_row(_precision_result(31.0))
    moved = _precision_row(_precision_result(40.0, {"fp32": 10.0, "int8": 14.0, "noise": 1.0}))
    within_noise = _precision_row(_precision_result(40.0, {"fp32": 10.0, "int8": 10.5, "noise": 1.0}))
    assert "visible: explicit only" in moved and "no visible change" in within_noise
