"""pix2pix networks: a U-Net generator and a PatchGAN discriminator, built from configs.

Architecture as in Isola et al. (pix2pix) and its reference code: the generator is a stack of
recursive skip blocks, each halving the image with a 4x4 stride-2 convolution on the way down
and doubling it with a 4x4 stride-2 transposed convolution on the way up, the two joined by a
skip connection; the discriminator classifies overlapping patches of (input, output) pairs.
Differences, each a config field: the widths are capped (``max_channels``) so a compact model
fits a small file, and the output is linear by default (particles are standardised images,
not [-1, 1] photographs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn


def _from_dict(cls, values: dict):
    """Build a config dataclass, rejecting unknown keys (a misspelt key is an error)."""
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {sorted(unknown)}")
    return cls(**values)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    """ValueError naming ``name`` unless ``value`` is an int (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


@dataclass(frozen=True)
class GeneratorConfig:
    """U-Net generator.

    Attributes
    ----------
    depth
        Number of down-sampling blocks; boxes must be multiples of ``2 ** depth``.
    base_channels
        Width of the first block; each deeper block doubles it up to ``max_channels``.
    max_channels
        Cap on the width of the deep blocks.
    norm
        "batch" (pix2pix) or "instance".
    dropout
        Dropout in the innermost up-sampling blocks (pix2pix uses 0.5 in three of them).
    dropout_blocks
        How many of the innermost up-sampling blocks (below the innermost) use dropout.
    output
        "linear" or "tanh" (pix2pix's choice for images scaled to [-1, 1]).
    """

    depth: int = 5
    base_channels: int = 32
    max_channels: int = 256
    norm: str = "batch"
    dropout: float = 0.5
    dropout_blocks: int = 2
    output: str = "linear"

    def __post_init__(self) -> None:
        _check_int("depth", self.depth, 2, 9)
        _check_int("base_channels", self.base_channels, 1, 1024)
        _check_int("max_channels", self.max_channels, 1, 4096)
        _check_int("dropout_blocks", self.dropout_blocks, 0, 9)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number from 0 to below 1, got {self.dropout!r}")
        if self.norm not in ("batch", "instance"):
            raise ValueError(f"norm must be 'batch' or 'instance', got {self.norm!r}")
        if self.output not in ("linear", "tanh"):
            raise ValueError(f"output must be 'linear' or 'tanh', got {self.output!r}")

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this."""
        return 2**self.depth

    to_dict = asdict

    @classmethod
    def from_dict(cls, values: dict) -> GeneratorConfig:
        return _from_dict(cls, values)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """PatchGAN discriminator (pix2pix's ``NLayerDiscriminator``)."""

    n_layers: int = 3
    base_channels: int = 32
    norm: str = "batch"

    to_dict = asdict

    @classmethod
    def from_dict(cls, values: dict) -> DiscriminatorConfig:
        return _from_dict(cls, values)


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.InstanceNorm2d(channels, affine=True)


class SkipBlock(nn.Module):
    """x -> [down -> inner -> up] concatenated with x (the recursive U-Net block)."""

    def __init__(self, outer: int, inner: int, submodule: nn.Module | None, *, outermost: bool = False,
                 norm: str = "batch", dropout: float = 0.0, in_channels: int | None = None,
                 out_channels: int | None = None, output: str = "linear") -> None:
        super().__init__()
        self.outermost = outermost
        in_channels = in_channels or outer
        use_bias = norm == "instance"
        down = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=use_bias)
        up_in = inner if submodule is None else inner * 2
        if outermost:
            up = nn.ConvTranspose2d(up_in, out_channels or outer, 4, stride=2, padding=1)
            layers = [down, submodule, nn.ReLU(True), up] + ([nn.Tanh()] if output == "tanh" else [])
        elif submodule is None:  # innermost
            up = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, _norm(norm, outer)]
        else:
            up = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), down, _norm(norm, inner), submodule, nn.ReLU(True), up,
                      _norm(norm, outer)] + ([nn.Dropout(dropout)] if dropout else [])
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UNetGenerator(nn.Module):
    """(b, 1, h, w) noisy particles -> (b, 1, h, w) recovered; h and w multiples of 2**depth."""

    def __init__(self, config: GeneratorConfig = GeneratorConfig()) -> None:
        super().__init__()
        self.config = config
        widths = [min(config.base_channels * 2**k, config.max_channels) for k in range(config.depth)]
        block: nn.Module | None = None
        for level in range(config.depth - 1, 0, -1):  # innermost first
            from_inner = config.depth - 1 - level  # 0 for the innermost block
            dropout = config.dropout if 1 <= from_inner <= config.dropout_blocks else 0.0
            block = SkipBlock(widths[level - 1], widths[level], block, norm=config.norm, dropout=dropout)
        self.model = SkipBlock(widths[0], widths[0], block, outermost=True, norm=config.norm, in_channels=1,
                               out_channels=1, output=config.output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def bottleneck(self) -> nn.Module:
        """The innermost down-sampling convolution. Its output, (b, C, h / 2**depth, w / 2**depth),
        is the narrowest the particle gets in the U-Net (the skip connections bypass it): what
        the generator has made of the particle as a whole."""
        block = self.model
        while True:
            inner = [m for m in block.model if isinstance(m, SkipBlock)]
            if not inner:
                return next(m for m in block.model if isinstance(m, nn.Conv2d))
            block = inner[0]


class PatchDiscriminator(nn.Module):
    """(b, 2, h, w) (input, output) pairs -> (b, 1, h', w') real/fake logits per patch."""

    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()) -> None:
        super().__init__()
        self.config = config
        c, use_bias = config.base_channels, config.norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(2, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, config.n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < config.n_layers else 1
            layers += [nn.Conv2d(c * prev, c * mult, 4, stride=stride, padding=1, bias=use_bias),
                       _norm(config.norm, c * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(c * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.model(pair)


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """pix2pix's initialisation: N(0, 0.02) convolutions, N(1, 0.02) norm scales, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
