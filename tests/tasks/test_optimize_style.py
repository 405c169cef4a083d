"""optimize_style: the loss goes down with both optimisers and both VGG layouts; progress, cancellation, seeds, refusals.

VGG-19 here has random weights (no real weights can be fetched offline) at the real shapes, and images are 32 px,
so a whole run takes a fraction of a second.
"""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from ganstudio.errors import GanStudioError
from ganstudio.models import vgg19
from ganstudio.tasks.optimize_style import StyleProgress, optimize_style

SIDE = 32


def random_vgg(layout: str, seed: int = 0, **config) -> vgg19.VGG19Features:
    torch.manual_seed(seed)
    return vgg19.build(vgg19.Config(layout=layout, **config)).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def networks():
    return {layout: random_vgg(layout) for layout in ("torchvision", "adain")}


@pytest.fixture(scope="module")
def content():
    return Image.fromarray(data.astronaut()).resize((SIDE, SIDE), Image.LANCZOS)


@pytest.fixture(scope="module")
def style():
    return Image.fromarray(data.coffee()).resize((48, SIDE), Image.LANCZOS)


# Most tests read shallow layers: the forward pass stops there, which skips 95% of VGG-19's weights.
SHALLOW = {"style_layers": ("relu1_1", "relu2_1", "relu3_1"), "content_layer": "relu2_2"}


def run(content, style, vgg, **options) -> list[StyleProgress]:
    options = {"steps": 6, "progress_every": 1, "max_side": SIDE, "seed": 0, **SHALLOW, **options}
    return list(optimize_style(content, style, vgg=vgg, **options))


@pytest.mark.parametrize("layout", ["torchvision", "adain"])
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_loss_goes_down_with_each_optimizer(networks, content, style, layout, optimizer):
    gatys = {"style_layers": vgg19.GATYS_STYLE_LAYERS, "content_layer": vgg19.GATYS_CONTENT_LAYER}
    reports = run(content, style, networks[layout], optimizer=optimizer, steps=6, tv_weight=1.0, **gatys)
    totals = [report.losses["total"] for report in reports]
    assert totals[-1] < 0.5 * totals[0], totals
    assert all(set(report.losses) == {"content", "style", "tv", "total"} for report in reports)
    last = reports[-1].losses
    assert last["total"] == pytest.approx(last["content"] + last["style"] + last["tv"], rel=1e-5)
    assert reports[-1].image.size == (SIDE, SIDE) and not reports[-1].stopped


@pytest.mark.parametrize("term", ["content", "style", "tv"])
def test_each_term_alone_is_optimised_and_the_others_are_zero(networks, content, style, term):
    weights = {"content_weight": 0.0, "style_weight": 0.0, "tv_weight": 0.0, f"{term}_weight": 1.0}
    reports = run(content, style, networks["torchvision"], init="noise", optimizer="adam", steps=3, **weights)
    assert all(value == 0 for name, value in reports[-1].losses.items() if name not in (term, "total"))
    assert 0 < reports[-1].losses[term] < reports[0].losses[term]


def test_a_report_comes_every_n_steps_and_one_at_the_end(networks, content, style):
    reports = run(content, style, networks["torchvision"], steps=7, progress_every=3)
    assert [report.step for report in reports] == [3, 6, 7]
    assert all(report.steps == 7 and isinstance(report.image, Image.Image) for report in reports)
    assert [report.step for report in run(content, style, networks["torchvision"], steps=6, progress_every=3)] == [3, 6]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_step_is_one_forward_backward_pass(networks, content, style, optimizer):
    calls = []
    handle = networks["torchvision"].register_forward_hook(lambda *args: calls.append(1))
    try:
        run(content, style, networks["torchvision"], optimizer=optimizer, steps=5)
    finally:
        handle.remove()
    assert len(calls) == 2 + 5  # the content and style targets once, then one pass per step


def test_an_event_set_mid_run_stops_after_the_current_step_and_keeps_its_image(networks, content, style):
    stop = threading.Event()
    reports = []
    for report in optimize_style(content, style, vgg=networks["torchvision"], steps=50, progress_every=2,
                                 max_side=SIDE, seed=0, should_stop=stop, **SHALLOW):
        reports.append(report)
        stop.set()
    assert [(report.step, report.stopped) for report in reports] == [(2, False), (2, True)]
    assert np.array_equal(np.asarray(reports[-1].image), np.asarray(reports[0].image))


def test_a_stop_function_is_asked_before_every_step(networks, content, style):
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) > 3

    reports = run(content, style, networks["adain"], steps=50, progress_every=10, should_stop=should_stop)
    assert [(report.step, report.stopped) for report in reports] == [(3, True)]
    assert reports[-1].losses["total"] > 0


def test_a_background_worker_stops_promptly_when_told(networks, content, style):
    reports: queue.Queue = queue.Queue()
    stop = threading.Event()

    def work():
        try:
            for report in optimize_style(content, style, vgg=networks["torchvision"], steps=2000, progress_every=1,
                                         max_side=SIDE, seed=0, should_stop=stop, **SHALLOW):
                reports.put(report)
        except Exception as exc:  # noqa: BLE001 - handed to the test thread
            reports.put(exc)

    worker = threading.Thread(target=work)
    worker.start()
    assert isinstance(reports.get(timeout=30), StyleProgress)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    seen = []
    while not reports.empty():
        seen.append(reports.get())
    assert all(isinstance(report, StyleProgress) for report in seen)
    assert seen[-1].stopped and seen[-1].step < 2000
    assert [report.stopped for report in seen].count(True) == 1


def test_noise_start_is_repeatable_with_its_seed(networks, content, style):
    first = run(content, style, networks["torchvision"], init="noise", seed=7, optimizer="adam")[-1]
    again = run(content, style, networks["torchvision"], init="noise", seed=7, optimizer="adam")[-1]
    other = run(content, style, networks["torchvision"], init="noise", seed=8, optimizer="adam")[-1]
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert first.losses == again.losses
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))
    assert (first.seed, other.seed) == (7, 8)


def test_lbfgs_from_the_content_is_repeatable(networks, content, style):
    first = run(content, style, networks["adain"], optimizer="lbfgs")[-1]
    again = run(content, style, networks["adain"], optimizer="lbfgs")[-1]
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))


def test_an_unset_seed_is_chosen_and_reported(networks, content, style):
    reports = run(content, style, networks["torchvision"], init="noise", seed=None, steps=2)
    assert isinstance(reports[-1].seed, int) and reports[-1].seed >= 0
    assert {report.seed for report in reports} == {reports[-1].seed}


def test_content_larger_than_max_side_is_shrunk_and_never_enlarged(networks, style):
    large = Image.fromarray(data.astronaut()).resize((64, 48))
    assert run(large, style, networks["torchvision"], steps=1)[-1].image.size == (SIDE, 24 + 0)
    assert run(large, style, networks["torchvision"], steps=1, max_side=1024)[-1].image.size == (64, 48)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"steps": 0}, "steps"),
        ({"steps": 2001}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"max_side": 16}, "max_side"),
        ({"max_side": 4096}, "max_side"),
        ({"progress_every": 0}, "progress_every"),
        ({"content_weight": float("nan")}, "content_weight"),
        ({"style_weight": -1.0}, "style_weight"),
        ({"style_weight": float("inf")}, "style_weight"),
        ({"tv_weight": "1"}, "tv_weight"),
        ({"content_weight": 0, "style_weight": 0, "tv_weight": 0}, "nothing to optimise"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"seed": -1}, "seed"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"init": "zeros"}, "init"),
        ({"style_layers": ("relu1_1", "relu6_1")}, "relu6_1"),
        ({"style_layers": ("relu1_1", "relu1_1")}, "twice"),
        ({"style_layers": ()}, "no style layers"),
        ({"content_layer": "fc7"}, "fc7"),
        ({"should_stop": "yes"}, "should_stop"),
    ],
)
def test_invalid_options_are_refused_before_any_work(networks, content, style, options, words):
    with pytest.raises(GanStudioError, match=words):
        optimize_style(content, style, vgg=networks["torchvision"], **options)  # not iterated: refused at the call


def test_a_vgg_that_is_not_the_feature_network_is_refused(content, style):
    with pytest.raises(GanStudioError, match="load_vgg19"):
        optimize_style(content, style, vgg=torch.nn.Identity())


def test_an_image_too_small_for_the_deepest_layer_says_which(networks, content, style):
    narrow = content.resize((SIDE, 16))  # relu5_1 is after four pools: 16 px leaves one position
    with pytest.raises(GanStudioError, match=r"32x16.*relu5_1.*17 px"):
        optimize_style(narrow, style, vgg=networks["torchvision"])
    run(narrow, style, networks["torchvision"], steps=1)  # shallower layers fit


def test_a_file_cut_at_relu4_1_offers_only_its_layers(content, style):
    network = random_vgg("adain", depth=31)
    with pytest.raises(GanStudioError, match=r"no layer 'relu5_1'.*relu4_1"):
        optimize_style(content, style, vgg=network)
    run(content, style, network, steps=1, style_layers=("relu1_1", "relu2_1"), content_layer="relu4_1")


# -- as a background run (what the Style transfer tab does) ---------------------------------------

@pytest.fixture
def vgg_file(tmp_path):
    from support import save_random_vgg19

    return save_random_vgg19(tmp_path / "vgg19-dcbb9e9d.pth", last_layer="relu3_1")


def test_a_queued_optimisation_reports_its_image_and_losses_and_ends_with_the_result(vgg_file, content, style):
    from ganstudio.tasks.background import BackgroundRuns
    from ganstudio.tasks.optimize_style import submit_optimization

    runs = BackgroundRuns()
    options = {"steps": 4, "progress_every": 2, "max_side": SIDE, "seed": 0, "device": "cpu", **SHALLOW}
    status = submit_optimization(runs, content, style, vgg=vgg_file, **options)
    finished = runs.wait(status.id, timeout=120)
    assert finished.state == "done", finished.message
    assert finished.latest.step == 4 and finished.latest.image.size == (SIDE, SIDE)
    assert set(finished.latest.losses) == {"content", "style", "tv", "total"}
    # the network is read once: the next run with the same file reuses it
    again = runs.wait(submit_optimization(runs, content, style, vgg=vgg_file, **options).id, timeout=120)
    assert np.array_equal(np.asarray(again.latest.image), np.asarray(finished.latest.image))


def test_a_queued_optimisation_that_is_cancelled_keeps_its_last_image(vgg_file, content, style):
    from ganstudio.tasks.background import BackgroundRuns
    from ganstudio.tasks.optimize_style import submit_optimization

    runs = BackgroundRuns()
    status = submit_optimization(runs, content, style, vgg=vgg_file, steps=2000, progress_every=1, max_side=SIDE,
                                 device="cpu", **SHALLOW)
    while runs.status(status.id).latest is None:
        threading.Event().wait(0.02)
    runs.cancel(status.id)
    stopped = runs.wait(status.id, timeout=60)
    assert stopped.state == "cancelled" and stopped.latest.stopped and 1 <= stopped.latest.step < 2000
    assert stopped.latest.image.size == (SIDE, SIDE)


def test_a_queued_run_is_refused_before_it_starts_when_the_file_or_an_option_is_wrong(tmp_path, vgg_file, content,
                                                                                         style, monkeypatch):
    from ganstudio.errors import ModelNotFoundError
    from ganstudio.tasks.background import BackgroundRuns
    from ganstudio.tasks.optimize_style import submit_optimization

    runs = BackgroundRuns()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ModelNotFoundError, match="vgg19-dcbb9e9d.pth"):
        submit_optimization(runs, content, style, search=[tmp_path / "none"])
    with pytest.raises(GanStudioError, match="steps must be a whole number from 1 to 2000"):
        submit_optimization(runs, content, style, vgg=vgg_file, steps=0)
    with pytest.raises(GanStudioError, match="no layer 'relu9_1'"):
        submit_optimization(runs, content, style, vgg=vgg_file, style_layers=["relu9_1"])
    with pytest.raises(GanStudioError, match="unknown option"):
        submit_optimization(runs, content, style, vgg=vgg_file, stepz=3)
    # a layer past the end of this cut file is found out when the run starts, and said
    failed = runs.wait(submit_optimization(runs, content, style, vgg=vgg_file, device="cpu", max_side=SIDE).id, 60)
    assert failed.state == "failed" and "no layer 'relu4_1'" in failed.message
