from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_viewer.ml.networks import (DiscriminatorConfig, GeneratorConfig, PatchDiscriminator, UNetGenerator,
                                    count_parameters)
from gan_viewer.ml.pix2pix import Pix2Pix, TrainConfig


@pytest.mark.parametrize("depth, box", [(3, 32), (5, 64), (5, 96), (6, 128)])
def test_generator_keeps_shape(depth: int, box: int) -> None:
    g = UNetGenerator(GeneratorConfig(depth=depth, base_channels=4, max_channels=16)).eval()
    with torch.no_grad():
        assert g(torch.randn(2, 1, box, box)).shape == (2, 1, box, box)


def test_skip_connections_reach_the_output() -> None:
    # a pixel change in the input changes the output near it: the skip path is wired
    g = UNetGenerator(GeneratorConfig(depth=4, base_channels=4, dropout=0.0)).eval()
    x = torch.zeros(1, 1, 32, 32)
    y0 = g(x).detach()
    x[0, 0, 5, 7] = 10
    diff = (g(x).detach() - y0).abs()[0, 0]
    assert diff[3:8, 5:10].sum() > diff.sum() * 0.3


def test_config_rejects_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown"):
        GeneratorConfig.from_dict({"depth": 4, "colour": "red"})
    with pytest.raises(ValueError):
        GeneratorConfig(depth=1)
    assert GeneratorConfig.from_dict(GeneratorConfig().to_dict()) == GeneratorConfig()


def test_default_generator_fits_the_size_budget() -> None:
    n = count_parameters(UNetGenerator(GeneratorConfig()))
    assert n * 2 < 20e6  # float16 bytes under 20 MB


def test_discriminator_is_patch_wise() -> None:
    d = PatchDiscriminator(DiscriminatorConfig(base_channels=8))
    assert d(torch.randn(3, 2, 64, 64)).shape == (3, 1, 6, 6)


def test_training_reduces_l1_on_a_learnable_task() -> None:
    torch.manual_seed(0)
    model = Pix2Pix(GeneratorConfig(depth=3, base_channels=8, dropout=0), DiscriminatorConfig(base_channels=8),
                    TrainConfig(batch_size=8, lr=1e-3))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    clean = np.stack([np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 20.0) for cx, cy in rng.integers(8, 24, (8, 2))])
    clean = torch.tensor((clean - clean.mean()) / clean.std(), dtype=torch.float32)[:, None]
    noisy = clean + torch.randn_like(clean) * 0.5
    first = model.step(noisy, clean)["G_L1"]
    for _ in range(60):
        last = model.step(noisy, clean)["G_L1"]
    assert last < 0.5 * first


def test_discriminator_step_does_not_touch_the_generator() -> None:
    model = Pix2Pix(GeneratorConfig(depth=3, base_channels=4), DiscriminatorConfig(base_channels=4), TrainConfig())
    before = [p.detach().clone() for p in model.G.parameters()]
    model.opt_G.step = lambda *a, **k: None  # freeze G's update: only D's step and G's gradients happen
    model.step(torch.randn(2, 1, 32, 32), torch.randn(2, 1, 32, 32))
    assert all(torch.equal(a, b) for a, b in zip(before, model.G.parameters()))
    assert all(p.requires_grad for p in model.D.parameters())


def test_pix2pix_learning_rate_schedule() -> None:
    """Constant, then linear to 0 over decay_steps from decay_from; none without a decay."""
    from gan_viewer.ml.pix2pix import TrainConfig

    constant = TrainConfig(lr=2e-4)
    assert constant.learning_rate(0) == constant.learning_rate(10 ** 6) == 2e-4
    decayed = TrainConfig(lr=2e-4, decay_from=100, decay_steps=50)
    assert decayed.learning_rate(99) == 2e-4 and decayed.learning_rate(100) == 2e-4
    assert decayed.learning_rate(125) == pytest.approx(1e-4)
    assert decayed.learning_rate(150) == decayed.learning_rate(400) == 0.0
    with pytest.raises(ValueError, match="learning-rate decay"):
        TrainConfig(decay_from=5, decay_steps=0)
