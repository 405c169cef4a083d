"""Background fine-tuning: uploads are checked, jobs run in a worker process, a killed worker resumes."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from support import save_tiny_checkpoint

from ganstudio.errors import GanStudioError, LimitError
from ganstudio.policy import Policy, visiting
from ganstudio.registry import Registry
from ganstudio.tasks.generate import generate
from ganstudio.train.config import FinetuneConfig
from ganstudio.train.finetune import plan_finetune
from ganstudio.train.jobs import JobManager, run_job
from ganstudio.train.uploads import build_training_set, image_limit, load_images

TINY = {"nz": 8, "ngf": 4, "nc": 1, "n_layers": 4}


def _digit_pngs(folder, count, *, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(folder / f"img{index:02d}.png")
    return folder


def _tiny_config(steps, **changes):
    return FinetuneConfig(kind="dcgan", arch=TINY, disc={"ndf": 4}, steps=steps, batch_size=8, image_size=32,
                          checkpoint_every=changes.pop("checkpoint_every", 10), sample_every=changes.pop("sample_every", 0),
                          **changes)


@pytest.fixture
def manager(tmp_path):
    jobs = JobManager(Registry(user_dir=tmp_path / "user"))
    yield jobs
    jobs.stop(kill_worker=True)


def test_files_that_are_not_images_are_skipped_and_counted(tmp_path):
    folder = _digit_pngs(tmp_path / "pics", 10)
    (folder / "notes.txt").write_text("hello")
    Image.new("RGB", (4, 4)).save(folder / "tiny.png")
    arrays, _, _, report = load_images([folder], 32, channels=1)
    assert len(arrays) == 10 and arrays[0].shape == (32, 32, 1)
    assert report.used == 10 and len(report.skipped) == 2
    assert "2 skipped" in report.summary() and "not images" in report.summary() and "too small" in report.summary()


def test_too_few_images_are_refused_before_anything_starts(tmp_path):
    folder = _digit_pngs(tmp_path / "few", 3)
    with pytest.raises(GanStudioError, match="only 3 usable images; at least 8"):
        build_training_set("dcgan", files=[folder], size=32, channels=1)


def test_a_zip_with_a_folder_per_class_gives_labels_and_ignores_member_paths(tmp_path):
    archive = tmp_path / "digits.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for label in ("3", "7"):
            for index in range(5):
                buffer = io.BytesIO()
                Image.fromarray(np.full((20, 20), 40 * index, np.uint8)).save(buffer, format="PNG")
                handle.writestr(f"../../{label}/{index}.png", buffer.getvalue())
    data, report = build_training_set("cgan", files=[archive], size=32, channels=1,
                                      class_names=[str(d) for d in range(10)])
    assert data["images"].shape == (10, 32, 32, 1)
    assert sorted(set(data["labels"].tolist())) == [3, 7]
    assert report.classes == ["3", "7"]
    assert not (tmp_path.parent / "3").exists()


def test_folders_that_are_not_classes_of_the_base_model_are_explained(tmp_path):
    _digit_pngs(tmp_path / "data" / "cats", 8)
    with pytest.raises(GanStudioError, match="not classes of the base model"):
        build_training_set("cgan", files=[tmp_path / "data"], size=32, channels=1, class_names=["0", "1"])


def test_side_by_side_pairs_are_split_into_input_and_target(tmp_path):
    folder = tmp_path / "pairs"
    folder.mkdir()
    for index in range(8):
        pair = np.zeros((20, 40, 3), np.uint8)
        pair[:, 20:] = 255
        Image.fromarray(pair).save(folder / f"{index}.png")
    data, _ = build_training_set("pix2pix", files=[folder], size=16)
    assert data["A"].shape == (8, 16, 16, 3)
    assert data["A"].max() < 0.05 and data["B"].min() > 0.95


def test_plan_from_an_imported_base_starts_from_its_weights_at_its_size(tmp_path):
    registry = Registry(user_dir=tmp_path / "user")
    registry.import_model(save_tiny_checkpoint("dcgan", tmp_path / "netG.pth", **TINY), name="base")
    plan = plan_finetune(registry, base="base", steps=40)
    assert plan.kind == "dcgan" and plan.channels == 1 and plan.config.image_size == 32
    assert plan.config.arch == {**TINY}
    assert set(plan.config.init_from) == {"G"}
    assert plan.config.checkpoint_every == 4
    with pytest.raises(GanStudioError, match="choose a base model"):
        plan_finetune(registry)


def test_a_job_runs_in_a_worker_and_its_model_is_registered(manager, tmp_path):
    data, report = build_training_set("dcgan", files=[_digit_pngs(tmp_path / "pics", 12)], size=32, channels=1)
    job = manager.submit(name="My Digits", config=_tiny_config(12, sample_every=6), data=data,
                         data_report=report.to_json())
    manager.start()
    status = manager.wait(job.id, timeout=300)
    assert status.state == "done", status.message
    assert status.model == "my-digits" and status.step == 12 and status.sample.endswith("step_000012.png")
    assert status.device == ("cuda:0" if torch.cuda.is_available() else "cpu")  # "auto": the GPU when there is one
    assert [row["step"] for row in manager.losses(job.id)] == list(range(1, 13))
    # the model is usable everywhere, also after a restart
    model = Registry(user_dir=manager.registry.user_dir).load("my-digits")
    assert generate(model, seed=1).images[0].size == (32, 32)
    # its discriminator is kept, so that fine-tuning it again starts from a trained one
    assert set(plan_finetune(manager.registry, base="my-digits", steps=4).config.init_from) == {"G"}  # a fresh D
    again = plan_finetune(manager.registry, base="my-digits", steps=4, freeze_d_layers=1)  # FreezeD: its own D
    assert set(again.config.init_from) == {"G", "D"} and os.path.isfile(again.config.init_from["D"])
    assert again.config.disc == {"ndf": 4}  # its own width, not the built-in recipe's


def test_a_bundled_name_is_refused_and_nothing_is_queued(manager):
    with pytest.raises(GanStudioError, match="built-in model"):
        manager.submit(name="magenta-26-styles", config=_tiny_config(2), data={"images": np.zeros((8, 32, 32, 1), np.float32)})
    assert manager.jobs() == []


def test_a_failing_job_reports_why_and_leaves_the_registry_untouched(manager):
    before = manager.registry.names()
    wrong = {"images": np.zeros((8, 16, 16, 1), np.float32)}  # 16 px images for a 32 px model
    job = manager.submit(name="broken", config=_tiny_config(4), data=wrong)
    manager.start()
    status = manager.wait(job.id, timeout=300)
    assert status.state == "failed" and status.message
    assert manager.registry.names() == before


def test_a_job_that_asks_for_a_missing_gpu_fails_with_what_to_do(manager):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    images = {"images": np.zeros((8, 32, 32, 1), np.float32)}
    with pytest.raises(GanStudioError, match="auto, cuda, cpu"):
        manager.submit(name="tpu-run", config=_tiny_config(2), data=images, device="tpu")
    job = manager.submit(name="gpu-run", config=_tiny_config(2), data=images, device="cuda")
    assert run_job(manager.root / job.id) == 1
    status = manager.status(job.id)
    assert status.state == "failed" and "--device cpu" in status.message


def _wait_for_step(manager, job_id, step, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = manager.losses(job_id)
        if rows and rows[-1]["step"] >= step:
            return rows[-1]["step"]
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} never reached step {step}: {manager.status(job_id)}")


def test_a_killed_worker_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_run(manager, tmp_path):
    data = {"images": np.random.default_rng(0).random((32, 32, 32, 1), dtype=np.float32)}
    config = _tiny_config(600, checkpoint_every=20)
    job = manager.submit(name="resumed", config=config, data=data)
    manager.start()
    reached = _wait_for_step(manager, job.id, 45)
    os.kill(manager.worker_pid() or manager.status(job.id).pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while manager.status(job.id).state != "interrupted" and time.monotonic() < deadline:
        time.sleep(0.05)
    interrupted = manager.status(job.id)
    assert interrupted.state == "interrupted" and "resume" in interrupted.message
    assert reached < 600

    manager.resume(job.id)
    status = manager.wait(job.id, timeout=600)
    assert status.state == "done", status.message
    assert 40 <= status.resumed_from <= 600 and status.resumed_from % 20 == 0  # lost at most one checkpoint interval
    assert status.resumed_from >= reached - 20

    # the same job without the kill, in this process
    reference = tmp_path / "reference"
    reference.mkdir()
    for name in ("job.json", "status.json", "data.npz"):
        (reference / name).write_bytes((manager.root / job.id / name).read_bytes())
    assert run_job(reference) == 0
    from ganstudio.checkpoints import read_checkpoint

    resumed = read_checkpoint(manager.root / job.id / "work" / "model" / "G.safetensors")
    uninterrupted = read_checkpoint(reference / "work" / "model" / "G.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[key], uninterrupted[key]) for key in resumed)  # bit for bit


def test_cancel_stops_a_running_job_without_registering_it(manager):
    data = {"images": np.random.default_rng(0).random((16, 32, 32, 1), dtype=np.float32)}
    job = manager.submit(name="stopped", config=_tiny_config(5000, checkpoint_every=50), data=data)
    manager.start()
    _wait_for_step(manager, job.id, 5)
    manager.cancel(job.id)
    status = manager.wait(job.id, timeout=120)
    assert status.state == "cancelled" and status.step < 5000
    assert "stopped" not in manager.registry.names()


def test_a_cancelled_job_resumes_from_the_step_it_stopped_at(manager):
    data = {"images": np.random.default_rng(0).random((16, 32, 32, 1), dtype=np.float32)}
    # checkpoints every 1000 steps: a cancel lands between two of them, where train() checkpoints too
    job = manager.submit(name="resumable", config=_tiny_config(5000, checkpoint_every=1000), data=data)
    manager.start()
    _wait_for_step(manager, job.id, 5)
    manager.cancel(job.id)
    stopped = manager.wait(job.id, timeout=120)
    assert stopped.state == "cancelled" and 0 < stopped.step < 1000
    resumed = manager.resume(job.id)
    assert resumed.message == f"resuming from step {stopped.step}"
    _wait_for_step(manager, job.id, stopped.step + 1)
    assert manager.status(job.id).resumed_from == stopped.step
    manager.cancel(job.id)
    manager.wait(job.id, timeout=120)


def test_a_job_left_running_by_a_dead_app_is_interrupted_after_restart(tmp_path):
    registry = Registry(user_dir=tmp_path / "user")
    first = JobManager(registry)
    job = first.submit(name="orphan", config=_tiny_config(4), data={"images": np.zeros((8, 32, 32, 1), np.float32)})
    status_file = first.root / job.id / "status.json"
    status = json.loads(status_file.read_text())
    status.update(state="running", pid=2**22 + 12345)  # no such process
    status_file.write_text(json.dumps(status))
    restarted = JobManager(registry)
    assert restarted.status(job.id).state == "interrupted"
    assert "resume" in restarted.status(job.id).message


def test_an_image_size_the_generator_cannot_make_is_refused_before_starting(tmp_path):
    registry = Registry(user_dir=tmp_path / "user")
    registry.import_model(save_tiny_checkpoint("dcgan", tmp_path / "netG.pth", **TINY), name="base")
    with pytest.raises(GanStudioError, match="use image size 32"):
        plan_finetune(registry, base="base", image_size=64)


def test_a_name_another_job_will_register_is_refused(manager):
    data = {"images": np.zeros((8, 32, 32, 1), np.float32)}
    manager.submit(name="twice", config=_tiny_config(2), data=data)
    with pytest.raises(GanStudioError, match="will already register 'twice'"):
        manager.submit(name="twice", config=_tiny_config(2), data=data)


def test_job_ids_that_are_not_ids_are_refused(manager):
    with pytest.raises(GanStudioError, match="is not a job id"):
        manager.status("../../etc")


def test_replacing_a_model_drops_its_cached_weights(tmp_path):
    registry = Registry(user_dir=tmp_path / "user")
    registry.import_model(save_tiny_checkpoint("dcgan", tmp_path / "a.pth", seed=1, **TINY), name="mine")
    first = generate(registry.load("mine"), seed=0).images[0]
    registry.import_model(save_tiny_checkpoint("dcgan", tmp_path / "b.pth", seed=2, **TINY), name="mine", overwrite=True)
    second = generate(registry.load("mine"), seed=0).images[0]
    assert not np.array_equal(np.asarray(first), np.asarray(second))


def test_a_job_is_refused_before_training_when_the_studio_keeps_no_more_models(tmp_path):
    registry = Registry(user_dir=tmp_path / "user", max_user_models=1)
    registry.import_model(save_tiny_checkpoint("dcgan", tmp_path / "netG_epoch_0.pth", nz=8, ngf=4, n_layers=4), name="kept")
    jobs = JobManager(registry)
    with pytest.raises(GanStudioError, match="at most 1 models of its users"):
        jobs.submit(name="another", config=_tiny_config(2), data={"images": np.zeros((8, 32, 32, 1), np.float32)})
    assert jobs.jobs() == []


# -- limits and visitors (no job runs: the queue's scheduler is not started) ----------------------

DATA = {"images": np.zeros((8, 32, 32, 1), np.float32)}


@pytest.mark.parametrize(("options", "complaint"), [
    ({"steps": 10**7}, "steps 10000000 is over this public studio's limit of 2000"),
    ({"batch_size": 10**9}, "batch size 1000000000 is over this public studio's limit of 32"),
    ({"image_size": 2048}, "image size 2048 is over this public studio's limit of 128"),
    ({"lr": float("nan")}, "learning rate must be a number"),
    ({"steps": float("inf")}, "steps must be a whole number"),
])
def test_a_public_studio_refuses_jobs_over_its_limits_before_reading_anything(tmp_path, options, complaint):
    registry = Registry(user_dir=tmp_path / "user", policy=Policy.public_space())
    with pytest.raises(GanStudioError, match=complaint):
        plan_finetune(registry, kind="cyclegan", **options)


def test_even_a_private_studio_refuses_absurd_jobs(tmp_path):
    registry = Registry(user_dir=tmp_path / "user", policy=Policy.local())
    with pytest.raises(LimitError, match="image size 2048 is over this studio's limit of 1024"):
        plan_finetune(registry, kind="cyclegan", image_size=2048)
    with pytest.raises(GanStudioError, match="lr must be a positive number"):
        FinetuneConfig(kind="dcgan", lr=float("nan"))
    with pytest.raises(GanStudioError, match="batch_size must be a whole number from 1 to 4096"):
        FinetuneConfig(kind="dcgan", batch_size=10**9)
    jobs = JobManager(registry)
    with pytest.raises(LimitError, match="steps 1000000 is over this studio's limit of 100000"):
        jobs.submit(name="long", config=_tiny_config(10**6), data=DATA)  # a config built without plan_finetune
    assert jobs.jobs() == []


def test_a_training_set_is_bounded_in_images(tmp_path):
    folder = _digit_pngs(tmp_path / "pics", 12)
    with pytest.raises(LimitError, match="more than 10 usable images"):
        build_training_set("dcgan", files=[folder], size=32, channels=1, max_images=10)
    assert image_limit(1000, 256 * 2**20, 128) == 1000 and image_limit(1000, 256 * 2**20, 512) == 85


def test_jobs_belong_to_the_visitor_who_queued_them(tmp_path):
    jobs = JobManager(Registry(user_dir=tmp_path / "user", policy=Policy.public_space()))
    with visiting("alice"):
        job = jobs.submit(name="alices-job", config=_tiny_config(2), data=DATA)
        assert [status.id for status in jobs.jobs()] == [job.id]
    with visiting("bob"):
        assert jobs.jobs() == []
        for action in (jobs.status, jobs.cancel, jobs.resume, jobs.losses):
            with pytest.raises(GanStudioError, match=f"no job '{job.id}'"):
                action(job.id)
        with pytest.raises(GanStudioError, match="the name 'alices-job' is taken"):
            jobs.submit(name="alices-job", config=_tiny_config(2), data=DATA, overwrite=True)
    with visiting("alice"):
        assert jobs.cancel(job.id).state == "cancelled"
    assert [status.id for status in jobs.jobs()] == [job.id]  # outside a request: every job


def test_queued_jobs_take_their_place_under_the_quotas(tmp_path):
    registry = Registry(user_dir=tmp_path / "user", policy=Policy.public_space(max_user_models=2, max_active_jobs=3))
    jobs = JobManager(registry)
    with visiting("alice"):
        first = jobs.submit(name="a1", config=_tiny_config(2), data=DATA)
        with pytest.raises(LimitError, match="you have 1 job\\(s\\) queued or running"):
            jobs.submit(name="a2", config=_tiny_config(2), data=DATA)
    with visiting("bob"):
        jobs.submit(name="b1", config=_tiny_config(2), data=DATA)
    with visiting("carol"), pytest.raises(LimitError, match="at most 2 models of its users"):
        jobs.submit(name="c1", config=_tiny_config(2), data=DATA)  # two queued jobs fill a cap of two models
    with visiting("alice"):
        jobs.cancel(first.id)  # gives its place up
    with visiting("carol"):
        jobs.submit(name="c1", config=_tiny_config(2), data=DATA)
    with visiting("alice"), pytest.raises(LimitError, match="at most 2 models of its users"):
        jobs.resume(first.id)  # resuming takes a place again
