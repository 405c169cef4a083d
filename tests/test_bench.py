"""The benchmark's training worker times a built-in model's real training step."""

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
