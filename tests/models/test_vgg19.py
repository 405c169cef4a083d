"""VGG-19 features: both file layouts load, each with its own input normalisation and layer indices; finding the file."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganstudio import feature_network
from ganstudio.checkpoints import load_state_dict_strictly
from ganstudio.errors import (
    CheckpointError,
    GanStudioError,
    ModelNotFoundError,
    UnsafeCheckpointError,
)
from ganstudio.models import adain, vgg19

# torchvision's vgg19 (cfgs["E"]): the Sequential index of each conv in ``features`` and its widths, written out
# here rather than taken from the module under test.
TORCHVISION_CONVS = {
    0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128),
    10: (128, 256), 12: (256, 256), 14: (256, 256), 16: (256, 256),
    19: (256, 512), 21: (512, 512), 23: (512, 512), 25: (512, 512),
    28: (512, 512), 30: (512, 512), 32: (512, 512), 34: (512, 512),
}
# The real classifier is (4096, 25088), (4096, 4096), (1000, 4096): 400 MB. Its keys are what must be accepted and
# dropped; their shapes never matter, so small ones keep the test file small.
CLASSIFIER = {"classifier.0": (16, 32), "classifier.3": (16, 16), "classifier.6": (10, 16)}


def random_torchvision_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision's vgg19 state dict keys, with He-initialised random convs (so activations do not vanish)."""
    generator = torch.Generator().manual_seed(seed)
    state_dict = {}
    for index, (cin, cout) in TORCHVISION_CONVS.items():
        state_dict[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=generator) * (2 / (9 * cin)) ** 0.5
        state_dict[f"features.{index}.bias"] = torch.randn(cout, generator=generator) * 0.01
    for name, shape in CLASSIFIER.items():
        state_dict[f"{name}.weight"] = torch.randn(*shape, generator=generator)
        state_dict[f"{name}.bias"] = torch.randn(shape[0], generator=generator)
    return state_dict


def random_adain_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """AdaIN's whole 53-module normalised VGG (net.py ``vgg``, mirrored by adain.make_vgg), random weights."""
    torch.manual_seed(seed)
    return adain.make_vgg().state_dict()


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory):
    # The 2017 release predates the zip serialization: save it the old way, as the real file is.
    path = tmp_path_factory.mktemp("torchvision") / vgg19.TORCHVISION_FILE
    torch.save(random_torchvision_state_dict(), path, _use_new_zipfile_serialization=False)
    return path


@pytest.fixture(scope="module")
def adain_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("adain") / "vgg_normalised.pth"
    torch.save(random_adain_state_dict(), path, _use_new_zipfile_serialization=False)
    return path


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


# --------------------------------------------------------------------------- finding the file


def test_the_torch_hub_cache_file_is_found_and_loads(torch_home, torchvision_file):
    cached = torch_home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(torchvision_file.read_bytes())
    assert feature_network.find_vgg19() == cached
    network = feature_network.load_vgg19()
    assert network.layout == "torchvision" and not network.training
    assert not any(parameter.requires_grad for parameter in network.parameters())


def test_no_vgg_anywhere_says_where_to_put_which_file(torch_home):
    with pytest.raises(ModelNotFoundError) as caught:
        feature_network.find_vgg19()
    message = str(caught.value)
    assert str(torch_home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in message
    assert "--vgg PATH" in message and "vgg_normalised.pth" in message
    assert isinstance(caught.value, GanStudioError) and isinstance(caught.value, LookupError)


def test_without_torch_home_the_hub_cache_is_under_the_home_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=str(tmp_path / ".cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth")):
        feature_network.find_vgg19()


def test_a_given_path_wins_over_the_hub_cache(torch_home, adain_file):
    assert feature_network.find_vgg19(adain_file) == adain_file
    assert feature_network.find_vgg19(str(adain_file.parent)) == adain_file  # a folder holding a known name


def test_a_search_folder_is_looked_in_before_the_hub_cache_and_named_when_empty(torch_home, adain_file, tmp_path):
    empty = tmp_path / "user" / "vgg19"
    with pytest.raises(ModelNotFoundError, match=f"put either file in {empty}/"):
        feature_network.find_vgg19(folders=[empty])
    assert feature_network.find_vgg19(folders=[empty, adain_file.parent]) == adain_file


def test_a_given_path_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"nope\.pth.*--vgg"):
        feature_network.find_vgg19(tmp_path / "nope.pth")
    with pytest.raises(ModelNotFoundError, match="holds no VGG-19 weights"):
        feature_network.find_vgg19(tmp_path)


# --------------------------------------------------------------------------- the two layouts


def test_torchvision_file_loads_strictly_and_its_classifier_is_dropped(torchvision_file):
    network = feature_network.load_vgg19(torchvision_file)
    written = torch.load(torchvision_file, weights_only=True)
    loaded = network.state_dict()
    assert set(loaded) == {key for key in written if key.startswith("features.")}
    assert all(torch.equal(loaded[key], written[key]) for key in loaded)
    assert network.available_layers[-1] == "pool5"


def test_adain_full_53_module_file_loads(adain_file):
    network = feature_network.load_vgg19(adain_file)
    assert network.layout == "adain" and len(network.features) == 53
    assert network.available_layers[-1] == "relu5_4"
    written = torch.load(adain_file, weights_only=True)
    assert all(torch.equal(network.state_dict()[f"features.{key}"], value) for key, value in written.items())


def test_adain_file_cut_at_relu4_1_gives_the_layers_up_to_relu4_1(tmp_path):
    path = tmp_path / "vgg_normalised.pth"
    torch.save({k: v for k, v in random_adain_state_dict().items() if int(k.split(".")[0]) < 31}, path)
    network = feature_network.load_vgg19(path)
    assert network.available_layers[-1] == "relu4_1"
    with pytest.raises(KeyError, match="relu5_1"):
        network(torch.rand(1, 3, 32, 32), ["relu5_1"])


def test_layer_indices_are_the_official_ones():
    # torchvision: the ReLU indices that the PyTorch tutorial and pytorch/examples tap.
    tv = vgg19.LAYERS["torchvision"]
    assert [tv[f"relu{b}_1"] for b in range(1, 6)] == [1, 6, 11, 20, 29]
    assert (tv["conv4_2"], tv["relu4_2"], tv["relu2_2"], tv["relu3_3"], tv["relu4_3"]) == (21, 22, 8, 15, 24)
    assert sorted(tv[name] for name in tv if name.startswith("conv")) == sorted(TORCHVISION_CONVS)
    # AdaIN: net.py's Sequential; Net splits the encoder at modules 4, 11, 18, 31 (just after relu1_1 ... relu4_1).
    ad = vgg19.LAYERS["adain"]
    assert [ad[f"relu{b}_1"] + 1 for b in range(1, 5)] == [end for _, end in adain._ENCODER_STAGES]
    assert (ad["conv4_2"], ad["relu4_2"], ad["relu5_1"], ad["relu5_4"]) == (32, 33, 43, 52)
    official_convs = [i for i, module in enumerate(adain.make_vgg()) if isinstance(module, torch.nn.Conv2d)]
    assert sorted(ad[name] for name in ad if name.startswith("conv")) == official_convs[1:]  # [0] is the 1x1


def conv_relu(x, state_dict, index, *, reflect):
    weight, bias = state_dict[f"{index}.weight"], state_dict[f"{index}.bias"]
    if reflect:
        return F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), weight, bias))
    return F.relu(F.conv2d(x, weight, bias, padding=1))


def test_torchvision_layout_normalises_with_the_imagenet_mean_and_std(torchvision_file):
    network = feature_network.load_vgg19(torchvision_file)
    weights = {k.removeprefix("features."): v for k, v in torch.load(torchvision_file, weights_only=True).items()}
    image = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    expected = conv_relu((image - mean) / std, weights, 0, reflect=False)
    unnormalised = conv_relu(image, weights, 0, reflect=False)
    got = network(image, ["relu1_1"])["relu1_1"]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert (got - unnormalised).abs().max() > 1e-2  # the check tells the two apart


def test_adain_layout_feeds_0_to_1_straight_into_its_1x1_conv(adain_file):
    network = feature_network.load_vgg19(adain_file)
    weights = torch.load(adain_file, weights_only=True)
    image = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    straight = F.conv2d(image, weights["0.weight"], weights["0.bias"])
    normalised = F.conv2d((image - mean) / std, weights["0.weight"], weights["0.bias"])
    got = network(image, ["relu1_1"])["relu1_1"]
    torch.testing.assert_close(got, conv_relu(straight, weights, 2, reflect=True), atol=1e-5, rtol=1e-5)
    assert (got - conv_relu(normalised, weights, 2, reflect=True)).abs().max() > 1e-2


def test_adain_layout_gives_the_adain_encoders_relu4_1(adain_file):
    # Same weights, two loaders: the style-transfer container keeps vgg[:31] and ends at relu4_1.
    network = feature_network.load_vgg19(adain_file)
    container = adain.build(adain.Config())
    written = torch.load(adain_file, weights_only=True)
    container.vgg.load_state_dict({k: v for k, v in written.items() if int(k.split(".")[0]) < adain.ENCODER_LENGTH})
    image = torch.rand(1, 3, 37, 29, generator=torch.Generator().manual_seed(2))  # odd sides: ceil-mode pools
    with torch.no_grad():
        features = network(image, ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
        expected = container.encode_with_intermediate(image)
    for got, want in zip(features.values(), expected):
        torch.testing.assert_close(got, want)


def test_conformance_vgg_normalised_loads(conformance_dir):
    # The official-format fixture: old serialization, layers 32-51 stored as broadcast views.
    network = feature_network.load_vgg19(conformance_dir / "adain" / "vgg_normalised.pth")
    assert network.layout == "adain" and network.available_layers[-1] == "relu5_4"


def test_taps_come_back_in_the_order_asked_with_conv_values_before_the_relu(torchvision_file):
    network = feature_network.load_vgg19(torchvision_file)
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    features = network(image, ["relu4_2", "conv4_2", "relu1_1"])
    assert list(features) == ["relu4_2", "conv4_2", "relu1_1"]
    assert features["conv4_2"].min() < 0  # not overwritten by an in-place ReLU
    torch.testing.assert_close(features["relu4_2"], F.relu(features["conv4_2"]))
    assert features["relu1_1"].shape == (1, 64, 32, 32) and features["relu4_2"].shape == (1, 512, 4, 4)


@pytest.mark.parametrize("layout", ["torchvision", "adain"])
def test_avg_pooling_swaps_every_pool_and_keeps_the_weights(layout):
    torch.manual_seed(4)
    state_dict = vgg19.build(vgg19.Config(layout=layout)).state_dict()
    max_net = vgg19.build(vgg19.Config(layout=layout))
    avg_net = vgg19.build(vgg19.Config(layout=layout, pooling="avg"))
    load_state_dict_strictly(max_net, state_dict, arch="vgg19")
    load_state_dict_strictly(avg_net, state_dict, arch="vgg19")
    max_pools = [m for m in max_net.features if isinstance(m, torch.nn.MaxPool2d)]
    avg_pools = [m for m in avg_net.features if isinstance(m, torch.nn.AvgPool2d)]
    assert len(max_pools) == len(avg_pools) == (5 if layout == "torchvision" else 4)
    assert all(m.ceil_mode == a.ceil_mode == (layout == "adain") for m, a in zip(max_pools, avg_pools))
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(max_net(image, ["relu1_2"])["relu1_2"], avg_net(image, ["relu1_2"])["relu1_2"])
        assert not torch.allclose(max_net(image, ["relu2_1"])["relu2_1"], avg_net(image, ["relu2_1"])["relu2_1"])


def test_gram_matrix_is_divided_by_channels_times_positions():
    features = torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4)
    flat = features.reshape(2, 12)
    torch.testing.assert_close(vgg19.gram_matrix(features), (flat @ flat.T / 24)[None])


# --------------------------------------------------------------------------- refusals


def test_vgg19_with_batch_norm_is_refused_with_a_reason(tmp_path):
    state_dict = random_torchvision_state_dict()
    state_dict["features.1.running_mean"] = torch.zeros(64)
    path = tmp_path / "vgg19_bn-c79401a0.pth"
    torch.save(state_dict, path)
    with pytest.raises(CheckpointError, match="batch norm"):
        feature_network.load_vgg19(path)


def test_another_network_is_refused_naming_the_file_and_the_expected_keys(tmp_path):
    path = tmp_path / "netG.pth"
    torch.save({"main.0.weight": torch.zeros(8, 4, 4, 4)}, path)
    with pytest.raises(CheckpointError, match=r"netG\.pth.*features\.0\.weight"):
        feature_network.load_vgg19(path)


def test_a_vgg16_file_is_refused_by_the_strict_load(tmp_path):
    vgg16_convs = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    widths = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
              (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    path = tmp_path / "vgg16-397923af.pth"
    torch.save({f"features.{i}.weight": torch.zeros(o, c, 3, 3) for i, (c, o) in zip(vgg16_convs, widths)}
               | {f"features.{i}.bias": torch.zeros(o) for i, (c, o) in zip(vgg16_convs, widths)}, path)
    with pytest.raises(CheckpointError, match="vgg16-397923af.pth.*missing key"):
        feature_network.load_vgg19(path)


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save({"features.0.weight": torch.nn.Conv2d(3, 64, 3)}, path)  # a whole module: not a plain state dict
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        feature_network.load_vgg19(path)

