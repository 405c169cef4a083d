"""Training a fast style network: uploads make content photos and one style, the plan finds VGG-19, the loss falls,
and a killed job resumes to the same weights as an uninterrupted one.

VGG-19 has random weights in torchvision's layout (no real weights offline), cut after relu4_3, the deepest
layer the perceptual loss reads; the photos are 32 px.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import torch
from PIL import Image
from support import save_random_vgg19

from ganstudio.errors import GanStudioError, ModelNotFoundError
from ganstudio.registry import Registry
from ganstudio.tasks import stylize
from ganstudio.train.config import FinetuneConfigError
from ganstudio.train.finetune import plan_finetune
from ganstudio.train.jobs import JobManager, run_job
from ganstudio.train.loop import train
from ganstudio.train.uploads import build_training_set
from tests.train.conftest import random_vgg_file, tiny_case


def _photos(folder, count, *, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"photo{index:02d}.png")
    return folder


def test_uploads_become_square_photos_and_one_style_image_at_the_training_size(tmp_path):
    photos = _photos(tmp_path / "photos", 9)
    style = tmp_path / "style.png"
    Image.new("RGB", (120, 60), (200, 30, 30)).save(style)
    data, report = build_training_set("fast_style", files=[photos], files_b=[style], size=32)
    assert data["images"].shape == (9, 32, 32, 3) and data["style"].shape == (1, 16, 32, 3)
    assert report.used == 10 and np.allclose(data["style"][0, 8, 16], (200 / 255, 30 / 255, 30 / 255), atol=0.01)
    Image.new("RGB", (50, 50)).save(tmp_path / "second.png")
    with pytest.raises(GanStudioError, match="exactly one style image"):
        build_training_set("fast_style", files=[photos], files_b=[style, tmp_path / "second.png"], size=32)
    with pytest.raises(GanStudioError, match="found none"):
        build_training_set("fast_style", files=[photos], files_b=[], size=32)


def test_a_new_network_takes_the_examples_recipe_and_the_vgg_of_the_user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    registry = Registry(user_dir=tmp_path / "user")
    with pytest.raises(ModelNotFoundError, match=f"put either file in {tmp_path / 'user' / 'vgg19'}/"):
        plan_finetune(registry, kind="fast_style")
    vgg = save_random_vgg19(tmp_path / "user" / "vgg19" / "vgg19-dcbb9e9d.pth", last_layer="relu4_3")
    plan = plan_finetune(registry, kind="fast_style", steps=50, image_size=64)
    assert plan.config.options["vgg"] == str(vgg) and plan.channels == 3
    assert (plan.config.lr, plan.config.batch_size, plan.config.options["lambda_style"]) == (1e-3, 4, 1e10)
    with pytest.raises(GanStudioError, match="multiple of 4"):
        plan_finetune(registry, kind="fast_style", image_size=30)


def test_a_vgg_file_without_the_deep_layers_is_refused_before_training(tmp_path):
    config, data = tiny_case("fast_style")
    short = save_random_vgg19(tmp_path / "vgg19-dcbb9e9d.pth", last_layer="relu2_2")
    with pytest.raises(FinetuneConfigError, match="stops before relu3_3, relu4_3"):
        train(config.with_updates(options={**config.options, "vgg": str(short)}), data, tmp_path / "run")


def test_the_perceptual_loss_falls_and_the_network_stylises_like_an_official_file(tmp_path):
    config, data = tiny_case("fast_style")
    losses = []
    result = train(config.with_updates(steps=12, options={**config.options, "lambda_tv": 0.0}), data, tmp_path / "run",
                   on_progress=lambda step, total, values, samples: losses.append(values["total"]))
    assert np.mean(losses[-3:]) < 0.97 * np.mean(losses[:3]) and losses[-1] < losses[0], losses  # falls every step here
    registry = Registry(user_dir=tmp_path / "user")
    model = registry.load(str(result.files["G"]))  # read back as any TransformerNet file
    assert model.arch == "fast_style" and model.config == {"channels": 4, "n_residual": 1}
    assert stylize(model, Image.new("RGB", (36, 28), (10, 120, 200))).size == (36, 28)


def _wait_for_step(manager, job_id, step, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = manager.losses(job_id)
        if rows and rows[-1]["step"] >= step:
            return rows[-1]["step"]
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} never reached step {step}: {manager.status(job_id)}")


def test_a_killed_job_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_run(tmp_path):
    manager = JobManager(Registry(user_dir=tmp_path / "user"))
    try:
        config, data = tiny_case("fast_style")
        config = config.with_updates(steps=100, checkpoint_every=20, sample_every=40,
                                     options={**config.options, "vgg": random_vgg_file()})
        job = manager.submit(name="my-style", config=config, data=data)
        manager.start()
        reached = _wait_for_step(manager, job.id, 45)
        os.kill(manager.worker_pid() or manager.status(job.id).pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while manager.status(job.id).state != "interrupted" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert manager.status(job.id).state == "interrupted" and reached < 100
        manager.resume(job.id)
        status = manager.wait(job.id, timeout=600)
        assert status.state == "done", status.message
        assert status.resumed_from >= 40 and status.resumed_from % 20 == 0 and status.sample.endswith(".png")
        assert {row["step"] for row in manager.losses(job.id)} == set(range(1, 101))
        assert set(manager.losses(job.id)[0]) == {"step", "content", "style", "tv", "total"}
        assert manager.registry.get("my-style").tasks == ("stylize",)

        reference = tmp_path / "reference"
        reference.mkdir()
        for name in ("job.json", "status.json", "data.npz"):
            (reference / name).write_bytes((manager.root / job.id / name).read_bytes())
        assert run_job(reference) == 0
        from ganstudio.checkpoints import read_checkpoint

        resumed = read_checkpoint(manager.root / job.id / "work" / "model" / "G.safetensors")
        uninterrupted = read_checkpoint(reference / "work" / "model" / "G.safetensors")
        assert all(torch.equal(resumed[key], uninterrupted[key]) for key in uninterrupted)  # bit for bit
    finally:
        manager.stop(kill_worker=True)
