"""FinetuneConfig: JSON round trip, validation with errors that name the problem."""

from __future__ import annotations

import pytest

from ganstudio.errors import GanStudioError
from ganstudio.train.config import FinetuneConfig, FinetuneConfigError


def test_json_round_trip_keeps_every_field(tmp_path):
    config = FinetuneConfig(kind="cyclegan", arch={"ngf": 16}, betas=(0.0, 0.99), diff_augment=True, freeze_d_layers=2)
    assert FinetuneConfig.from_json(config.to_json()) == config
    config.save(tmp_path / "config.json")
    assert FinetuneConfig.load(tmp_path / "config.json") == config
    assert FinetuneConfig.from_json('{"kind": "dcgan", "betas": [0.5, 0.9]}').betas == (0.5, 0.9)


def test_unknown_kind_loss_or_option_is_refused_with_the_known_ones():
    with pytest.raises(FinetuneConfigError, match="stargan_v2"):
        FinetuneConfig(kind="stylegan")
    with pytest.raises(FinetuneConfigError, match="hinge"):
        FinetuneConfig(kind="dcgan", loss="wasserstein")
    with pytest.raises(FinetuneConfigError, match="learning_rate"):
        FinetuneConfig.from_json({"kind": "dcgan", "learning_rate": 1e-3})
    with pytest.raises(GanStudioError, match="steps"):
        FinetuneConfig(kind="dcgan", steps=0)
    with pytest.raises(ValueError, match="ema_decay"):
        FinetuneConfig(kind="dcgan", ema_decay=1.0)


def test_arch_id_names_the_generator_module():
    assert FinetuneConfig(kind="pix2pix").arch_id == "pix2pix_unet"
    assert FinetuneConfig(kind="stargan_v2").arch_id == "stargan_v2"


def test_each_kind_reads_its_own_options_and_refuses_others():
    from ganstudio.train.kinds import trainer_class
    from ganstudio.train.trainers.base import options_from

    cyclegan = trainer_class("cyclegan")
    options = options_from(cyclegan.Options, {"lambda_cycle": 5.0}, kind="cyclegan")
    assert options.lambda_cycle == 5.0 and options.lambda_identity == 0.5  # the rest: the official defaults
    with pytest.raises(FinetuneConfigError, match="unknown pix2pix option"):
        options_from(trainer_class("pix2pix").Options, {"lambda_sty": 1.0, "lambda_l1": 50.0, "typo": 1}, kind="pix2pix")


def test_a_config_saved_with_top_level_loss_weights_reads_them_as_options():
    legacy = {"kind": "cyclegan", "steps": 10, "lambda_cycle": 7.0, "lambda_identity": 0.0, "lambda_l1": 100.0}
    config = FinetuneConfig.from_json(legacy)
    assert config.options == {"lambda_cycle": 7.0, "lambda_identity": 0.0, "lambda_l1": 100.0}
    assert FinetuneConfig.from_json(config.to_json()) == config
