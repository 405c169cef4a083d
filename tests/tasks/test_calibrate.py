"""Calibration through the tasks: each network's inputs are recorded as its task feeds them."""

from __future__ import annotations

import math

import numpy as np

from ganstudio.serving import load_model
from ganstudio.tasks.calibrate import TaskCalibration, sample_pictures


def test_recording_gives_each_network_the_inputs_its_task_fed_it(registry):
    model = load_model(registry, "digits-stargan-v2", backend="onnx")
    feeds = TaskCalibration().record(model)
    assert set(feeds) == {"generator", "mapping_network", "style_encoder"}
    for network, recorded in feeds.items():
        names = model.network(network).input_names
        assert recorded and all(list(feed) == names for feed in recorded)
    # the generator saw 32 px images in the model's -1..1 range, as edit_domain prepares them
    images = np.stack([feed[model.network("generator").input_names[0]] for feed in feeds["generator"]])
    assert images.shape[-2:] == (32, 32) and images.min() >= -1.0 and images.max() <= 1.0


def test_a_model_compared_with_itself_is_identical_on_the_held_out_pictures(registry):
    model = load_model(registry, "sketch2digit", backend="onnx")
    fidelity = TaskCalibration().compare(model, model)
    assert math.isinf(fidelity.psnr_db) and fidelity.max_abs == 0 and fidelity.values > 0


def test_held_out_pictures_are_not_the_calibration_pictures():
    fit = [np.asarray(picture) for picture in sample_pictures(held_out=False)]
    check = [np.asarray(picture) for picture in sample_pictures(held_out=True)]
    assert not any(a.shape == b.shape and np.array_equal(a, b) for a in fit for b in check)
