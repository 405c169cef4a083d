"""Two processes with Gloo train the same model as one process on the same data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from support import REPO_ROOT

from ganstudio.checkpoints import read_checkpoint
from ganstudio.errors import BackendError
from ganstudio.train import distributed
from ganstudio.train.config import FinetuneConfig
from ganstudio.train.uploads import save_training_set


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(arguments: list[str], **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    done = subprocess.run([sys.executable, *arguments], cwd=REPO_ROOT, env=environment, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="this PyTorch build has no Gloo backend")
def test_two_gloo_processes_match_one_process(tmp_path):
    # pix2pix with instance norm: no noise and no batch statistics, so the split batch is exactly the whole batch
    config = FinetuneConfig(kind="pix2pix", arch={"num_downs": 5, "ngf": 4, "norm": "instance", "use_dropout": False},
                            disc={"ndf": 4, "n_layers": 2, "norm": "instance"}, steps=4, batch_size=4,
                            checkpoint_every=2, image_size=32, seed=3)
    config.save(tmp_path / "config.json")
    rng = np.random.default_rng(0)
    save_training_set({"A": rng.random((16, 32, 32, 3), dtype=np.float32), "B": rng.random((16, 32, 32, 3), dtype=np.float32)},
                      tmp_path / "data.npz")
    common = ["--config", str(tmp_path / "config.json"), "--data", str(tmp_path / "data.npz"), "--device", "cpu"]

    _run(["-m", "ganstudio.train.torchrun", *common, "--workdir", str(tmp_path / "single")])
    two = _run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(_free_port()), "-m", "ganstudio.train.torchrun", *common,
                "--workdir", str(tmp_path / "double")])
    assert "on 2 process(es) (cpu, gloo)" in two.stdout

    single = read_checkpoint(tmp_path / "single" / "model" / "G.safetensors")
    double = read_checkpoint(tmp_path / "double" / "model" / "G.safetensors")
    assert single.keys() == double.keys()
    floats = [k for k in single if single[k].is_floating_point()]
    differences = torch.cat([(single[k] - double[k]).abs().flatten() for k in floats])
    # Adam divides each gradient by its running RMS, so a gradient that is zero up to float rounding (summed in
    # another order over two processes) may step either way: a few weights differ by up to 2*lr per step,
    # the rest match to float precision.
    assert float(torch.quantile(differences, 0.99)) <= 1e-5
    assert float(differences.mean()) <= 1e-5
    assert float(differences.max()) <= 2 * config.lr * config.steps
    difference = float(differences.mean())
    # training moved the weights far more than the two runs differ: the match is not between two initialisations
    from ganstudio.train.trainers import build_trainer
    from ganstudio.train.uploads import load_training_set

    torch.manual_seed(config.seed)
    initial = build_trainer(config, load_training_set(tmp_path / "data.npz")).exported(calibrate=False)["G"]
    moved = float(torch.cat([(single[k] - initial[k]).abs().flatten() for k in floats]).mean())
    assert moved > 100 * max(difference, 1e-9)


def test_under_torchrun_each_process_trains_on_the_gpu_of_its_local_rank_over_nccl(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert distributed.device_for("auto") == torch.device("cuda", 3)
    assert distributed.backend_for(distributed.device_for("auto")) == "nccl"
    assert distributed.device_for("cpu") == torch.device("cpu")


def test_more_processes_than_gpus_are_refused_with_the_right_process_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(BackendError, match="--nproc_per_node 2"):
        distributed.device_for("auto")


def test_without_a_gpu_processes_train_on_the_cpu_over_gloo(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.device_for("auto") == torch.device("cpu")
    assert distributed.backend_for(distributed.device_for("auto")) == "gloo"
    with pytest.raises(BackendError, match="--device cpu"):
        distributed.device_for("cuda")
