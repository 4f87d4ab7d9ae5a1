"""Run a trained generator on particles of any box and pixel size, on the CPU or a GPU.

:class:`Denoiser` feeds the generator what it was trained on, then maps the result back:

1. resample each particle to the model's pixel size (Fourier crop or pad), so the generator
   sees particles at the scale it learned, whatever the data's sampling;
2. normalise *after* resampling, as in training (format 2: RELION's background ring, mean 0 and
   standard deviation 1; format 1: mean 0 and standard deviation 1 over the box); when the card
   asks for it (``input_whitening``, an exponent), take that share of the noise's colour away
   (:mod:`gan_viewer.ml.whitening`, which training uses too, with the noise spectrum of the
   particle's optics group: one estimate for all of its particles, so a particle recovered alone
   is treated as in a batch) and normalise again: Gaussian noise with a micrograph's strong
   low-frequency excess made the generator draw faint particles; half-whitened, it draws fewer,
   on real micrograph patches and on held-out noise (``benchmarks/bench_generator.py general``;
   the card records the figures);
3. pad to a multiple of the U-Net's ``2 ** depth`` (format 2: with background noise; format 1:
   reflecting the edges), run, crop;
4. resample back to the data's pixel size and box;
5. for data sampled finer than the model, when its card asks for it (``finer_scale``), run steps
   1-4 once more at a finer working pixel size and average the two recoveries (in the units of
   the model's pixel size): the model sees high-SNR binned particles less well than it sees the
   same particles at a finer sampling, and the two err differently (measured by
   ``benchmarks/bench_generator.py general``; the card records the figures).

Format-2 models return the recovered particle **in the units of their training target**: the
standard deviation of the background noise at the model's pixel size. An empty box comes out
near 0 and a faint particle faint; nothing is re-standardised to full contrast. Format-1 models
(trained on standardised pairs) return standardised images.

With ``spread=True`` the generator runs on several copies of each particle (rotated and flipped:
test-time augmentation, and/or with fresh noise added) and returns their mean and per-pixel
standard deviation (the *spread*: where the recovery depends on how the particle was shown or
on its particular noise, the generator is unsure), plus one confidence per particle
(:func:`gan_viewer.core.confidence.confidence`). The samples are made and pooled by
:mod:`gan_viewer.ml.spread_samples`; whole sources stream through :mod:`gan_viewer.ml.stream`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_viewer.core.confidence import DEFAULT_CONFIDENCE_THRESHOLD, confidence, particle_circle
from gan_viewer.core.noise import noise_power_spectrum
from gan_viewer.core.normalize import BACKGROUND_RADIUS, relion_normalize, standardize
from gan_viewer.errors import InputError
from gan_viewer.ml.checkpoint import FINER_SCALE_MAX, load_generator
from gan_viewer.ml.fused import inference_generator
from gan_viewer.ml.spread_samples import SPREAD_METHODS, TRANSFORMS, perturb, pool_passes, transform, untransform
from gan_viewer.ml.whitening import half_plane_filters, whiten_normalised
from gan_viewer.resources import resource_path

log = logging.getLogger(__name__)

DEFAULT_MODEL = "models/default.safetensors"
RESAMPLE_TOLERANCE = 0.10
#: pixel sizes (A) a particle may have: outside this, the number is a mistake, not a sampling
PIXEL_SIZE_RANGE = (0.3, 20.0)
#: a box (after resampling to the model's pixel size) may be this much smaller / larger than
#: the smallest / largest box the model was trained on
BOX_SLACK = (0.25, 4.0)


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA, else Apple MPS, else CPU; an unavailable device falls back to CPU with a warning."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"unknown device {device!r} (use auto, cpu, cuda or mps)") from exc
    available = {"cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(dev.type, True):
        log.warning("%s is not available on this machine; using the CPU", dev.type.upper())
        return torch.device("cpu")
    return dev


def resolve_model(model: str | os.PathLike | None) -> Path:
    """A model file from a path, a bundled name (``default``) or None (the bundled default)."""
    if model is None or str(model) == "default":
        return resource_path(DEFAULT_MODEL)
    path = Path(model)
    if path.suffix not in (".safetensors", ".json"):
        candidate = Path(str(path) + ".safetensors")
        if candidate.exists():
            return candidate
        try:
            return resource_path(f"models/{path.name}.safetensors")
        except InputError:
            pass
    return path


def check_pixel_size(apix: float | None, what: str = "particles") -> float:
    """``apix`` as a float, or InputError when it is unknown or absurd (0, NaN, < 0.3 A, > 20 A)."""
    if apix is None:
        raise InputError(f"the {what}' pixel size is unknown (no STAR optics value, no MRC header value); "
                         "give it with --apix")
    value = float(apix)
    low, high = PIXEL_SIZE_RANGE
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(f"the {what}' pixel size {apix!r} A is impossible (expected {low:g}-{high:g} A)")
    return value


@dataclass
class Recovery:
    """What the generator made of n particles.

    Attributes
    ----------
    images : (n, box, box) float32
        The recovered particles (the mean over transforms when a spread was asked for, and over
        the working samplings when there are two).
    spread : (n, box, box) float32 or None
        Per-pixel standard deviation over the transforms (and, with a second working sampling,
        over both samplings' samples), in the units of ``images``.
    amplitude : (n,) float64
        Root-mean-square of each recovered image inside the particle circle (format 2: in noise
        standard deviations; a box with nothing in it is near 0).
    confidence : (n,) float64 or None
        :func:`~gan_viewer.core.confidence.confidence` of each particle, with the spread.
    embedding : (n, C) float32 or None
        The generator's bottleneck features (:meth:`UNetGenerator.bottleneck`, after its ReLU)
        averaged over the image, from the particle as given (no rotation, flip or added noise);
        None for a generator without a bottleneck.
    """

    images: np.ndarray
    spread: np.ndarray | None
    amplitude: np.ndarray
    confidence: np.ndarray | None
    embedding: np.ndarray | None = None


class Denoiser:
    """A loaded generator that maps (n, h, w) particles to (n, h, w) recovered images.

    Parameters
    ----------
    generator
        The U-Net in eval mode.
    card
        Its model card (``format_version``, ``pixel_size``, ``generator`` config, ...).
    device
        Where it runs.
    batch_size
        Images per forward pass.
    """

    FORMATS = (1, 2)

    def __init__(self, generator: torch.nn.Module, card: dict, device: torch.device, batch_size: int = 32,
                 name: str = "") -> None:
        self.format = int(card.get("format_version", 1)) if isinstance(card.get("format_version", 1), int) else -1
        if self.format not in self.FORMATS:
            raise InputError(f"model card format {card.get('format_version')!r} is not one this version reads "
                             f"({', '.join(map(str, self.FORMATS))}); update gan-viewer or retrain the model")
        # BatchNorm folded, the last layer as a phase convolution: the same function, faster (ml/fused.py)
        self.generator = inference_generator(generator.to(device).eval())
        # channels-last convolutions are about a quarter faster on the CPU (benchmarks/bench_generator.py throughput)
        self._memory_format = torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format
        self.generator = self.generator.to(memory_format=self._memory_format)
        self.card = card
        self.device = device
        self.batch_size = batch_size
        self.name = name or card.get("name", "generator")
        self.multiple = int(2 ** card["generator"]["depth"])
        self.pixel_size: float | None = card.get("pixel_size")
        boxes = card.get("boxes") or [card.get("box") or 96] * 2
        self.trained_boxes = (int(min(boxes)), int(max(boxes)))
        finer = card.get("finer_scale")
        #: fraction of the model's pixel size for a second pass on finer-sampled data (None: one pass)
        self.finer_scale: float | None = (
            float(finer) if self.format >= 2 and isinstance(finer, (int, float)) and 0 < finer <= FINER_SCALE_MAX
            else None)
        whitening = card.get("input_whitening")
        #: share of the noise's colour taken away before the generator runs (None: none)
        self.input_whitening: float | None = (
            float(whitening) if self.format >= 2 and isinstance(whitening, (int, float)) and 0 < whitening <= 1
            else None)
        self._lock = threading.Lock()  # one forward pass at a time per device

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, device: str = "auto", batch_size: int = 32) -> Denoiser:
        """Load a model file, a bundled model's name, or the bundled default (None)."""
        path = resolve_model(model)
        dev = pick_device(device)
        generator, card = load_generator(path, dev)
        log.info("generator %s on %s", path.name, dev)
        return cls(generator, card, dev, batch_size, name=path.stem)

    @property
    def confidence_threshold(self) -> float:
        """Below this confidence a particle looks like noise to the generator: measured on pure
        noise and on particles by ``benchmarks/bench_generator.py general`` and stored in the card."""
        value = self.card.get("confidence_threshold")
        return float(value) if isinstance(value, (int, float)) and 0 < value < 1 else DEFAULT_CONFIDENCE_THRESHOLD

    @property
    def units(self) -> str:
        """What the numbers of a recovered image mean."""
        if self.format == 1:
            return "standardised (mean 0, standard deviation 1 per particle)"
        return f"standard deviations of the background noise at {self.pixel_size:g} A/px"

    def __call__(self, images: np.ndarray, apix: float | None = None) -> np.ndarray:
        """Recover (n, h, w) images (any square box) at pixel size ``apix``; see :meth:`recover`."""
        return self.recover(images, apix).images

    def recover(self, images: np.ndarray, apix: float | None = None, *, spread: bool = False,
                samples: int = 4, method: str = "tta", noise_power: np.ndarray | None = None) -> Recovery:
        """Recover (n, box, box) images at pixel size ``apix`` (Angstrom).

        Parameters
        ----------
        images
            (n, box, box) particles, any square box.
        apix
            Their pixel size. Format-2 models need it (an unknown or absurd value raises
            InputError); format-1 models run at the input's sampling without it.
        spread
            Also return the per-pixel spread over ``samples`` rotations and flips (2 to 8) and
            a confidence per particle; costs ``samples`` forward passes per working box
            (:meth:`working_boxes`), and pools the samples of every working box.
        samples
            How many samples make the spread (2 to 8).
        method
            How the samples differ (:data:`SPREAD_METHODS`): "tta", the rotations and flips of the
            square; "noise", fresh noise added to the input (the first sample has none); "both".
        noise_power
            (m,) noise spectrum of the particle set these images belong to
            (:meth:`noise_power`), for a card with ``input_whitening``; default: estimated from
            ``images`` (a set of one or a few particles gives a poor estimate: pass the set's).
            Ignored without ``input_whitening``.

        Returns
        -------
        Recovery
        """
        images = np.asarray(images, np.float32)
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(f"need (n, box, box) images, got shape {images.shape}")
        if not np.isfinite(images).all():
            raise InputError("images contain NaN or infinite values")
        if spread and not 2 <= samples <= len(TRANSFORMS):
            raise ValueError(f"samples must be 2..{len(TRANSFORMS)}, got {samples}")
        if method not in SPREAD_METHODS:
            raise ValueError(f"method must be one of {SPREAD_METHODS}, got {method!r}")
        sizes = self.working_boxes(images.shape[-1], apix)
        filters = self._whitening_filters(images, sizes, noise_power)
        n = len(images)
        mean = np.empty_like(images)
        dev = np.empty_like(images) if spread else None
        embeddings = []
        for lo in range(0, n, self.batch_size):
            rows = slice(lo, lo + self.batch_size)
            passes = [self._batch(images[rows], size, samples if spread else 1, method, embed=k == 0,
                                  whitening=filters.get(size))
                      for k, size in enumerate(sizes)]
            m, s = pool_passes(passes)
            mean[rows] = m
            if dev is not None:
                dev[rows] = s
            embeddings.append(passes[0][2])
        mask = particle_circle(images.shape[-1])
        amplitude = np.sqrt((mean[:, mask].astype(np.float64) ** 2).mean(axis=1))
        embedding = np.concatenate(embeddings) if embeddings and all(e is not None for e in embeddings) else None
        return Recovery(mean, dev, amplitude, None if dev is None else confidence(mean, dev), embedding)

    def noise_power(self, images: np.ndarray) -> np.ndarray | None:
        """The noise spectrum of a particle set, from (n, box, box) of its particles (a few hundred
        give a good estimate), to pass to :meth:`recover` with any of its particles; None when the
        card asks for no whitening (or for no images)."""
        if self.input_whitening is None or not len(images):
            return None
        return noise_power_spectrum(np.asarray(images, np.float32))

    def _whitening_filters(self, images: np.ndarray, sizes: list[int], noise_power: np.ndarray | None
                           ) -> dict[int, torch.Tensor]:
        """Working box -> (size, size // 2 + 1) real-FFT filter that takes the card's share of the
        noise's colour away (:func:`~gan_viewer.ml.whitening.half_plane_filters`), made once per
        call; empty without ``input_whitening``. ``noise_power`` None: measured on ``images``."""
        if self.input_whitening is None:
            return {}
        power = self.noise_power(images) if noise_power is None else noise_power
        return {size: half_plane_filters(power, size, self.input_whitening) for size in sizes}

    def scale_for(self, apix: float | None) -> float:
        """Resampling factor input -> model pixels (format 1: 1 when unknown or within 10 %)."""
        if self.format == 1:
            if not apix or not self.pixel_size:
                return 1.0
            ratio = apix / self.pixel_size
            return 1.0 if abs(ratio - 1) <= RESAMPLE_TOLERANCE else ratio
        return check_pixel_size(apix) / float(self.pixel_size)

    def model_box(self, box: int, apix: float | None) -> int:
        """The box a ``box`` px particle at ``apix`` has at the model's pixel size.

        Raises
        ------
        InputError
            When that box lies far outside the boxes the model was trained on.
        """
        scale = self.scale_for(apix)
        size = max(2, round(box * scale)) if scale != 1 else box
        if self.format >= 2:
            low, high = self.trained_boxes[0] * BOX_SLACK[0], self.trained_boxes[1] * BOX_SLACK[1]
            if not low <= size <= high:
                raise InputError(
                    f"a {box} px box at {apix:g} A/px is {size} px at the model's {self.pixel_size:g} A/px, far "
                    f"outside the {self.trained_boxes[0]}-{self.trained_boxes[1]} px it was trained on")
        return size

    def working_boxes(self, box: int, apix: float | None) -> list[int]:
        """The boxes the generator runs at for a ``box`` px particle at ``apix``: the one at the
        model's pixel size (:meth:`model_box`; InputError when far outside the trained boxes), then,
        with a ``finer_scale`` card and data sampled finer than the model, the box at
        ``max(apix, finer_scale * pixel size)``, when that is in the trained range too."""
        sizes = [self.model_box(box, apix)]
        if self.finer_scale is None or apix is None:
            return sizes
        work = max(float(apix), self.finer_scale * float(self.pixel_size))
        if work > FINER_SCALE_MAX * float(self.pixel_size):
            return sizes
        size = max(2, round(box * float(apix) / work))
        low, high = self.trained_boxes[0] * BOX_SLACK[0], self.trained_boxes[1] * BOX_SLACK[1]
        if low <= size <= high and size != sizes[0]:
            sizes.append(size)
        return sizes

    def _pad(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        """Pad (b, 1, s, s) to a multiple of the U-Net's stride. Format 2: with background noise
        (normalised: standard deviation 1), which the generator knows as empty surroundings;
        reflected edges would show it mirrored copies of the particle's neighbourhood. Every
        particle of every batch gets the same noise, so its recovery does not depend on the
        batch it is in or its place there."""
        sides = (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)
        if self.format == 1:
            return F.pad(x, sides, mode="reflect" if pad < x.shape[-1] else "constant")
        generator = torch.Generator(device="cpu").manual_seed(0)
        field = torch.randn((1, 1, x.shape[-2] + pad, x.shape[-1] + pad), generator=generator)
        noise = field.repeat(x.shape[0], x.shape[1], 1, 1).to(x.device)
        noise[..., sides[2]:sides[2] + x.shape[-2], sides[0]:sides[0] + x.shape[-1]] = x
        return noise

    def _batch(self, images: np.ndarray, size: int, samples: int, method: str = "tta", embed: bool = True,
               whitening: torch.Tensor | None = None
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
        """Run (b, box, box) images at working box ``size``: (b, box, box) mean and spread (None
        for one sample), the (b, C) embedding (None unless ``embed``) and the (b,) standard
        deviation of each particle's background at that size (in the input's units). With
        ``whitening`` (:meth:`_whitening_filters`), the generator sees the partly whitened
        particle, and its output is brought back to the units of the background as it was."""
        box = images.shape[-1]
        whitened_std = np.ones(len(images))  # (b,) the whitened background's std, in noise units
        x = torch.from_numpy(images)[:, None].to(self.device)  # (b, 1, box, box)
        if size != box:
            x = fourier_resize_2d(x, size)
        if self.format == 1:
            x = torch.from_numpy(standardize(x[:, 0].cpu().numpy()))[:, None].to(self.device)
            noise_std = np.ones(len(images))
        else:
            normalised, _, noise_std = relion_normalize(x[:, 0].cpu().numpy(), BACKGROUND_RADIUS)
            if whitening is not None:  # as in training (ml/whitening.py)
                normalised, whitened_std = whiten_normalised(normalised, whitening)
            x = torch.from_numpy(normalised)[:, None].to(self.device)
        padded = -(-size // self.multiple) * self.multiple
        pad = padded - size
        if pad:
            x = self._pad(x, pad)
        outputs, features = [], []
        layer = self.generator.bottleneck() if embed and hasattr(self.generator, "bottleneck") else None
        with self._lock, torch.inference_mode():
            hook = None if layer is None else layer.register_forward_hook(
                lambda _m, _i, out: features.append(torch.relu(out).mean(dim=(-2, -1))))
            try:
                for k, (quarter, flip) in enumerate(TRANSFORMS[:samples]):
                    if method == "noise":
                        quarter, flip = 0, False
                    y = self.generator(transform(perturb(x, k, method), quarter, flip)
                                       .contiguous(memory_format=self._memory_format))
                    outputs.append(untransform(y, quarter, flip))
                    if hook is not None:  # the particle as given only
                        hook.remove()
                        hook = None
            finally:
                if hook is not None:
                    hook.remove()
        y = torch.stack(outputs)  # (samples, b, 1, padded, padded)
        if pad:
            y = y[..., pad // 2:pad // 2 + size, pad // 2:pad // 2 + size]
        # back in the units of the (unwhitened) background noise, as the card's output_units say
        units = torch.from_numpy(whitened_std.astype(np.float32)).to(y.device)[:, None, None, None]
        mean = y.mean(dim=0)
        # the population std written out: torch's std over the leading dimension is 15x slower on the CPU
        spread = (y - mean).square_().mean(dim=0).sqrt_() * units if samples > 1 else None
        mean = mean * units
        if size != box:
            mean = fourier_resize_2d(mean, box)
            if spread is not None:
                spread = F.interpolate(spread, size=(box, box), mode="bilinear", align_corners=False).clamp_(min=0)
        mean_np = mean[:, 0].float().cpu().numpy()
        if self.format == 1:
            mean_np = standardize(mean_np)
        embedding = features[0].float().cpu().numpy() if features else None
        return mean_np, None if spread is None else spread[:, 0].float().cpu().numpy(), embedding, noise_std


def fourier_resize_2d(images: torch.Tensor, size: int) -> torch.Tensor:
    """Crop or zero-pad the centred spectrum of (..., n, n) images to (..., size, size)."""
    n = images.shape[-1]
    if n == size:
        return images
    dims = (-2, -1)
    spec = torch.fft.fftshift(torch.fft.fft2(images.float()), dim=dims)
    out = spec.new_zeros(spec.shape[:-2] + (size, size))
    m = min(n, size)
    src = slice(n // 2 - m // 2, n // 2 - m // 2 + m)
    dst = slice(size // 2 - m // 2, size // 2 - m // 2 + m)
    out[..., dst, dst] = spec[..., src, src]
    return torch.fft.ifft2(torch.fft.ifftshift(out, dim=dims)).real * (size * size) / (n * n)
