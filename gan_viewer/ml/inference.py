"""Run a trained generator on particles of any box and pixel size, on the CPU or a GPU.

:class:`Denoiser` standardises each particle as in training, resamples it to the model's pixel
size when the two differ by more than 10 %, pads it to a multiple of the U-Net's ``2 ** depth``
(reflecting the edges), runs the generator in batches and undoes the padding and resampling.
Outputs are standardised images (zero mean, unit variance), in input order.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_viewer.core.normalize import standardize
from gan_viewer.errors import InputError
from gan_viewer.ml.checkpoint import load_generator
from gan_viewer.resources import resource_path

log = logging.getLogger(__name__)

DEFAULT_MODEL = "models/default.safetensors"
RESAMPLE_TOLERANCE = 0.10


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


class Denoiser:
    """A loaded generator that maps (n, h, w) particles to (n, h, w) recovered images.

    Parameters
    ----------
    generator
        The U-Net in eval mode.
    card
        Its model card (``pixel_size``, ``box``, ``generator`` config, ...).
    device
        Where it runs.
    batch_size
        Images per forward pass.
    """

    def __init__(self, generator: torch.nn.Module, card: dict, device: torch.device, batch_size: int = 32,
                 name: str = "") -> None:
        self.generator = generator.to(device).eval()
        self.card = card
        self.device = device
        self.batch_size = batch_size
        self.name = name or card.get("name", "generator")
        self.multiple = int(2 ** card["generator"]["depth"])
        self.pixel_size: float | None = card.get("pixel_size")
        self._lock = threading.Lock()  # one forward pass at a time per device

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, device: str = "auto", batch_size: int = 32) -> Denoiser:
        """Load a model file, a bundled model's name, or the bundled default (None)."""
        path = resolve_model(model)
        dev = pick_device(device)
        generator, card = load_generator(path, dev)
        log.info("generator %s on %s", path.name, dev)
        return cls(generator, card, dev, batch_size, name=path.stem)

    def __call__(self, images: np.ndarray, apix: float | None = None) -> np.ndarray:
        """Recover (n, h, w) images (any square box); ``apix`` enables pixel-size matching."""
        images = np.asarray(images, np.float32)
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(f"need (n, box, box) images, got shape {images.shape}")
        if not np.isfinite(images).all():
            raise InputError("images contain NaN or infinite values")
        out = np.empty_like(images)
        for lo in range(0, len(images), self.batch_size):
            out[lo:lo + self.batch_size] = self._batch(images[lo:lo + self.batch_size], apix)
        return out

    def scale_for(self, apix: float | None) -> float:
        """Resampling factor input -> model pixels (1 when unknown or within 10 %)."""
        if not apix or not self.pixel_size:
            return 1.0
        ratio = apix / self.pixel_size
        return 1.0 if abs(ratio - 1) <= RESAMPLE_TOLERANCE else ratio

    def _batch(self, images: np.ndarray, apix: float | None) -> np.ndarray:
        box = images.shape[-1]
        x = torch.from_numpy(standardize(images))[:, None].to(self.device)  # (b, 1, box, box)
        scale = self.scale_for(apix)
        size = max(self.multiple, round(box * scale)) if scale != 1 else box
        if size != box:
            x = fourier_resize_2d(x, size)
        padded = -(-size // self.multiple) * self.multiple
        pad = padded - size
        if pad:
            mode = "reflect" if pad < size else "constant"
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), mode=mode)
        with self._lock, torch.inference_mode():
            y = self.generator(x)
        if pad:
            y = y[..., pad // 2:pad // 2 + size, pad // 2:pad // 2 + size]
        if size != box:
            y = fourier_resize_2d(y, box)
        return standardize(y[:, 0].float().cpu().numpy())


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
