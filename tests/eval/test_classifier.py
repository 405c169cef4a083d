"""The judges: seeded training, the safetensors cache keyed by settings, and what the digit classifier reads."""

from __future__ import annotations

import numpy as np
import torch

from ganstudio.eval.classifier import (
    Classifier,
    ClassifierConfig,
    load_or_train,
    random_attributes,
    train_network,
    training_data,
)

TINY = ClassifierConfig(steps=4, batch_size=16, copies=0, width=4, feature_dim=8)


def test_training_is_seeded():
    images, labels = training_data(TINY)
    first, second = train_network(TINY, images, labels), train_network(TINY, images, labels)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def test_trained_weights_are_cached_as_safetensors_and_reloaded(tmp_path):
    from safetensors import safe_open

    trained = load_or_train(TINY, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.safetensors"))
    assert len(files) == 1 and files[0].name.startswith("digit-classifier-")
    with safe_open(str(files[0]), framework="pt") as handle:
        assert '"steps": 4' in handle.metadata()["config"]
    mtime = files[0].stat().st_mtime_ns
    reloaded = load_or_train(TINY, cache_dir=tmp_path)
    assert files[0].stat().st_mtime_ns == mtime  # loaded, not trained and written again
    digits = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(reloaded.probabilities(digits), trained.probabilities(digits), rtol=1e-6)


def test_a_damaged_cache_file_is_replaced(tmp_path):
    load_or_train(TINY, cache_dir=tmp_path)
    [path] = tmp_path.glob("*.safetensors")
    path.write_bytes(b"not safetensors")
    classifier = load_or_train(TINY, cache_dir=tmp_path)
    assert classifier.predict(np.zeros((1, 32, 32), dtype=np.float32)).shape == (1,)
    assert path.read_bytes() != b"not safetensors"


def test_other_settings_get_another_cache_entry(tmp_path):
    load_or_train(TINY, cache_dir=tmp_path)
    load_or_train(ClassifierConfig(steps=5, batch_size=16, copies=0, width=4, feature_dim=8), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("digit-classifier-*.safetensors"))) == 2


def test_digit_classifier_reads_the_intensity_map_whatever_the_colour(tmp_path):
    classifier = load_or_train(TINY, cache_dir=tmp_path)
    grey = np.random.default_rng(1).random((4, 32, 32)).astype(np.float32)
    red = grey[..., None] * np.array([1.0, 0.25, 0.25], dtype=np.float32)  # max over RGB = grey
    np.testing.assert_allclose(classifier.features(red), classifier.features(grey), rtol=1e-6)
    assert isinstance(classifier, Classifier) and classifier.features(grey).shape == (4, 8)


def test_random_attributes_give_intensity_maps_of_the_digit():
    from ganstudio.train.datasets import load_digits

    digits, _ = load_digits("train")
    rng = np.random.default_rng(2)
    maps = np.stack([random_attributes(d, rng) for d in digits[:50]])
    assert maps.shape == (50, 32, 32) and maps.dtype == np.float32
    assert 0.0 <= maps.min() and maps.max() <= 1.0
    assert (maps.reshape(50, -1).max(axis=1) > 0.5).all()  # no digit lost (shifts stay inside the frame)


def test_domain_training_data_holds_both_domains_half_and_half():
    images, labels = training_data(ClassifierConfig(kind="domain", steps=1, copies=0))
    assert images.shape[1:] == (32, 32, 3)
    assert labels.mean() == 0.5
    # Domain B has a textured background everywhere; domain A is black off the stroke.
    assert images[labels == 1].min(axis=(1, 2, 3)).min() > 0.0
    assert (images[labels == 0].reshape(int((labels == 0).sum()), -1).min(axis=1) == 0.0).all()
