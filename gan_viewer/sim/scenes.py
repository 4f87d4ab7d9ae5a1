"""Training scenes for a general generator: particles in boxes as real data shows them.

A scene is one particle box at the generator's pixel size, made the way a microscope and RELION
make it:

* a main particle from a :class:`~gan_viewer.sim.volume_bank.VolumeBank` (maps, atomic models and procedural assemblies,
  each in the smallest box that holds it) in a random orientation, near the box centre, filling
  a random fraction of the box; some scenes are empty (no main particle, target flat);
* neighbouring particles cut by the box edge;
* RELION's CTF (defocus 0.5-3.5 um, astigmatism, amplitude contrast 0.07-0.1, B-factor, 200 or
  300 kV) applied to a canvas twice the box, so that delocalised signal enters from outside;
* noise at a signal-to-noise ratio drawn per scene: white, coloured (random smooth spectra) or
  real micrograph noise (:class:`NoiseBank`), plus ice-thickness gradients;
* RELION's normalisation: the background outside a circle of 0.75 of the box has mean 0 and
  standard deviation 1 (``relion_preprocess --norm``, bg_radius = 0.375 box);
* either contrast convention (protein bright or dark), the target following the input.

The *target* is the particle's projection (and its neighbours') without CTF, noise or envelope,
in the units of the normalised input: an empty box's target is 0 everywhere, and a faint
particle's target is faint. A generator trained on these learns to draw only what the data
supports, instead of a standardised particle in every box.

SNR is ``var(noise-free image with CTF, over the box) / var(noise)``, image by image, as in
:mod:`gan_viewer.sim.pairs`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.metrics import radial_power
from gan_viewer.core.normalize import BACKGROUND_RADIUS, relion_normalize
from gan_viewer.errors import InputError
from gan_viewer.sim.ctf import apply_ctf
from gan_viewer.sim.noise_bank import NOISE_KINDS, NoiseBank  # noqa: F401 (re-exported)
from gan_viewer.sim.volume_bank import VolumeBank

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class SceneRecipe:
    """How scenes vary. Ranges are (min, max); SNR and B-factor are drawn log-uniform / uniform.

    Attributes
    ----------
    apix
        The generator's pixel size in Angstrom.
    boxes
        Box sizes in pixels (one per batch, multiples of the U-Net's ``2 ** depth``).
    fill
        Main particle diameter / box side.
    snr
        Signal-to-noise ratio per scene (log-uniform).
    empty_probability
        Scenes without a main particle (target: neighbours only, or flat).
    neighbour_probability, max_neighbours
        Scenes with neighbours cut by the box edge, and how many at most.
    shift_px
        Standard deviation of the main particle's offset from the box centre in pixels (picked
        and re-centred particles sit near the centre, not exactly on it).
    ctf_probability
        Scenes with a CTF (the others: projection plus noise, as in simple simulations).
    defocus_um, astigmatism_um, amplitude_contrast, bfactor
        CTF parameter ranges (uniform); voltage is 300 kV (70 %) or 200 kV, Cs 2.7 mm (80 %) or 0.01.
    noise_mix
        Probabilities of white, coloured and micrograph noise, and optionally (a fourth weight)
        noise with the noise bank's measured spectra (normalised to sum 1).
    gradient_probability
        Scenes with an ice-thickness gradient (a ramp and a smooth bump, up to one noise sigma).
    invert_probability
        Scenes shown with the opposite contrast (input and target negated).
    """

    apix: float = 3.0
    boxes: tuple[int, ...] = (64, 96, 128, 160)
    fill: tuple[float, float] = (0.3, 0.9)
    snr: tuple[float, float] = (0.003, 0.6)
    empty_probability: float = 0.08
    neighbour_probability: float = 0.4
    max_neighbours: int = 3
    shift_px: float = 3.0
    ctf_probability: float = 0.8
    defocus_um: tuple[float, float] = (0.5, 3.5)
    astigmatism_um: tuple[float, float] = (0.0, 0.2)
    amplitude_contrast: tuple[float, float] = (0.07, 0.1)
    bfactor: tuple[float, float] = (0.0, 150.0)
    noise_mix: tuple[float, ...] = (0.4, 0.3, 0.3)
    gradient_probability: float = 0.3
    invert_probability: float = 0.5

    def __post_init__(self) -> None:
        problems = {
            f"pixel size must be a positive number of Angstrom, got {self.apix}":
                self.apix > 0 and math.isfinite(self.apix),
            f"boxes must be whole numbers of at least 16 pixels, got {self.boxes}":
                len(self.boxes) > 0 and all(int(b) == b and b >= 16 for b in self.boxes),
            f"fill must be 0 < min <= max <= 1.5 (diameter / box), got {self.fill}":
                0 < self.fill[0] <= self.fill[1] <= 1.5,
            f"SNR must be positive (and min <= max), got {self.snr}":
                0 < self.snr[0] <= self.snr[1] and math.isfinite(self.snr[1]),
            f"noise mix must be three or four non-negative weights, got {self.noise_mix}":
                len(self.noise_mix) in (3, 4) and min(self.noise_mix) >= 0 and sum(self.noise_mix) > 0,
            f"shift must be a non-negative number of pixels, got {self.shift_px}":
                self.shift_px >= 0 and math.isfinite(self.shift_px),
            f"defocus must be 0 < min <= max (um), got {self.defocus_um}":
                0 < self.defocus_um[0] <= self.defocus_um[1] and math.isfinite(self.defocus_um[1]),
            "probabilities (empty, neighbours, CTF, gradient, invert) must lie in [0, 1]":
                all(0 <= p <= 1 for p in (self.empty_probability, self.neighbour_probability, self.ctf_probability,
                                          self.gradient_probability, self.invert_probability)),
        }
        bad = [message for message, ok in problems.items() if not ok]
        if bad:
            raise InputError("; ".join(bad))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> SceneRecipe:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclass
class Scenes:
    """A batch of scenes.

    Attributes
    ----------
    noisy : (n, box, box) float32
        RELION-normalised input.
    target : (n, box, box) float32
        The noise-free, CTF-free particles in the input's units.
    snr : (n,) float64
        The SNR drawn (nan for empty boxes without neighbours).
    empty : (n,) bool
        Scenes without a main particle.
    noise : list of str
        Noise kind per scene.
    names : list of str
        Main structure per scene ("" when empty).
    noise_power : (n, box // 2 + 1) float64
        Radial power spectrum of each scene's noise and ice gradient, in the input's units
        (shell k at k cycles per box): what :func:`gan_viewer.core.noise.noise_power_spectrum`
        estimates on a particle set's background.
    """

    noisy: np.ndarray
    target: np.ndarray
    snr: np.ndarray
    empty: np.ndarray
    noise: list[str]
    names: list[str]
    noise_power: np.ndarray


class SceneSampler:
    """Draws :class:`Scenes` from a volume bank and a noise bank following a recipe.

    Parameters
    ----------
    bank
        Structures at ``recipe.apix``.
    noise
        Noise fields at ``recipe.apix``.
    recipe
        What varies and how much.
    ctf_pool
        CTF parameters to draw from (e.g. a particle set's own, :meth:`CtfParams.from_table`):
        each scene with a CTF takes a random one of them, whole, instead of values drawn from
        the recipe's ranges.
    """

    def __init__(self, bank: VolumeBank, noise: NoiseBank, recipe: SceneRecipe,
                 ctf_pool: CtfParams | None = None) -> None:
        if abs(bank.apix - recipe.apix) > 1e-6 or abs(noise.apix - recipe.apix) > 1e-6:
            raise ValueError("bank, noise and recipe must share one pixel size")
        if ctf_pool is not None and not len(ctf_pool):
            raise ValueError("the CTF pool is empty")
        self.bank, self.noise, self.recipe, self.ctf_pool = bank, noise, recipe, ctf_pool

    def sample(self, n: int, rng: np.random.Generator, box: int | None = None) -> Scenes:
        """``n`` scenes of one box (``box`` or one of the recipe's, drawn)."""
        r = self.recipe
        box = int(box if box is not None else r.boxes[int(rng.integers(len(r.boxes)))])
        canvas_side = 2 * box
        truth = np.zeros((n, canvas_side, canvas_side), np.float32)
        empty = rng.random(n) < r.empty_probability
        names = [""] * n
        for i in range(n):
            names[i] = self._compose(truth[i], box, rng, empty[i])
        observed = truth.copy()
        with_ctf = rng.random(n) < r.ctf_probability
        if with_ctf.any():
            rows = np.flatnonzero(with_ctf)
            params = self.ctf_params(len(rows), rng)
            with torch.inference_mode():
                observed[rows] = apply_ctf(torch.from_numpy(truth[rows]), params, r.apix).numpy()
        lo = box // 2
        truth, observed = truth[:, lo:lo + box, lo:lo + box], observed[:, lo:lo + box, lo:lo + box]
        kinds = rng.choice(NOISE_KINDS[:len(r.noise_mix)], n, p=np.asarray(r.noise_mix) / sum(r.noise_mix))
        noise = np.empty((n, box, box), np.float32)
        for kind in np.unique(kinds):
            rows = np.flatnonzero(kinds == kind)
            noise[rows] = self.noise.sample(str(kind), len(rows), box, rng)
        snr = np.exp(rng.uniform(np.log(r.snr[0]), np.log(r.snr[1]), n))
        signal = observed.reshape(n, -1).var(axis=1, dtype=np.float64)
        flat = signal <= 1e-12 * max(float(signal.max()), 1e-30)
        sigma = np.where(flat, 1.0, np.sqrt(signal / snr))
        snr[flat] = np.nan
        background = noise * sigma[:, None, None].astype(np.float32)  # (n, box, box)
        gradient = rng.random(n) < r.gradient_probability
        if gradient.any():
            rows = np.flatnonzero(gradient)
            background[rows] += _ice_gradient(len(rows), box, rng) * sigma[rows, None, None].astype(np.float32)
        noisy, _, scale = relion_normalize(observed + background, BACKGROUND_RADIUS)
        target = truth / scale[:, None, None]
        noise_power = radial_power(background / scale[:, None, None].astype(np.float32)) / box ** 2
        noise_power[:, 0] = noise_power[:, 1]  # the mean, which the normalisation removes
        sign = np.where(rng.random(n) < r.invert_probability, -1.0, 1.0).astype(np.float32)[:, None, None]
        return Scenes((noisy * sign).astype(np.float32), (target * sign).astype(np.float32), snr, empty,
                      [str(k) for k in kinds], names, noise_power)

    def _compose(self, canvas: np.ndarray, box: int, rng: np.random.Generator, empty: bool) -> str:
        """Draw the main particle (unless ``empty``) and neighbours into a (2 box, 2 box) canvas."""
        r, apix = self.recipe, self.recipe.apix
        centre = canvas.shape[0] // 2
        name, main_radius = "", 0.0
        if not empty:
            fill = rng.uniform(*r.fill)
            want = fill * box * apix
            entry = self.bank.pick(rng, (0.85 * want, 1.15 * want))
            offset = rng.normal(0, r.shift_px, 2)
            paste_centred(canvas, entry.view(rng), centre + offset)
            name, main_radius = entry.name, entry.diameter / 2 / apix
        if r.max_neighbours and rng.random() < r.neighbour_probability:
            for _ in range(int(rng.integers(1, r.max_neighbours + 1))):
                entry = self.bank.pick(rng)
                radius = entry.diameter / 2 / apix
                angle = rng.uniform(0, 2 * np.pi)
                distance = max(box / 2 + rng.uniform(-0.6, 0.6) * radius, 0.9 * (main_radius + radius))
                where = centre + distance * np.array([np.cos(angle), np.sin(angle)])
                paste_centred(canvas, entry.view(rng), where)
        return name

    def ctf_params(self, n: int, rng: np.random.Generator) -> CtfParams:
        """CTF parameters of ``n`` scenes: rows of the CTF pool, or drawn from the recipe's ranges."""
        if self.ctf_pool is not None:
            rows = rng.integers(len(self.ctf_pool), size=n)
            return CtfParams(**{f.name: np.array(getattr(self.ctf_pool, f.name)[rows], np.float64)
                                for f in fields(CtfParams)})
        r = self.recipe
        mean = rng.uniform(*r.defocus_um, n) * 1e4
        delta = rng.uniform(*r.astigmatism_um, n) * 1e4
        values = dict(
            defocus_u=mean + delta / 2, defocus_v=mean - delta / 2, defocus_angle=rng.uniform(0, 180, n),
            voltage=np.where(rng.random(n) < 0.7, 300.0, 200.0), cs=np.where(rng.random(n) < 0.8, 2.7, 0.01),
            amplitude_contrast=rng.uniform(*r.amplitude_contrast, n), phase_shift=np.zeros(n),
            bfactor=rng.uniform(*r.bfactor, n), scale=np.ones(n))
        return CtfParams(**values)

    def describe(self) -> dict:
        out = {"kind": "scenes", "recipe": self.recipe.to_dict(), "bank": self.bank.describe(),
               "noise": self.noise.describe(), "apix": self.recipe.apix}
        if self.ctf_pool is not None:
            pool = self.ctf_pool
            defocus = (np.asarray(pool.defocus_u) + np.asarray(pool.defocus_v)) / 2
            out["ctf_pool"] = {"n": len(pool), "defocus_A": [float(defocus.min()), float(defocus.max())],
                               "voltage_kV": sorted({float(v) for v in np.unique(pool.voltage)}),
                               "cs_mm": sorted({float(v) for v in np.unique(pool.cs)}),
                               "amplitude_contrast": sorted({float(v) for v in np.unique(pool.amplitude_contrast)})}
        return out


def paste_centred(canvas: np.ndarray, image: np.ndarray, centre: np.ndarray) -> None:
    """Add ``image`` (d, d), whose centre is pixel d // 2, to ``canvas`` with that centre at
    ``centre`` (x, y), rounded to whole pixels; parts outside the canvas are dropped."""
    d = image.shape[0]
    x0 = int(round(centre[0])) - d // 2
    y0 = int(round(centre[1])) - d // 2
    side = canvas.shape[0]
    ys, xs = slice(max(0, y0), min(side, y0 + d)), slice(max(0, x0), min(side, x0 + d))
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return
    canvas[ys, xs] += image[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]


def _ice_gradient(n: int, box: int, rng: np.random.Generator) -> np.ndarray:
    """(n, box, box) ramps plus a smooth bump, each up to about one unit over the box."""
    yy, xx = np.mgrid[0:box, 0:box].astype(np.float32) / box - 0.5
    angle = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) * rng.uniform(0, 2, n)[:, None, None]
    cy, cx = rng.uniform(-0.5, 0.5, (2, n))[:, :, None, None]
    width = rng.uniform(0.2, 0.6, n)[:, None, None]
    bump = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width ** 2)) * rng.uniform(-0.7, 0.7, n)[:, None, None]
    return (ramp + bump).astype(np.float32)
