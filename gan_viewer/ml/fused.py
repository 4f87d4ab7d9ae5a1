"""The U-Net rewritten for inference: the same function, fewer and faster operations.

Two rewrites, each exact up to float rounding (``tests/ml/test_fused.py``):

* every eval-mode BatchNorm folds into the convolution before it (torch's
  :func:`~torch.nn.utils.fusion.fuse_conv_bn_eval`): one pass over the activations fewer per block;
* a 4x4 stride-2 transposed convolution with one output channel (the U-Net's last layer) becomes
  a 2x2 convolution with four output channels, one per output phase, and a pixel interleave.
  PyTorch runs a transposed convolution on the CPU as a matrix product and col2im, which is slow
  for a single output channel (47 ms for 32 particles of 128 px on two cores); the convolution
  runs in oneDNN (21 ms). The wider transposed convolutions stay: there the matrix product wins.

``benchmarks/bench_generator.py throughput`` measures the effect on ``gan-viewer denoise``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

#: output phase (0 even, 1 odd) -> the transposed kernel's taps at the 2x2 convolution's offsets 0 and 1
_PHASE_TAPS = {0: (3, 1), 1: (2, 0)}


class PhaseTransposedConv(nn.Module):
    """``ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)`` as a 2x2 convolution giving the four
    output phases, interleaved: (b, c_in, h, w) -> (b, c_out, 2h, 2w).

    Output pixel (2m + ry, 2n + rx) of the transposed convolution sums input pixels m - 1 + ry + jy,
    n - 1 + rx + jx (jy, jx in 0, 1) times kernel taps ``_PHASE_TAPS``; a 2x2 convolution of the
    input padded by one computes all four sums at once on an (h + 1, w + 1) grid.
    """

    def __init__(self, transposed: nn.ConvTranspose2d) -> None:
        super().__init__()
        if (transposed.kernel_size, transposed.stride, transposed.padding, transposed.groups,
                transposed.dilation, transposed.output_padding) != ((4, 4), (2, 2), (1, 1), 1, (1, 1), (0, 0)):
            raise ValueError("only 4x4 stride-2 padding-1 transposed convolutions are rewritten")
        weight = transposed.weight.detach()  # (c_in, c_out, 4, 4)
        c_in, c_out = weight.shape[:2]
        kernel = weight.new_zeros((2, 2, c_out, c_in, 2, 2))
        for ry, y_taps in _PHASE_TAPS.items():
            for rx, x_taps in _PHASE_TAPS.items():
                for jy, ky in enumerate(y_taps):
                    for jx, kx in enumerate(x_taps):
                        kernel[ry, rx, :, :, jy, jx] = weight[:, :, ky, kx].t()
        self.out_channels = c_out
        self.conv = nn.Conv2d(c_in, 4 * c_out, 2, padding=1, bias=transposed.bias is not None)
        self.conv.weight.data.copy_(kernel.reshape(4 * c_out, c_in, 2, 2))
        if transposed.bias is not None:
            self.conv.bias.data.copy_(transposed.bias.detach().repeat(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        phases = self.conv(x)  # (b, 4 c_out, h + 1, w + 1), phase-major channels
        c = self.out_channels
        parts = [phases[:, k * c:(k + 1) * c, k // 2:k // 2 + h, k % 2:k % 2 + w] for k in range(4)]
        # (b, c, h, w) x 4 -> (b, c, h, 2 (ry), w, 2 (rx)) -> (b, c, 2h, 2w)
        stacked = torch.stack(parts, dim=-1).view(b, c, h, w, 2, 2).permute(0, 1, 2, 4, 3, 5)
        return stacked.reshape(b, c, 2 * h, 2 * w)


def _rewritable(sequence: nn.Sequential) -> bool:
    """Whether :func:`_rewrite` would change anything in ``sequence`` itself."""
    layers = list(sequence)
    folds = any(isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(b, nn.BatchNorm2d)
                and b.track_running_stats for a, b in zip(layers, layers[1:]))
    return folds or any(isinstance(a, nn.ConvTranspose2d) and a.out_channels == 1 for a in layers)


def _rewrite(sequence: nn.Sequential) -> nn.Sequential:
    """One Sequential with convolution + BatchNorm pairs folded and one-channel transposed
    convolutions replaced, its children rewritten first."""
    layers = list(sequence)
    out: list[nn.Module] = []
    k = 0
    while k < len(layers):
        layer = layers[k]
        following = layers[k + 1] if k + 1 < len(layers) else None
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(following, nn.BatchNorm2d) \
                and following.track_running_stats:
            layer = fuse_conv_bn_eval(layer, following, transpose=isinstance(layer, nn.ConvTranspose2d))
            k += 1  # the BatchNorm is gone
        if isinstance(layer, nn.ConvTranspose2d) and layer.out_channels == 1:
            try:
                layer = PhaseTransposedConv(layer)
            except ValueError:
                pass
        out.append(layer)
        k += 1
    return nn.Sequential(*out)


def inference_generator(generator: nn.Module) -> nn.Module:
    """A copy of an eval-mode U-Net (:class:`~gan_viewer.ml.networks.UNetGenerator`) rewritten for
    inference; the original is untouched. Its ``bottleneck()`` still returns the innermost
    down-sampling convolution (never folded: no BatchNorm follows it there). A module with
    nothing to rewrite is returned as it is, not copied."""
    if generator.training:
        raise ValueError("fold BatchNorm only into an eval-mode generator")
    if not any(_rewritable(m) for m in generator.modules() if isinstance(m, nn.Sequential)):
        return generator
    fast = copy.deepcopy(generator)
    for module in list(fast.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Sequential):
                setattr(module, name, _rewrite(child))
    return fast.eval()


__all__ = ["PhaseTransposedConv", "inference_generator"]
