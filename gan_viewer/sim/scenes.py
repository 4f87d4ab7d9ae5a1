"""Training scenes for a general generator: particles in boxes as real data shows them.

A scene is one particle box at the generator's pixel size, made the way a microscope and RELION
make it:

* a main particle from a :class:`VolumeBank` (maps, atomic models and procedural assemblies,
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
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.metrics import radial_power
from gan_viewer.core.normalize import BACKGROUND_RADIUS, relion_normalize
from gan_viewer.errors import InputError
from gan_viewer.sim.ctf import apply_ctf
from gan_viewer.sim.noise_bank import NOISE_KINDS, NoiseBank  # noqa: F401 (re-exported)
from gan_viewer.sim.project import Projector
from gan_viewer.sim.volume import crop_pad, resample_map

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
class BankEntry:
    """One structure of the bank: a map at the bank's pixel size in the smallest box that holds it."""

    name: str
    kind: str
    volume: np.ndarray  # (d, d, d) float32, [z, y, x], centre at d // 2
    diameter: float  # Angstrom
    _projector: Projector | None = field(default=None, repr=False)
    _pool: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def projector(self) -> Projector:
        if self._projector is None:
            self._projector = Projector(self.volume)
        return self._projector

    def view(self, rng: np.random.Generator, pool_size: int = 24, refresh: float = 0.3) -> np.ndarray:
        """A (d, d) projection in a random orientation.

        Projections are kept in a pool of ``pool_size``; each call replaces a random member with
        a new view with probability ``refresh`` (always while the pool fills), and returns a
        pool member under a random one of the 8 in-plane rotations and flips of the square.
        A flip is a view of the mirror-image structure: as plausible a particle for a denoiser.
        """
        from scipy.spatial.transform import Rotation

        if len(self._pool) < pool_size or rng.random() < refresh:
            euler = Rotation.random(random_state=rng).as_euler("ZYZ", degrees=True)[None]
            image = self.projector.project(euler)[0]
            if len(self._pool) < pool_size:
                self._pool.append(image)
            else:
                self._pool[int(rng.integers(pool_size))] = image
            return image
        image = self._pool[int(rng.integers(len(self._pool)))]
        image = np.rot90(image, int(rng.integers(4)))
        return np.ascontiguousarray(image[:, ::-1] if rng.random() < 0.5 else image)

    @property
    def nbytes(self) -> int:
        """Memory of the projector (the padded transform dominates)."""
        return 4 * (2 * self.volume.shape[0]) ** 3


class VolumeBank:
    """Structures at one pixel size, each centred in the smallest cube that holds it.

    Every volume is scaled so that its dense voxels (above a fifth of its maximum) average 1, so
    particles from maps and from atomic models have comparable contrast as neighbours.

    Parameters
    ----------
    apix
        Pixel size in Angstrom.
    """

    def __init__(self, apix: float) -> None:
        self.apix = float(apix)
        self.entries: list[BankEntry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add_volume(self, name: str, volume: np.ndarray, apix: float, kind: str = "map") -> BankEntry | None:
        """Add a (d, d, d) map at ``apix``; resampled, cropped to its support and scaled. None if empty."""
        volume = np.asarray(volume, np.float32)
        if abs(apix - self.apix) > 1e-3 * self.apix:
            size = max(2, round(volume.shape[0] * apix / self.apix))
            volume = resample_map(volume, apix, self.apix, size)
        volume = np.clip(volume, 0, None)  # negative density of filtered maps is not particle
        if not np.any(volume > 0):
            return None
        volume[volume < 0.02 * volume.max()] = 0  # reconstruction noise around the particle
        radius = support_radius(volume)
        side = min(volume.shape[0], 2 * math.ceil(radius + 3))
        volume = crop_pad(torch.from_numpy(volume), side).numpy() * _soft_sphere(side, radius)
        dense = volume > 0.2 * volume.max()
        volume = volume / float(volume[dense].mean())
        entry = BankEntry(name, kind, np.ascontiguousarray(volume), 2 * radius * self.apix)
        self.entries.append(entry)
        return entry

    def add_file(self, path: str | os.PathLike, kind: str = "map", assumed_apix: float | None = None) -> BankEntry | None:
        """Add a map or an atomic model file (a map without a pixel size takes ``assumed_apix``)."""
        from gan_viewer.sim.reference import is_model
        from gan_viewer.io.maps import load_map

        if is_model(path):
            from gan_viewer.sim.atomic import load_model

            atoms = load_model(path)
            return self.add_atoms(Path(path).name, atoms, kind="model")
        volume, apix = load_map(path)
        apix = apix or assumed_apix
        if apix is None:
            raise InputError("has no pixel size in its header; give one", path)
        return self.add_volume(Path(path).name, volume, apix, kind)

    def add_atoms(self, name: str, atoms, kind: str = "model") -> BankEntry | None:
        """Add an :class:`~gan_viewer.sim.atomic.AtomicModel` (centred, at Nyquist resolution)."""
        from gan_viewer.sim.atomic import atoms_to_map

        if len(atoms) == 0:
            return None
        radius = float(np.linalg.norm(atoms.xyz - atoms.xyz.mean(axis=0), axis=1).max())  # about the centroid
        box = 2 * math.ceil(radius / self.apix + 6)  # the density centroid differs a little: room to spare
        volume = atoms_to_map(atoms, self.apix, box, resolution=2 * self.apix)
        return self.add_volume(name, volume, self.apix, kind)

    def pick(self, rng: np.random.Generator, diameter: tuple[float, float] | None = None) -> BankEntry:
        """A random entry, preferably one whose diameter (A) lies in ``diameter``."""
        if not self.entries:
            raise InputError("the volume bank is empty")
        if diameter is not None:
            fits = [e for e in self.entries if diameter[0] <= e.diameter <= diameter[1]]
            if fits:
                return fits[int(rng.integers(len(fits)))]
            target = math.sqrt(diameter[0] * diameter[1])
            return min(self.entries, key=lambda e: abs(math.log(e.diameter / target)))
        return self.entries[int(rng.integers(len(self.entries)))]

    def replace(self, index: int, entry: BankEntry) -> None:
        """Put a freshly made entry (the last one added) in place of entry ``index``."""
        self.entries[index] = entry
        if self.entries[-1] is entry and index != len(self.entries) - 1:
            self.entries.pop()

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries)

    def describe(self) -> dict:
        kinds: dict[str, int] = {}
        for e in self.entries:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        diameters = [e.diameter for e in self.entries]
        return {"entries": len(self.entries), "kinds": kinds,
                "diameter_A": [round(min(diameters), 1), round(max(diameters), 1)] if diameters else None,
                "named": sorted({e.name for e in self.entries if e.kind in ("map", "model")})}


def support_radius(volume: np.ndarray, fraction: float = 0.99) -> float:
    """Radius (voxels) around the centre voxel holding ``fraction`` of the positive density."""
    d = volume.shape[0]
    c = d // 2
    z, y, x = np.indices(volume.shape, sparse=True)
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2).ravel()
    mass = np.clip(volume, 0, None).ravel()
    order = np.argsort(r)
    cumulative = np.cumsum(mass[order])
    k = int(np.searchsorted(cumulative, fraction * cumulative[-1]))
    return float(r[order][min(k, len(r) - 1)]) + 0.5


def _soft_sphere(side: int, radius: float, edge: float = 3.0) -> np.ndarray:
    """(side, side, side) float32: 1 inside ``radius`` voxels of the centre, a raised-cosine edge."""
    c = side // 2
    z, y, x = np.indices((side,) * 3, sparse=True)
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2)
    t = np.clip((r - radius) / edge, 0, 1)
    return (0.5 * (1 + np.cos(np.pi * t))).astype(np.float32)


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
