"""The GAN's curation scores: agreement of the recovered image with the reference, and its confidence.

``gvAgreement`` is what the inspector computes (``gui/pipeline.py``): the correlation, inside the
particle circle, of the generator's recovered image with the reference projection at the
particle's pose (with or without its CTF, as the inspector's toggle says). ``gvConfidence`` is
:func:`gan_viewer.core.confidence.confidence`: how stable the recovered image is over rotations and
flips of the input. Column names: :data:`gan_viewer.core.scores.SCORE_COLUMNS`.
"""

from __future__ import annotations

import numpy as np

from gan_viewer.core.metrics import circular_mask, correlation


def gan_scores(denoiser, images: np.ndarray, references: np.ndarray | None, apix: float | None,
               noise_power: np.ndarray | None = None, *, samples: int = 2) -> dict[str, np.ndarray]:
    """gvAgreement and gvConfidence of n particles.

    Parameters
    ----------
    denoiser
        A loaded :class:`gan_viewer.ml.inference.Denoiser`.
    images
        (n, box, box) raw particles.
    references
        (n, box, box) reference projections at their poses, or None (no pose: gvAgreement is NaN).
    apix
        The particles' pixel size in Angstrom.
    noise_power
        The noise spectrum of the set (optics group) the particles belong to, for a generator
        that takes the noise's colour away (:meth:`~gan_viewer.ml.inference.Denoiser.recover`);
        default: measured on ``images``.
    samples
        Rotations and flips that make the confidence (2 to 8; each is a forward pass).

    Returns
    -------
    dict name -> (n,) float64.
    """
    recovery = denoiser.recover(np.asarray(images, np.float32), apix, spread=True, samples=samples,
                                noise_power=noise_power)
    n, box = len(images), images.shape[-1]
    agreement = np.full(n, np.nan)
    if references is not None:
        agreement = np.asarray(correlation(recovery.images, references, circular_mask(box)), np.float64)
    return {"gvAgreement": agreement, "gvConfidence": np.asarray(recovery.confidence, np.float64)}
