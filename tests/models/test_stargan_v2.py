"""StarGAN v2: official-format conformance (latent- and reference-guided), config inference, key handling."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
)
from ganstudio.errors import CheckpointError
from ganstudio.models import stargan_v2

FOLDER = "stargan_v2_afhq"
CHECKPOINT = "100000_nets_ema.ckpt"

TINY_CONFIGS = [
    # dim_in = 2**14 // img_size; max_conv_dim below dim_in gives learned 1x1 shortcuts.
    stargan_v2.Config(img_size=64, style_dim=8, latent_dim=4, num_domains=2, max_conv_dim=32),
    stargan_v2.Config(img_size=128, style_dim=16, latent_dim=8, num_domains=3, max_conv_dim=128),
    stargan_v2.Config(img_size=256, style_dim=8, latent_dim=16, num_domains=1, max_conv_dim=128),
]


def load_official(path) -> torch.nn.Module:
    """The registry's sequence: read, flatten, normalize, infer, build, strict load, eval."""
    state_dict = stargan_v2.normalize_keys(flatten_state_dict(read_checkpoint(path)))
    model = stargan_v2.build(stargan_v2.infer_config(state_dict))
    load_state_dict_strictly(model, state_dict, arch=stargan_v2.SPEC.arch)
    model.eval()
    return model


@pytest.fixture(scope="module")
def fixture_dir(conformance_dir):
    return conformance_dir / FOLDER


@pytest.fixture(scope="module")
def official(fixture_dir):
    return stargan_v2.inference_networks(load_official(fixture_dir / CHECKPOINT))


def load_array(fixture_dir, name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(fixture_dir / f"{name}.npy"))


def max_diff(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return (actual - expected).abs().max().item()


def tiny_state_dict(config: stargan_v2.Config, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return stargan_v2.build(config).state_dict()


# ----------------------------------------------------------------------------- conformance


def test_latent_guided_fixture_matches(fixture_dir, official):
    z, y, source = (load_array(fixture_dir, name) for name in ("z", "y", "source"))
    with torch.no_grad():
        style = official["mapping_network"](z, y)
        output = official["generator"](source, style)
    style_diff = max_diff(style, load_array(fixture_dir, "style_latent"))
    image_diff = max_diff(output, load_array(fixture_dir, "expected_latent"))
    print(f"stargan_v2 latent: style {style_diff:.3g}, image {image_diff:.3g}")
    assert style_diff <= 1e-4
    assert image_diff <= 1e-4


def test_reference_guided_fixture_matches(fixture_dir, official):
    reference, y, source = (load_array(fixture_dir, name) for name in ("reference", "y", "source"))
    with torch.no_grad():
        style = official["style_encoder"](reference, y)
        output = official["generator"](source, style)
    style_diff = max_diff(style, load_array(fixture_dir, "style_reference"))
    image_diff = max_diff(output, load_array(fixture_dir, "expected_reference"))
    print(f"stargan_v2 reference: style {style_diff:.3g}, image {image_diff:.3g}")
    assert style_diff <= 1e-4
    assert image_diff <= 1e-4


def test_image_level_fixture_matches_with_declared_preprocessing(fixture_dir, official):
    from PIL import Image

    preprocessing = stargan_v2.describe(stargan_v2.Config()).preprocessing
    low, high = preprocessing["input_range"]

    def to_tensor(name: str) -> torch.Tensor:
        pixels = np.asarray(Image.open(fixture_dir / name).convert("RGB"), dtype=np.float32)
        assert pixels.shape[:2] == (preprocessing["fixed_size"],) * 2
        return torch.from_numpy(pixels / 255 * (high - low) + low).permute(2, 0, 1)[None]

    source, reference = to_tensor("source.png"), to_tensor("reference.png")
    num_domains = json.loads((fixture_dir / "meta.json").read_text())["args"]["num_domains"]
    y = torch.arange(num_domains)
    with torch.no_grad():
        style = official["style_encoder"](reference.expand(num_domains, -1, -1, -1), y)
        outputs = official["generator"](source.expand(num_domains, -1, -1, -1), style).numpy()
    low_out, high_out = preprocessing["output_range"]
    assert preprocessing["output_rounding"] == "round"
    for domain in range(num_domains):
        unit = np.clip((outputs[domain] - low_out) / (high_out - low_out), 0, 1)
        image = np.floor(unit * 255 + 0.5).transpose(1, 2, 0)
        expected = np.asarray(Image.open(fixture_dir / f"expected_reference_domain{domain}.png").convert("RGB"))
        assert np.abs(image - expected.astype(np.float32)).max() <= 1


def test_infer_config_reads_meta_args(fixture_dir):
    meta = json.loads((fixture_dir / "meta.json").read_text())
    state_dict = stargan_v2.normalize_keys(flatten_state_dict(read_checkpoint(fixture_dir / CHECKPOINT)))
    config = stargan_v2.infer_config(state_dict)
    assert config == stargan_v2.Config(**meta["args"])
    assert stargan_v2.fixed_size(config) == 256
    assert stargan_v2.size_multiple(config) == 16


def test_defaults_and_preprocessing_are_the_official_ones():
    config = stargan_v2.Config()
    assert config == stargan_v2.Config(
        img_size=256, style_dim=64, latent_dim=16, num_domains=2, max_conv_dim=512, w_hpf=0
    )
    assert stargan_v2.describe(config).preprocessing["fixed_size"] == stargan_v2.fixed_size(config)
    assert stargan_v2.describe(config).preprocessing["size_multiple"] == stargan_v2.size_multiple(config)


# ----------------------------------------------------------------------------- tiny configs


@pytest.mark.parametrize("config", TINY_CONFIGS, ids=lambda c: f"img{c.img_size}-d{c.num_domains}")
def test_tiny_config_round_trips_and_runs(config):
    state_dict = stargan_v2.normalize_keys(tiny_state_dict(config))
    assert stargan_v2.matches(state_dict)
    assert stargan_v2.infer_config(state_dict) == config
    model = stargan_v2.build(config)
    load_state_dict_strictly(model, state_dict, arch=stargan_v2.SPEC.arch)
    model.eval()
    nets = stargan_v2.inference_networks(model)
    assert set(nets) == {"generator", "mapping_network", "style_encoder"}
    with torch.no_grad():
        style = nets["mapping_network"](*stargan_v2.example_inputs(config, "mapping_network", batch=2).values())
        assert style.shape == (2, config.style_dim)
        style = nets["style_encoder"](*stargan_v2.example_inputs(config, "style_encoder", batch=1).values())
        assert style.shape == (1, config.style_dim)
        # The generator is fully convolutional: any multiple of size_multiple works, also non-square
        # (small here to keep the test fast: widths are 2**14 // img_size at full resolution).
        multiple = stargan_v2.size_multiple(config)
        x = torch.zeros(1, 3, 2 * multiple, multiple)
        assert nets["generator"](x, style).shape == x.shape


def test_domain_selection_equals_official_advanced_indexing():
    torch.manual_seed(0)
    config = TINY_CONFIGS[1]
    mapping = stargan_v2.MappingNetwork(config.latent_dim, config.style_dim, config.num_domains)
    z = torch.randn(5, config.latent_dim)
    y = torch.tensor([2, 0, 1, 1, 2])
    with torch.no_grad():
        out = torch.stack([layer(mapping.shared(z)) for layer in mapping.unshared], dim=1)
        official = out[torch.arange(5), y]
        assert torch.equal(mapping(z, y), official)


def test_discriminator_has_official_names_and_picks_the_domain_logit():
    torch.manual_seed(0)
    discriminator = stargan_v2.Discriminator(img_size=64, num_domains=3, max_conv_dim=32)
    assert "main.0.weight" in discriminator.state_dict()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        logits = discriminator.main(x).view(2, -1)
        out = discriminator(x, torch.tensor([2, 1]))
    assert out.shape == (2,)
    assert torch.equal(out, logits[torch.arange(2), torch.tensor([2, 1])])


def test_example_inputs_refuse_unknown_network_and_wrong_encoder_size():
    config = TINY_CONFIGS[0]
    inputs = stargan_v2.example_inputs(config, "mapping_network", batch=3)
    assert inputs["y"].dtype == torch.int64 and int(inputs["y"].max()) < config.num_domains
    with pytest.raises(ValueError):
        stargan_v2.example_inputs(config, "G")
    with pytest.raises(ValueError):
        stargan_v2.example_inputs(config, "style_encoder", size=config.img_size * 2)


# ----------------------------------------------------------------------------- w_hpf > 0 (FAN)


def test_w_hpf_generator_runs_with_masks_and_keeps_filter_out_of_state_dict():
    torch.manual_seed(0)
    generator = stargan_v2.Generator(img_size=64, style_dim=8, max_conv_dim=32, w_hpf=1)
    # As in the official code, the filter is not part of the state dict.
    assert not any(key.startswith("hpf.") for key in generator.state_dict())
    assert len(generator.encode) == 3 + 2  # one extra downsampling block for w_hpf > 0
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    masks = (torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))
    with torch.no_grad():
        assert generator(x, torch.randn(1, 8), masks=masks).shape == (1, 3, 64, 64)


def test_w_hpf_checkpoint_raises_checkpoint_error_about_fan():
    config = stargan_v2.Config(img_size=64, style_dim=8, latent_dim=4, num_domains=2, max_conv_dim=32, w_hpf=1)
    state_dict = stargan_v2.normalize_keys(tiny_state_dict(config))
    assert stargan_v2.matches(state_dict)
    with pytest.raises(CheckpointError, match="wing.ckpt"):
        stargan_v2.infer_config(state_dict)
    # Forks that register the filter as a persistent buffer store it: detected by the key as well.
    state_dict["generator.hpf.filter"] = torch.ones(3, 3)
    with pytest.raises(CheckpointError, match="FAN"):
        stargan_v2.infer_config(state_dict)


# ----------------------------------------------------------------------------- key handling


def test_normalize_keys_strips_prefixes_drops_training_networks_and_is_idempotent():
    config = TINY_CONFIGS[0]
    state_dict = tiny_state_dict(config)
    discriminator = stargan_v2.Discriminator(config.img_size, config.num_domains, config.max_conv_dim)
    # A DataParallel '*_nets.ckpt': each network wrapped, plus the discriminator and FAN.
    nets = {f"{name.split('.', 1)[0]}.module.{name.split('.', 1)[1]}": value for name, value in state_dict.items()}
    nets.update({f"discriminator.module.{key}": value for key, value in discriminator.state_dict().items()})
    nets["fan.conv1.weight"] = torch.zeros(1)
    normalized = stargan_v2.normalize_keys(nets)
    assert normalized.keys() == state_dict.keys()
    assert stargan_v2.normalize_keys(normalized).keys() == normalized.keys()
    model = stargan_v2.build(stargan_v2.infer_config(normalized))
    load_state_dict_strictly(model, normalized, arch=stargan_v2.SPEC.arch)


def test_nested_checkpoint_file_loads_through_the_registry_sequence(tmp_path):
    config = TINY_CONFIGS[0]
    model = stargan_v2.build(config)
    path = tmp_path / "000010_nets_ema.ckpt"
    torch.save({name: net.state_dict() for name, net in stargan_v2.inference_networks(model).items()}, path)
    loaded = load_official(path)
    assert stargan_v2.infer_config(loaded.state_dict()) == config


@pytest.mark.parametrize(
    ("folder", "filenames"),
    [
        ("stargan_v1", {"G": "200000-G.ckpt"}),
        ("cyclegan_resnet9", {"G": "latest_net_G.pth"}),
        ("dcgan64", {"G": "netG_epoch_24.pth"}),
        ("adain", {"vgg": "vgg_normalised.pth", "decoder": "decoder.pth"}),
    ],
)
def test_matches_is_false_for_other_architectures(conformance_dir, folder, filenames):
    merged = {}
    for role, filename in filenames.items():
        state_dict = flatten_state_dict(read_checkpoint(conformance_dir / folder / filename))
        # CONTAINER archs are merged with the file role as prefix; single files are not.
        merged.update({(f"{role}.{key}" if len(filenames) > 1 else key): value for key, value in state_dict.items()})
    assert not stargan_v2.matches(stargan_v2.normalize_keys(merged))


def test_another_architecture_raises_checkpoint_error(conformance_dir):
    state_dict = flatten_state_dict(read_checkpoint(conformance_dir / "stargan_v1" / "200000-G.ckpt"))
    with pytest.raises(CheckpointError):
        stargan_v2.infer_config(stargan_v2.normalize_keys(state_dict))


def test_missing_network_raises_checkpoint_error_naming_it():
    state_dict = {k: v for k, v in tiny_state_dict(TINY_CONFIGS[0]).items() if not k.startswith("style_encoder.")}
    with pytest.raises(CheckpointError, match="style_encoder"):
        stargan_v2.infer_config(state_dict)


def test_changed_shape_raises_checkpoint_error():
    config = TINY_CONFIGS[0]
    state_dict = tiny_state_dict(config)
    state_dict["generator.decode.0.norm1.fc.weight"] = torch.zeros(64, config.style_dim + 1)
    model = stargan_v2.build(stargan_v2.infer_config(state_dict))
    with pytest.raises(CheckpointError, match="decode.0.norm1.fc.weight"):
        load_state_dict_strictly(model, state_dict, arch=stargan_v2.SPEC.arch)


def test_mismatched_style_encoder_depth_raises_checkpoint_error():
    # A 128-pixel style encoder next to a 64-pixel generator.
    small, large = TINY_CONFIGS[0], TINY_CONFIGS[1]
    state_dict = {k: v for k, v in tiny_state_dict(small).items() if not k.startswith("style_encoder.")}
    state_dict.update({k: v for k, v in tiny_state_dict(large).items() if k.startswith("style_encoder.")})
    with pytest.raises(CheckpointError, match="style encoder"):
        stargan_v2.infer_config(state_dict)


def test_style_networks_export_to_onnx_with_same_output():
    onnxruntime = pytest.importorskip("onnxruntime")
    config = TINY_CONFIGS[0]
    torch.manual_seed(0)
    nets = stargan_v2.inference_networks(stargan_v2.build(config).eval())
    for name in ("mapping_network", "style_encoder"):
        inputs = stargan_v2.example_inputs(config, name, batch=2)
        buffer = io.BytesIO()
        torch.onnx.export(nets[name], tuple(inputs.values()), buffer, input_names=list(inputs), dynamo=False)
        session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
        (onnx_out,) = session.run(None, {key: value.numpy() for key, value in inputs.items()})
        with torch.no_grad():
            expected = nets[name](*inputs.values()).numpy()
        assert np.abs(onnx_out - expected).max() <= 1e-5


# ----------------------------------------------------------------------------- custom dim_in (GAN Studio's own models)


@pytest.mark.parametrize(
    "config",
    [
        stargan_v2.Config(img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=64, dim_in=16),
        stargan_v2.Config(img_size=64, style_dim=8, latent_dim=4, num_domains=2, max_conv_dim=32, dim_in=8),
    ],
    ids=["img32-dim16", "img64-dim8"],
)
def test_custom_dim_in_round_trips_and_runs(config):
    state_dict = stargan_v2.normalize_keys(tiny_state_dict(config))
    assert state_dict["generator.from_rgb.weight"].shape[0] == config.dim_in
    assert state_dict["style_encoder.shared.0.weight"].shape[0] == config.dim_in
    assert stargan_v2.matches(state_dict)
    assert stargan_v2.infer_config(state_dict) == config
    model = stargan_v2.build(config)
    load_state_dict_strictly(model, state_dict, arch=stargan_v2.SPEC.arch)
    nets = stargan_v2.inference_networks(model.eval())
    with torch.no_grad():
        style = nets["style_encoder"](*stargan_v2.example_inputs(config, "style_encoder", batch=2).values())
        image = nets["generator"](torch.zeros(2, 3, config.img_size, config.img_size), style)
    assert image.shape == (2, 3, config.img_size, config.img_size)
    discriminator = stargan_v2.Discriminator(config.img_size, config.num_domains, config.max_conv_dim, dim_in=config.dim_in)
    assert discriminator.main[0].weight.shape[0] == config.dim_in


def test_official_dim_in_infers_as_none():
    config = stargan_v2.Config(img_size=64, style_dim=8, latent_dim=4, num_domains=2, max_conv_dim=32, dim_in=256)
    assert stargan_v2.infer_config(tiny_state_dict(config)).dim_in is None


def test_generator_and_style_encoder_of_different_widths_raise_checkpoint_error():
    narrow = stargan_v2.Config(img_size=32, style_dim=8, latent_dim=4, num_domains=2, max_conv_dim=64, dim_in=16)
    wide = stargan_v2.Config(img_size=32, style_dim=8, latent_dim=4, num_domains=2, max_conv_dim=64, dim_in=32)
    state_dict = {k: v for k, v in tiny_state_dict(narrow).items() if not k.startswith("style_encoder.")}
    state_dict.update({k: v for k, v in tiny_state_dict(wide).items() if k.startswith("style_encoder.")})
    with pytest.raises(CheckpointError, match="dim_in"):
        stargan_v2.infer_config(state_dict)
