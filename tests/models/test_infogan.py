"""InfoGAN: the port's MNIST layout loads as it is, the codes are described for the tasks, the training heads fit."""

from __future__ import annotations

import torch

from ganstudio.models import infogan
from ganstudio.models.spec import LatentCode


def test_the_ports_28px_mnist_generator_loads_and_reads_back_the_papers_codes(registry, tmp_path):
    torch.manual_seed(0)
    network = infogan.build(infogan.Config())  # Natsu6767's Generator: 74 inputs, 1024, 128, 64, 1 channel
    assert network.tconv1.weight.shape == (74, 1024, 1, 1) and network.tconv2.weight.shape == (1024, 128, 7, 7)
    path = tmp_path / "netG.pth"
    torch.save(network.state_dict(), path)
    model = registry.load(str(path))
    assert model.arch == "infogan" and model.config["nz"] == 62 and model.config["base"] == 7
    z = infogan.example_inputs(infogan.Config(), batch=2)["z"]
    output = model.network("G")(z.numpy())
    assert output.shape == (2, 1, 28, 28) and output.min() >= 0 and output.max() <= 1  # a sigmoid
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(output), network.eval()(z), atol=1e-6)


def test_describe_names_the_codes_in_the_order_the_generator_takes_them():
    info = infogan.describe({"nz": 62, "num_categories": 10, "num_continuous": 2, "base": 8})
    assert info.latent.codes == (LatentCode("cat", "categorical", categories=10), LatentCode("c1", "continuous"),
                                 LatentCode("c2", "continuous"))
    assert info.latent.size == 62 and info.latent.input_size == 74
    assert info.native_size == 32 and info.preprocessing["output_range"] == [0.0, 1.0]
    assert infogan.describe({"num_categories": 0, "num_continuous": 1}).latent.codes == (LatentCode("c1", "continuous"),)


def test_the_discriminator_body_and_heads_read_an_image_of_the_generators_size():
    config = infogan.Config(nz=6, fc_dim=16, ngf=4, base=8)
    body, d_head, q_head = infogan.build_discriminator(config, ndf=4)
    images = infogan.build(config)(infogan.example_inputs(config, batch=3)["z"])
    features = body(images)
    logits, means = q_head(features)
    assert images.shape == (3, 1, 32, 32) and d_head(features).shape == (3,)
    assert logits.shape == (3, 10) and means.shape == (3, 2)
