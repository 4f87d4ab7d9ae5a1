"""The samples a spread is made of, and how the samples of several passes are pooled.

:meth:`gan_viewer.ml.inference.Denoiser.recover` with ``spread=True`` runs the generator on
several versions of each particle: rotated and flipped (test-time augmentation), or with fresh
noise added, or both. Particles finer than the model may also run at two samplings
(``finer_scale``); :func:`pool_passes` brings those passes to one set of units and pools them.
"""

from __future__ import annotations

import numpy as np
import torch

#: the dihedral transforms used for the spread: (quarter turns, flip)
TRANSFORMS = tuple((k, f) for f in (False, True) for k in range(4))
#: ways to make the samples of a spread: rotations and flips of the particle ("tta"), fresh noise
#: added to it ("noise": how much the recovery hangs on this particular noise), or both
SPREAD_METHODS = ("tta", "noise", "both")
#: standard deviation of the noise added for the "noise" spread, in background standard deviations
NOISE_SPREAD = 0.5


def perturb(x: torch.Tensor, k: int, method: str) -> torch.Tensor:
    """Sample ``k`` of a spread: the (b, 1, s, s) input itself, or (method "noise"/"both", k > 0)
    the input with fresh noise of half the background's standard deviation added: one field per
    sample, the same for every particle, so a particle's spread does not depend on its batch."""
    if k == 0 or method == "tta":
        return x
    generator = torch.Generator(device="cpu").manual_seed(1000 + k)
    return x + NOISE_SPREAD * torch.randn((1, 1) + x.shape[-2:], generator=generator).to(x.device)


def transform(x: torch.Tensor, quarter: int, flip: bool) -> torch.Tensor:
    """(..., s, s) flipped left-right (if ``flip``), then turned ``quarter`` quarter turns."""
    x = torch.flip(x, dims=(-1,)) if flip else x
    return torch.rot90(x, quarter, dims=(-2, -1)) if quarter else x


def untransform(y: torch.Tensor, quarter: int, flip: bool) -> torch.Tensor:
    """The inverse of :func:`transform`."""
    y = torch.rot90(y, -quarter, dims=(-2, -1)) if quarter else y
    return torch.flip(y, dims=(-1,)) if flip else y


def pool_passes(passes: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and spread of one or more passes of :meth:`~gan_viewer.ml.inference.Denoiser._batch`
    at different working boxes; each pass is (mean (b, box, box), spread or None, embedding,
    background standard deviation (b,)).

    Each pass is in the units of its own background noise; all are brought to the first's (the
    model's pixel size) before they are averaged. The spread pools every sample of every pass:
    the spread within each pass and the disagreement between passes.
    """
    if len(passes) == 1:
        return passes[0][0], passes[0][1]
    reference = passes[0][3]
    means, spreads = [], []
    for m, s, _, noise_std in passes:
        factor = (noise_std / reference).astype(np.float32)[:, None, None]
        means.append(m * factor)
        spreads.append(None if s is None else s * factor)
    mean = np.mean(means, axis=0)
    if spreads[0] is None:
        return mean, None
    variance = np.mean([s ** 2 + (m - mean) ** 2 for m, s in zip(means, spreads)], axis=0)
    return mean, np.sqrt(variance).astype(np.float32)
