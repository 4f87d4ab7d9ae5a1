"""Write a simulated particle set: noisy stack, clean stack and a RELION 3.1 STAR per SNR.

Several SNRs share the same views and clean images (the paper's noise panel). The whole output
folder is built under a temporary name and renamed at the end, so a failed run leaves nothing.
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer import __version__
from gan_viewer.io.atomic import atomic_dir, ensure_free_space
from gan_viewer.io.image_name import format_image_name
from gan_viewer.io.mrc import StackWriter
from gan_viewer.io.star import table_from_dataframe, write_star
from gan_viewer.sim.pairs import Views, add_noise, render
from gan_viewer.sim.project import Projector

log = logging.getLogger(__name__)


@dataclass
class SimulationSpec:
    """What to simulate; see ``gan-viewer simulate --help`` for the meaning of each field."""

    n: int
    snrs: list[float]
    apix: float
    seed: int
    source: str  # provenance: the map or model it came from
    chunk: int = 256
    #: the microscope written to the optics table even without a CTF (RELION's programs need it)
    voltage: float = 300.0
    cs: float = 2.7
    amplitude_contrast: float = 0.1


def snr_folder_name(snr: float) -> str:
    return f"snr_{snr:g}"


def write_simulation(projector: Projector, views: Views, spec: SimulationSpec, out_dir: str | os.PathLike,
                     *, overwrite: bool = False) -> list[Path]:
    """Render ``views`` and write one folder per SNR (or ``out_dir`` itself for a single SNR).

    Returns
    -------
    The STAR files written, one per SNR.
    """
    out_dir = Path(out_dir)
    ensure_free_space(out_dir, simulation_nbytes(len(views), projector.size, len(spec.snrs)))
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        folders = [tmp] if len(spec.snrs) == 1 else [tmp / snr_folder_name(s) for s in spec.snrs]
        _render_into(projector, views, spec, folders)
        table = _star_table(views, spec, projector.size)
        for folder, snr in zip(folders, spec.snrs):
            comments = [f"gan-viewer {__version__} simulate: {spec.n} particles of {spec.source}",
                        f"snr {snr:g} (var(clean) / var(noise), per image), seed {spec.seed}",
                        "particles.mrcs: noisy; clean.mrcs: the same views without noise or CTF"]
            if views.ctf is None:
                comments.append("no CTF applied: the optics name the microscope only (RELION: no --ctf)")
            write_star(table, folder / "particles.star", comments=comments)
    stars = [out_dir / "particles.star"] if len(spec.snrs) == 1 else [
        out_dir / snr_folder_name(s) / "particles.star" for s in spec.snrs]
    log.info("wrote %d particles at SNR %s to %s", spec.n, ", ".join(f"{s:g}" for s in spec.snrs), out_dir)
    return stars


def simulation_nbytes(n: int, box: int, n_snrs: int) -> int:
    """Bytes a simulation writes: two float32 stacks (noisy, clean) and a STAR file per SNR."""
    star = (1 << 16) + 400 * n  # header and optics, then a generous line per particle
    return n_snrs * (2 * (1024 + 4 * n * box * box) + star)


def _render_into(projector: Projector, views: Views, spec: SimulationSpec, folders: list[Path]) -> None:
    rng = np.random.default_rng([spec.seed, 1])  # noise stream, independent of the views' stream
    box = projector.size
    shape = (len(views), box, box)
    with ExitStack() as stack:
        for folder in folders:
            folder.mkdir(exist_ok=True)
        noisy = [stack.enter_context(StackWriter(f / "particles.mrcs", shape, spec.apix)) for f in folders]
        clean = [stack.enter_context(StackWriter(f / "clean.mrcs", shape, spec.apix)) for f in folders]
        for start in range(0, len(views), spec.chunk):
            part = slice(start, min(len(views), start + spec.chunk))
            chunk = Views(views.eulers[part], views.origins_px[part],
                          None if views.ctf is None else views.ctf.take(part))
            truth, observed = render(projector, chunk, spec.apix)
            for writer_noisy, writer_clean, snr in zip(noisy, clean, spec.snrs):
                writer_clean.write(start, truth)
                writer_noisy.write(start, add_noise(observed, snr, rng))


def _star_table(views: Views, spec: SimulationSpec, box: int):
    """The RELION 3.1 table. The optics always name the microscope (voltage, Cs, amplitude
    contrast), which relion_reconstruct, relion_refine and relion_project require even when no CTF
    was applied; the per-particle CTF columns are written only with a CTF."""
    n = len(views)
    particles = {
        "rlnImageName": [format_image_name(i, "particles.mrcs") for i in range(n)],
        "rlnAngleRot": views.eulers[:, 0], "rlnAngleTilt": views.eulers[:, 1], "rlnAnglePsi": views.eulers[:, 2],
        "rlnOriginXAngst": views.origins_px[:, 0] * spec.apix, "rlnOriginYAngst": views.origins_px[:, 1] * spec.apix,
    }
    optics = {"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"], "rlnImagePixelSize": [spec.apix],
              "rlnImageSize": [box], "rlnImageDimensionality": [2], "rlnVoltage": [spec.voltage],
              "rlnSphericalAberration": [spec.cs], "rlnAmplitudeContrast": [spec.amplitude_contrast]}
    if views.ctf is not None:
        particles.update(rlnDefocusU=views.ctf.defocus_u, rlnDefocusV=views.ctf.defocus_v,
                         rlnDefocusAngle=views.ctf.defocus_angle, rlnPhaseShift=views.ctf.phase_shift,
                         rlnCtfBfactor=views.ctf.bfactor)
        optics.update(rlnVoltage=[float(views.ctf.voltage[0])], rlnSphericalAberration=[float(views.ctf.cs[0])],
                      rlnAmplitudeContrast=[float(views.ctf.amplitude_contrast[0])])
    frame = pd.DataFrame(particles).round(6)
    frame["rlnOpticsGroup"] = 1
    return table_from_dataframe(frame, pd.DataFrame(optics))


def simulate_set(source: str | os.PathLike, n: int, snrs: list[float], out_dir: str | os.PathLike, *,
                 box: int | None = None, apix: float | None = None, ctf: bool = False,
                 defocus: tuple[float, float] = (10000.0, 25000.0), astigmatism: float = 500.0,
                 voltage: float = 300.0, cs: float = 2.7, amplitude_contrast: float = 0.1, shift: float = 0.0,
                 seed: int = 0, device: str = "cpu", overwrite: bool = False) -> list[Path]:
    """Simulate ``n`` particles of a map or atomic model at uniform random views and write them.

    ``gan-viewer simulate`` calls this; see its help for the outputs: ``particles.mrcs`` (noisy),
    ``clean.mrcs`` and ``particles.star`` in ``out_dir``, one folder per SNR when several are given.

    Parameters
    ----------
    source
        3D map (``.mrc``/``.map``) or atomic model (``.pdb``/``.cif``, gzipped too).
    n
        Number of particles.
    snrs
        One or more signal-to-noise ratios (var(clean) / var(noise), image by image).
    box, apix
        Box in pixels (default: the map's extent) and pixel size in Angstrom (default: the map's;
        1.5 for models).
    ctf, defocus, astigmatism, voltage, cs, amplitude_contrast
        Apply a CTF with a random defocus in ``defocus`` (A), astigmatism up to ``astigmatism`` (A),
        at ``voltage`` kV, ``cs`` mm and ``amplitude_contrast``.
    shift
        Standard deviation of random origins in pixels.
    seed, device
        Random seed; torch device of the projector.
    overwrite
        Replace a non-empty ``out_dir``.

    Returns
    -------
    The STAR files written, one per SNR.
    """
    from gan_viewer.errors import InputError
    from gan_viewer.sim.pairs import noise_sigma, random_views
    from gan_viewer.sim.reference import volume_from

    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    for snr in snrs:
        noise_sigma(np.ones((1, 2, 1)) * [[[0], [1]]], snr)  # validates the SNR before any work
    if not (np.isfinite(voltage) and voltage > 0 and np.isfinite(cs) and 0 <= amplitude_contrast < 1):
        raise InputError("the microscope needs --voltage > 0 kV, a finite --cs and --amplitude-contrast in [0, 1)")
    if box is not None and box < 8:
        raise InputError(f"--box must be at least 8 pixels, got {box}")
    volume, apix = volume_from(source, apix, box)
    rng = np.random.default_rng([seed, 0])
    views = random_views(n, rng, shift_sigma_px=shift, defocus_range=tuple(defocus) if ctf else None,
                         astigmatism=astigmatism, voltage=voltage, cs=cs, amplitude_contrast=amplitude_contrast)
    projector = Projector(volume, device=device)
    spec = SimulationSpec(n=n, snrs=list(snrs), apix=apix, seed=seed, source=str(source), voltage=voltage, cs=cs,
                          amplitude_contrast=amplitude_contrast)
    return write_simulation(projector, views, spec, out_dir, overwrite=overwrite)
