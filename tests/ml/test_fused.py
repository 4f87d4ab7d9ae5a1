"""The inference rewrite of the U-Net computes what the U-Net computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_viewer.ml.fused import PhaseTransposedConv, inference_generator
from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator, init_weights


def trained_like(config: GeneratorConfig, seed: int = 0) -> UNetGenerator:
    """A generator with random weights and BatchNorm statistics far from the identity (a folded
    BatchNorm that did nothing would pass a test on fresh statistics)."""
    torch.manual_seed(seed)
    generator = UNetGenerator(config)
    init_weights(generator, gain=0.2)
    for module in generator.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.3, 3.0)
            module.bias.data.normal_(0, 0.3)
    return generator.eval()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("c_out", [1, 3])
def test_phase_convolution_equals_the_transposed_one(bias: bool, c_out: int) -> None:
    torch.manual_seed(1)
    transposed = nn.ConvTranspose2d(5, c_out, 4, stride=2, padding=1, bias=bias)
    x = torch.randn(2, 5, 7, 9)
    with torch.inference_mode():
        expected = transposed(x)
        got = PhaseTransposedConv(transposed)(x)
    assert got.shape == expected.shape == (2, c_out, 14, 18)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_only_the_pix2pix_geometry_is_rewritten() -> None:
    with pytest.raises(ValueError, match="4x4 stride-2"):
        PhaseTransposedConv(nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1))


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_rewritten_generator_gives_the_same_images_and_embedding(norm: str) -> None:
    config = GeneratorConfig(depth=4, base_channels=8, max_channels=32, norm=norm)
    generator = trained_like(config)
    fast = inference_generator(generator)
    kinds = lambda net: [type(m).__name__ for m in net.modules()]  # noqa: E731
    if norm == "batch":
        assert "BatchNorm2d" in kinds(generator) and "BatchNorm2d" not in kinds(fast)
    assert kinds(fast).count("PhaseTransposedConv") == 1  # the last layer only (one output channel)
    x = torch.randn(3, 1, 48, 48)
    features = {}
    with torch.inference_mode():
        hooks = [net.bottleneck().register_forward_hook(lambda _m, _i, out, key=key: features.__setitem__(key, out))
                 for key, net in (("slow", generator), ("fast", fast))]
        expected, got = generator(x), fast(x)
        for hook in hooks:
            hook.remove()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    scale = features["slow"].abs().max().item()
    torch.testing.assert_close(features["fast"], features["slow"], rtol=1e-4, atol=1e-5 * scale)
    assert any(isinstance(m, nn.BatchNorm2d) for m in generator.modules()) == (norm == "batch")  # untouched


def test_a_training_generator_is_refused() -> None:
    with pytest.raises(ValueError, match="eval-mode"):
        inference_generator(UNetGenerator(GeneratorConfig(depth=2, base_channels=4)).train())


def test_a_module_with_nothing_to_rewrite_is_not_copied() -> None:
    plain = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU()).eval()
    assert inference_generator(plain) is plain
