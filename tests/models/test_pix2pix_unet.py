"""pix2pix U-Net generator: conformance (eval and the paper's batch-statistics mode), config inference, keys."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import flatten_state_dict, read_checkpoint
from ganstudio.errors import CheckpointError
from ganstudio.models import cyclegan_resnet, patchgan
from ganstudio.models import pix2pix_unet as arch
from ganstudio.registry import load_network

FOLDER = "pix2pix_unet256"


def load_like_registry(state_dict):
    """The registry's sequence: normalize_keys -> infer_config -> build -> strict load -> eval."""
    return load_network(arch, state_dict)


def read_fixture(conformance_dir, folder=FOLDER, name="latest_net_G.pth"):
    return flatten_state_dict(read_checkpoint(conformance_dir / folder / name))


def tiny_state_dict(config, seed=0):
    torch.manual_seed(seed)
    model = arch.build(config)
    for key, tensor in model.state_dict().items():
        if key.endswith("running_var"):
            tensor.copy_(torch.rand_like(tensor) + 0.5)
        elif tensor.is_floating_point():
            tensor.copy_(torch.randn_like(tensor) * 0.1)
    return model.state_dict()


def run_fixture(model, conformance_dir):
    with torch.no_grad():
        return model(torch.from_numpy(np.load(conformance_dir / FOLDER / "input.npy"))).numpy()


def test_fixture_output_matches_official_eval_output(conformance_dir):
    model, _ = load_like_registry(read_fixture(conformance_dir))
    expected = np.load(conformance_dir / FOLDER / "expected.npy")
    output = run_fixture(model, conformance_dir)
    assert output.shape == expected.shape
    assert np.abs(output - expected).max() <= 1e-4


def test_paper_mode_with_batch_statistics_matches_official_train_mode_without_dropout(conformance_dir):
    model, _ = load_like_registry(read_fixture(conformance_dir))
    arch.set_paper_test_mode(model, batch_statistics=True, dropout=False)
    expected = np.load(conformance_dir / FOLDER / "expected_train_nodropout.npy")
    assert np.abs(run_fixture(model, conformance_dir) - expected).max() <= 1e-4


def test_paper_mode_leaves_running_statistics_untouched_and_can_be_switched_off(conformance_dir):
    model, _ = load_like_registry(read_fixture(conformance_dir))
    before = {key: value.clone() for key, value in model.state_dict().items()}
    arch.set_paper_test_mode(model, batch_statistics=True, dropout=False)
    run_fixture(model, conformance_dir)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    arch.set_paper_test_mode(model, batch_statistics=False, dropout=False)
    expected = np.load(conformance_dir / FOLDER / "expected.npy")
    assert np.abs(run_fixture(model, conformance_dir) - expected).max() <= 1e-4


def test_paper_mode_with_dropout_makes_the_output_random(conformance_dir):
    model, _ = load_like_registry(read_fixture(conformance_dir))
    arch.set_paper_test_mode(model, batch_statistics=True, dropout=True)
    torch.manual_seed(1)
    first, second = run_fixture(model, conformance_dir), run_fixture(model, conformance_dir)
    assert np.abs(first - second).max() > 1e-2


def test_infer_config_on_fixture_equals_official_constructor_args(conformance_dir):
    args = json.loads((conformance_dir / FOLDER / "meta.json").read_text())["args"]
    config = arch.infer_config(arch.normalize_keys(read_fixture(conformance_dir)))
    assert config == arch.Config(
        input_nc=args["input_nc"],
        output_nc=args["output_nc"],
        num_downs=args["num_downs"],
        ngf=args["ngf"],
        norm=args["norm"],
        use_dropout=args["use_dropout"],
    )


@pytest.mark.parametrize(
    "config",
    [
        arch.Config(ngf=2, num_downs=7),
        arch.Config(ngf=2, num_downs=8),
        arch.Config(ngf=2, num_downs=5, norm="instance"),
        arch.Config(input_nc=1, output_nc=2, ngf=3, num_downs=6, norm="none"),
    ],
    ids=str,
)
def test_tiny_config_round_trips_through_its_state_dict(config):
    model, inferred = load_like_registry(tiny_state_dict(config))
    assert inferred == config
    side = arch.size_multiple(config)
    assert side == 2**config.num_downs
    with torch.no_grad():
        output = model(arch.example_inputs(config, batch=2)["input"])
    assert output.shape == (2, config.output_nc, side, side)


def test_use_dropout_leaves_no_trace_in_the_state_dict_and_is_inferred_true():
    with_dropout = arch.build(arch.Config(ngf=2, num_downs=7, use_dropout=True)).state_dict()
    without = arch.build(arch.Config(ngf=2, num_downs=7, use_dropout=False)).state_dict()
    assert {k: v.shape for k, v in with_dropout.items()} == {k: v.shape for k, v in without.items()}
    assert arch.infer_config(without).use_dropout is True


def test_preprocessing_size_multiple_is_unet_256_and_the_function_follows_num_downs():
    assert arch.describe(arch.Config()).preprocessing["size_multiple"] == 256
    assert arch.size_multiple(arch.Config(num_downs=7)) == 128


def test_normalize_keys_strips_module_prefix_and_is_idempotent():
    state_dict = tiny_state_dict(arch.Config(ngf=2, num_downs=5))
    wrapped = {f"module._orig_mod.{key}": value for key, value in state_dict.items()}
    once = arch.normalize_keys(wrapped)
    assert set(once) == set(state_dict)
    twice = arch.normalize_keys(once)
    assert set(twice) == set(once) and all(twice[key] is once[key] for key in once)


def test_normalize_keys_drops_stale_instance_norm_stats_but_keeps_batch_norm_stats():
    config = arch.Config(ngf=2, num_downs=5, norm="instance")
    stale = dict(tiny_state_dict(config))
    stale["model.model.1.model.2.running_mean"] = torch.zeros(4)
    stale["model.model.1.model.2.running_var"] = torch.ones(4)
    stale["model.model.1.model.6.num_batches_tracked"] = torch.tensor(5)
    assert set(arch.normalize_keys(stale)) == set(arch.build(config).state_dict())

    batch = tiny_state_dict(arch.Config(ngf=2, num_downs=5))
    assert set(arch.normalize_keys(batch)) == set(batch)


def test_normalize_keys_completes_batch_norm_files_from_before_pytorch_0_4():
    config = arch.Config(ngf=2, num_downs=5)
    old = {k: v for k, v in tiny_state_dict(config).items() if not k.endswith("num_batches_tracked")}
    _, inferred = load_like_registry(old)
    assert inferred == config


def test_matches_own_keys_and_not_other_architectures(conformance_dir):
    assert arch.matches(arch.normalize_keys(read_fixture(conformance_dir)))
    assert arch.matches(tiny_state_dict(arch.Config(ngf=2, num_downs=5, norm="instance")))
    assert not arch.matches(arch.normalize_keys(read_fixture(conformance_dir, "cyclegan_resnet9")))
    assert not arch.matches(read_fixture(conformance_dir, "dcgan64", "netG_epoch_24.pth"))
    assert not arch.matches(cyclegan_resnet.build(cyclegan_resnet.Config(ngf=4, n_blocks=2)).state_dict())
    assert not arch.matches(patchgan.build(patchgan.Config(ndf=4)).state_dict())


def test_another_architecture_is_refused_with_checkpoint_error(conformance_dir):
    with pytest.raises(CheckpointError, match="outermost down-conv"):
        arch.infer_config(arch.normalize_keys(read_fixture(conformance_dir, "cyclegan_resnet9")))


def test_changed_shape_is_refused_with_checkpoint_error():
    state_dict = dict(tiny_state_dict(arch.Config(ngf=2, num_downs=5)))
    state_dict["model.model.1.model.2.weight"] = torch.ones(7)
    with pytest.raises(CheckpointError, match="model.model.1.model.2.weight"):
        load_like_registry(state_dict)


def test_too_shallow_nesting_is_refused_with_checkpoint_error():
    state_dict = {k: v for k, v in tiny_state_dict(arch.Config(ngf=2, num_downs=5)).items()}
    shallow = {k: v for k, v in state_dict.items() if ".model.3.model.3.model." not in k}
    with pytest.raises(CheckpointError, match="at least 5"):
        arch.infer_config(shallow)
