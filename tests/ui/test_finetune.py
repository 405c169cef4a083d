"""Fine-tune tab through its API: a job trains in the background, registers its model, and explains failures.

The jobs run for real (a worker process each, ten steps of the tiny DCGAN, a few seconds), in
the studio's shared registry, so their models also show up in the other tabs' endpoints.
"""

from __future__ import annotations

import json
import time

import pytest
from gradio_client import Client, handle_file

from ui.results import app_error, assert_not_blank, open_result
from ui.studio import save_tiny_checkpoint, serve, training_pictures

JOB_TIMEOUT_S = 240
# /finetune_start's other arguments, as keywords (for calls that must fail)
START_OPTIONS = {"files_b": None, "overwrite": False, "steps": 10, "batch_size": 8, "lr": 0.0002, "image_size": 32,
                 "freeze_d_layers": 0, "diff_augment": True, "ema_decay": 0.999, "seed": 0,
                 "api_name": "/finetune_start"}


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> list[str]:
    """Twelve crops of real photos as PNG files, and one file that is not an image."""
    folder = tmp_path_factory.mktemp("finetune-pictures")
    paths = training_pictures(folder, 12)
    (folder / "readme.png").write_text("not a picture\n")
    return [*paths, str(folder / "readme.png")]


def start(client, files, *, base="tiny-dcgan", name="", steps=10, image_size=32, files_b=None) -> tuple[str, str]:
    """Start a job as the Start button does; (message, job id)."""
    message, job_id, _ = client.predict(base, [handle_file(path) for path in files], files_b, name, False, steps, 8,
                                        0.0002, image_size, 0, True, 0.999, 0, api_name="/finetune_start")
    return message, job_id


def wait_until_finished(client, job_id: str) -> tuple[str, dict, str | None]:
    """Poll /finetune_status as the tab's timer does until the job has ended; (progress, losses plot, sample)."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        progress, losses, sample = client.predict(job_id, api_name="/finetune_status")
        if any(word in progress for word in ("**Done**", "**Failed**", "**Cancelled**", "**Interrupted**")):
            return progress, losses, sample
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s: {progress}")


def job_rows(client) -> dict[str, dict[str, str]]:
    table, _ = client.predict(None, api_name="/finetune_jobs")
    return {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}


def test_a_job_trains_in_the_background_and_its_model_is_usable_everywhere(client, pictures):
    started = time.perf_counter()
    message, job_id = start(client, pictures, name="ft-digits")
    assert time.perf_counter() - started < 30  # returns once the job is queued, long before it is trained
    assert "**ft-digits**" in message and "12 image(s) used; 1 skipped (1 not images)" in message
    assert job_rows(client)[job_id]["Name"] == "ft-digits"

    progress, losses, sample = wait_until_finished(client, job_id)
    assert "**Done** · step 10/10" in progress, progress
    assert "registered as **ft-digits**" in progress and "Generate and Interpolate tabs" in progress
    assert "ONNX" in progress and "Models" in progress
    points = losses["value"]["data"]  # the plot comes as an update: it is hidden while a job has no losses
    assert losses["visible"] and {row[0] for row in points} == set(range(1, 11))  # one point per step and loss
    assert {row[1] for row in points} == {"D", "G"}
    grid = open_result(sample)
    assert_not_blank(grid)
    assert min(grid.size) >= 256  # enlarged for display
    row = job_rows(client)[job_id]
    assert row["State"] == "done" and row["Step"] == "10/10"

    table, _ = client.predict(api_name="/list_models")
    assert "ft-digits" in {row[0] for row in table["data"]}
    originals = client.predict("ft-digits", 3, 2, None, 0.0, api_name="/generate")[1]
    assert open_result(originals[0]).size == (32, 32)


def test_too_few_images_are_refused_before_a_job_is_queued(client, pictures):
    before = job_rows(client)
    message = app_error(client, base_name="tiny-dcgan", files=[handle_file(path) for path in pictures[:3]],
                        name="too-few", **START_OPTIONS)
    assert "only 3 usable images; at least 8 are needed" in message
    assert job_rows(client) == before


def test_an_image_size_the_model_cannot_make_is_refused_before_anything_is_queued(client, pictures):
    before = set(job_rows(client))
    options = {**START_OPTIONS, "image_size": 64}
    message = app_error(client, base_name="tiny-dcgan", files=[handle_file(path) for path in pictures], name="too-big",
                        **options)
    assert "use image size 32" in message
    assert set(job_rows(client)) == before


def test_a_failing_job_says_why_and_registers_nothing(client, pictures, studio_registry):
    import numpy as np

    from ganstudio.train.config import FinetuneConfig
    from ganstudio.train.jobs import JobManager

    _, trigger = start(client, pictures, name="ft-before-failure", steps=2)  # the app's queue is running
    wait_until_finished(client, trigger)
    # 16 px pictures for a 32 px generator, queued behind the app's back: only the worker can find out
    config = FinetuneConfig(kind="dcgan", arch={"nz": 8, "ngf": 4, "nc": 1, "n_layers": 4}, disc={"ndf": 4}, steps=4,
                            batch_size=4, image_size=32)
    job_id = JobManager(studio_registry).submit(name="ft-wrong-size", config=config,
                                                data={"images": np.zeros((8, 16, 16, 1), np.float32)}).id
    progress, losses, _ = wait_until_finished(client, job_id)
    assert "**Failed**" in progress and "Nothing was added to the registry" in progress
    assert losses["visible"] is False  # no step was trained: no plot
    assert job_rows(client)[job_id]["Message"]
    table, _ = client.predict(api_name="/list_models")
    assert "ft-wrong-size" not in {row[0] for row in table["data"]}


def test_a_queued_job_can_be_cancelled_and_resumed(client, pictures):
    _, first = start(client, pictures, name="ft-first", steps=20)
    message, second = start(client, pictures, name="ft-second")
    assert "queued behind 1 job(s)" in message
    assert job_rows(client)[second]["State"] == "queued #1"
    cancelled = client.predict(second, api_name="/finetune_cancel")[0]
    assert "**Cancelled**" in cancelled and "cancelled before it started" in cancelled
    resumed = client.predict(second, api_name="/finetune_resume")[0]
    assert "**Queued**" in resumed
    assert "**Done**" in wait_until_finished(client, first)[0]
    assert "**Done**" in wait_until_finished(client, second)[0]
    assert "can be resumed" in app_error(client, job_id=second, api_name="/finetune_resume")


def test_the_form_follows_the_base_model(client):
    about, files, files_b, _, steps, batch_size, lr, image_size, ema = client.predict(
        "tiny-dcgan", api_name="/finetune_defaults")
    assert "from **tiny-dcgan**'s weights, at 32 px" in about
    assert image_size == 32 and steps == 300 and batch_size > 0 and lr > 0 and 0 < ema < 1
    assert files_b["visible"] is False
    about, files, files_b, *_ = client.predict("new cyclegan", api_name="/finetune_defaults")
    assert "from scratch" in about and files["label"].startswith("Domain A") and files_b["visible"] is True
    about, files, *_ = client.predict("tiny-cgan", api_name="/finetune_defaults")
    assert "folder per class" in about and "0, 1, 2" in about and ".zip" in files["label"]


def test_only_known_job_ids_are_accepted(client):
    assert "no job '../../etc'" in app_error(client, job_id="../../etc", api_name="/finetune_status")
    assert "no job 'nope'" in app_error(client, job_id="nope", api_name="/finetune_cancel")


def test_uploads_that_cannot_make_the_set_are_refused_with_what_to_upload(client, pictures):
    loose = [handle_file(path) for path in pictures[:10]]
    assert "upload one .zip with a folder per class" in app_error(client, base_name="tiny-cgan", files=loose, name="",
                                                                  **START_OPTIONS)
    assert "upload domain B's pictures too" in app_error(client, base_name="new cyclegan", files=loose, name="",
                                                         **START_OPTIONS)
    assert "upload your training pictures first" in app_error(client, base_name="tiny-dcgan", files=None, name="",
                                                              **START_OPTIONS)


def test_a_job_stopped_by_an_app_restart_is_listed_and_resumes_with_a_click(tmp_path, pictures):
    from ganstudio.registry import Registry
    from ganstudio.train.finetune import plan_finetune
    from ganstudio.train.jobs import JobManager
    from ganstudio.train.uploads import build_training_set

    registry = Registry(user_dir=tmp_path / "user")
    registry.import_model(save_tiny_checkpoint("dcgan", tmp_path / "netG.pth", nz=8, ngf=4, n_layers=4), name="base")
    plan = plan_finetune(registry, base="base", steps=6, batch_size=8)
    data, report = build_training_set("dcgan", files=pictures, size=32)
    job = JobManager(registry).submit(name="after-restart", config=plan.config, data=data, base="base",
                                      data_report=report.to_json())
    status_file = registry.user_dir / "jobs" / job.id / "status.json"  # the app stopped while the job ran
    status_file.write_text(json.dumps({**json.loads(status_file.read_text()), "state": "running", "pid": 2**22 + 1}))

    app, url = serve(registry)  # the restarted app
    try:
        client = Client(url, verbose=False)
        assert job_rows(client)[job.id]["State"] == "interrupted"
        progress = client.predict(job.id, api_name="/finetune_status")[0]
        assert "**Interrupted**" in progress and "**Resume** continues" in progress
        assert "**Queued**" in client.predict(job.id, api_name="/finetune_resume")[0]
        assert "**Done** · step 6/6" in wait_until_finished(client, job.id)[0]
        assert "after-restart" in registry.names("generate")
    finally:
        app.close()


def test_a_running_job_says_whether_it_trains_on_the_gpu_or_the_cpu():
    from ganstudio.train.jobs import JobStatus
    from ganstudio.ui.finetune import describe_job

    status = JobStatus(id="20261123-180000-abcd", name="sevens", kind="dcgan", state="running", step=3, total=10,
                       device="cuda:0")
    assert "(30%) · on the GPU" in describe_job(None, status, [status])
    status.device = "cpu"
    assert "(30%) · on the CPU" in describe_job(None, status, [status])
