"""Classical denoising baselines for particles, and the "Einstein from noise" check.

- :func:`gaussian_lowpass` and :func:`best_gaussian_lowpass`, the latter an *oracle*: the one
  sigma for the whole stack that maximises the mean PSNR against the truth.
- :func:`wiener_filter`: a radially averaged Wiener filter H(s) = S(s) / (S(s) + N(s)), one gain
  per Fourier shell for the whole stack. Blind, it takes the noise as white with the variance of
  the pixels outside the particle mask; as an *oracle* (``oracle_truth`` given), it measures S and
  N from the truth and from noisy - truth.
- :func:`hallucination_report`: how particle-like a denoiser's output is when fed pure noise,
  against low-passed noise of the same smoothness as the control.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from gan_viewer.core.metrics import (circular_mask, normalize_in_mask, psnr, radial_power, rfft_shells)

log = logging.getLogger(__name__)

#: sigmas (pixels) tried by :func:`best_gaussian_lowpass` by default; 0 is the unfiltered input
DEFAULT_SIGMAS = np.concatenate([[0.0], np.geomspace(0.25, 16.0, 31)])


def _as_stack(images: np.ndarray) -> tuple[np.ndarray, bool]:
    images = np.asarray(images, np.float64)
    if images.ndim not in (2, 3):
        raise ValueError(f"expected (h, w) or (n, h, w) images, got shape {images.shape}")
    return (images[np.newaxis], True) if images.ndim == 2 else (images, False)


def _gaussian_gain(shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Transfer function of a real-space Gaussian of ``sigma_px`` on the rfft2 grid (h, w//2+1)."""
    radius, _, _ = rfft_shells(*shape)
    return np.exp(-2 * np.pi ** 2 * sigma_px ** 2 * radius ** 2)


def gaussian_lowpass(images: np.ndarray, sigma_px: float) -> np.ndarray:
    """Convolve each image with a Gaussian of standard deviation ``sigma_px`` (periodic, via FFT).

    Parameters
    ----------
    images
        (n, h, w) or (h, w).
    sigma_px
        Real-space standard deviation in pixels; 0 returns the input.

    Returns
    -------
    float32 array of the input's shape.
    """
    if not (np.isfinite(sigma_px) and sigma_px >= 0):
        raise ValueError(f"sigma must be a non-negative number of pixels, got {sigma_px}")
    stack, single = _as_stack(images)
    gain = _gaussian_gain(stack.shape[-2:], sigma_px)
    out = np.fft.irfft2(np.fft.rfft2(stack) * gain, s=stack.shape[-2:]).astype(np.float32)
    return out[0] if single else out


def best_gaussian_lowpass(noisy: np.ndarray, truth: np.ndarray, sigmas: Sequence[float] | None = None,
                          mask: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """The oracle Gaussian low-pass: the single sigma that maximises the mean PSNR against ``truth``.

    Parameters
    ----------
    noisy, truth
        (n, h, w) stacks.
    sigmas
        Candidate sigmas in pixels (default :data:`DEFAULT_SIGMAS`, 0 to 16 px).
    mask
        (h, w) bool mask for the PSNR (:func:`gan_viewer.core.metrics.psnr`).

    Returns
    -------
    filtered : (n, h, w) float32 at the best sigma
    best_sigma : float, pixels
    psnr : (n,) dB at the best sigma
    """
    stack, _ = _as_stack(noisy)
    spectrum = np.fft.rfft2(stack)
    best = (-np.inf, 0.0, None, None)
    for sigma in DEFAULT_SIGMAS if sigmas is None else sigmas:
        filtered = np.fft.irfft2(spectrum * _gaussian_gain(stack.shape[-2:], sigma), s=stack.shape[-2:])
        scores = psnr(filtered, truth, mask)
        score = float(np.mean(scores[np.isfinite(scores)])) if np.isfinite(scores).any() else -np.inf
        if score > best[0]:
            best = (score, float(sigma), filtered, scores)
    if best[2] is None:
        raise ValueError("no sigma gave a finite PSNR (flat truth images?)")
    log.debug("best Gaussian low-pass: sigma %.3g px, mean PSNR %.2f dB", best[1], best[0])
    return best[2].astype(np.float32), best[1], best[3]


def wiener_gain(noisy: np.ndarray, oracle_truth: np.ndarray | None = None,
                mask: np.ndarray | None = None) -> np.ndarray:
    """Gain H(s) = S(s) / (S(s) + N(s)) per Fourier shell, from the whole stack.

    Parameters
    ----------
    noisy
        (n, h, w) stack.
    oracle_truth
        (n, h, w) noise-free images of the same particles, or None. Given, S is the power of the
        truth (fitted to ``noisy`` by a per-image scale and offset, so its units do not matter)
        and N that of the residual noisy - fitted truth: an oracle that no real data allows.
        Without it the noise is taken as white with the variance of the pixels outside ``mask``,
        and S = max(P_noisy - N, 0).
    mask
        (h, w) bool, True on the particle; default :func:`circular_mask` (radius box / 2).

    Returns
    -------
    (min(h, w) // 2 + 1,) float64 in [0, 1]; shell 0 (the mean) has gain 1.
    """
    stack, _ = _as_stack(noisy)
    n, h, w = stack.shape
    if oracle_truth is not None:
        truth, _ = _as_stack(oracle_truth)
        if truth.shape != stack.shape:
            raise ValueError(f"truth shape {truth.shape} differs from the noisy {stack.shape}")
        t = truth - truth.mean(axis=(1, 2), keepdims=True)
        y = stack - stack.mean(axis=(1, 2), keepdims=True)
        scale = (t * y).sum(axis=(1, 2)) / np.maximum((t * t).sum(axis=(1, 2)), 1e-30)
        fitted = scale[:, None, None] * t
        signal = radial_power(fitted).mean(axis=0)
        noise = radial_power(y - fitted).mean(axis=0)
    else:
        mask = circular_mask(min(h, w)) if mask is None else np.asarray(mask, bool)
        if mask.shape != (h, w) or mask.all():
            raise ValueError("the blind Wiener filter needs a (h, w) particle mask with pixels outside it")
        variance = stack[:, ~mask].var(axis=1).mean()
        noise = np.full(min(h, w) // 2 + 1, variance * h * w)  # E|F(k)|^2 of white noise, unnormalised FFT
        signal = np.maximum(radial_power(stack).mean(axis=0) - noise, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.where(signal + noise > 0, signal / (signal + noise), 0.0)
    gain[0] = 1.0
    return gain


def wiener_filter(noisy: np.ndarray, oracle_truth: np.ndarray | None = None,
                  mask: np.ndarray | None = None) -> np.ndarray:
    """Apply the radially averaged Wiener filter of :func:`wiener_gain` to each image.

    The per-shell gain is interpolated linearly in |k| (and held at Nyquist in the corners).

    Returns
    -------
    (n, h, w) float32.
    """
    stack, single = _as_stack(noisy)
    h, w = stack.shape[-2:]
    gain = wiener_gain(stack, oracle_truth, mask)  # (s,)
    radius, _, _ = rfft_shells(h, w)
    transfer = np.interp(radius * min(h, w), np.arange(gain.size), gain)  # (h, w//2+1)
    out = np.fft.irfft2(np.fft.rfft2(stack) * transfer, s=(h, w)).astype(np.float32)
    return out[0] if single else out


def _spectral_centroid(power: np.ndarray) -> float:
    """Power-weighted mean shell index (shell 0 left out) of a (s,) radial power spectrum."""
    shells = np.arange(1, power.size)
    return float((shells * power[1:]).sum() / max(power[1:].sum(), 1e-30))


def matched_sigma(power: np.ndarray, box: int) -> float:
    """Sigma (px) of the Gaussian low-pass that gives white noise the spectral centroid of ``power`` (s,)."""
    target = _spectral_centroid(power)
    candidates = np.concatenate([[0.0], np.geomspace(0.05, box / 4, 200)])
    freq = np.arange(power.size) / box  # cycles per pixel
    centroids = [_spectral_centroid(np.exp(-4 * np.pi ** 2 * s ** 2 * freq ** 2)) for s in candidates]
    return float(candidates[int(np.argmin(np.abs(np.asarray(centroids) - target)))])


def best_match(images: np.ndarray, references: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Highest Pearson correlation (inside ``mask``) of each image with any reference.

    images (n, h, w), references (m, h, w) -> best CC (n,), index of the best reference (n,).
    No shifts or in-plane rotations are searched: use many references.
    """
    x = normalize_in_mask(images, mask)[:, mask]  # (n, p)
    r = normalize_in_mask(references, mask)[:, mask]  # (m, p)
    cc = x @ r.T / mask.sum()  # (n, m)
    return cc.max(axis=1), cc.argmax(axis=1)


def hallucination_report(denoise: Callable[[np.ndarray], np.ndarray], references: np.ndarray, n: int = 64,
                         box: int | None = None, rng: np.random.Generator | None = None,
                         control_sigma: float | None = None, noise: np.ndarray | None = None) -> dict:
    """Feed pure noise to ``denoise`` and measure how particle-like its output is.

    Parameters
    ----------
    denoise
        (n, box, box) float32 -> (n, box, box) float32, e.g. a ``Denoiser``.
    references
        (m, box, box) projections of the reference map in random views.
    n
        Number of noise images.
    box
        Image size; default the references'.
    rng
        Random generator (default: seeded 0).
    control_sigma
        Low-pass sigma (px) for the control; default the one matching the output's spectral
        centroid (:func:`matched_sigma`), so that output and control are equally smooth.
    noise
        (n, box, box) noise images to use (e.g. patches of a real micrograph) instead of white
        Gaussian noise; the control low-passes the same images.

    Returns
    -------
    dict of JSON-ready values: ``power`` (output/input variance per image and its mean, radial
    power output/input per shell), ``output`` and ``control`` (best CC with any reference per
    image, mean, std), ``control_sigma``, ``excess_cc`` (mean best CC of the output minus the
    control's), ``fraction_above_control_p99`` (outputs whose best CC beats 99 % of the
    controls; about 0.01 for a denoiser that invents nothing). Under ``"arrays"`` (not
    JSON-ready; pop it): noise, output, control (n, box, box) float32 and ``best_reference`` (n,).
    """
    references = np.asarray(references, np.float64)
    box = references.shape[-1] if box is None else int(box)
    if references.ndim != 3 or references.shape[1:] != (box, box):
        raise ValueError(f"references must be (m, {box}, {box}), got shape {references.shape}")
    rng = np.random.default_rng(0) if rng is None else rng
    if noise is None:
        noise = rng.standard_normal((n, box, box), dtype=np.float32)
    else:
        noise = np.asarray(noise, np.float32)
        n = len(noise)
        if noise.shape[1:] != (box, box):
            raise ValueError(f"noise must be (n, {box}, {box}), got shape {noise.shape}")
    output = np.asarray(denoise(noise), np.float32)
    if output.shape != noise.shape or not np.isfinite(output).all():
        raise ValueError(f"the denoiser returned shape {output.shape} (want {noise.shape}) or non-finite values")
    out_power = radial_power(output).mean(axis=0)
    sigma = matched_sigma(out_power, box) if control_sigma is None else float(control_sigma)
    control = gaussian_lowpass(noise, sigma)
    mask = circular_mask(box)
    out_cc, out_idx = best_match(output, references, mask)
    ctrl_cc, _ = best_match(control, references, mask)
    threshold = float(np.quantile(ctrl_cc, 0.99))
    variance_ratio = output.reshape(n, -1).var(axis=1) / noise.reshape(n, -1).var(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        spectrum_ratio = out_power / radial_power(noise).mean(axis=0)
    return {
        "n": int(n), "box": box, "references": int(len(references)),
        "power": {"variance_ratio": variance_ratio.tolist(), "mean_variance_ratio": float(variance_ratio.mean()),
                  "radial_power_ratio": spectrum_ratio.tolist()},
        "control_sigma": sigma,
        "output": {"best_cc": out_cc.tolist(), "mean": float(out_cc.mean()), "std": float(out_cc.std())},
        "control": {"best_cc": ctrl_cc.tolist(), "mean": float(ctrl_cc.mean()), "std": float(ctrl_cc.std())},
        "excess_cc": float(out_cc.mean() - ctrl_cc.mean()),
        "fraction_above_control_p99": float(np.mean(out_cc > threshold)),
        "arrays": {"noise": noise, "output": output, "control": control, "best_reference": out_idx},
    }
