"""The CTF against an independent evaluation of RELION's formula (ctf.h, CTF::getCTF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gan_viewer.errors import InputError
from gan_viewer.io.star import read_star
from gan_viewer.sim.ctf import CtfParams, apply_ctf, ctf_2d


def relion_ctf(u_def, v_def, angle, kv, cs_mm, q, phase, bfac, scale, apix, box, half=False):
    """RELION's CTF::getCTF on the unshifted FFT grid (full, or rfft's half), from its source."""
    volts = kv * 1e3
    lam = 12.2643247 / np.sqrt(volts * (1 + volts * 0.978466e-6))
    fy = np.fft.fftfreq(box, apix)
    fx = np.fft.rfftfreq(box, apix) if half else np.fft.fftfreq(box, apix)
    y, x = np.meshgrid(fy, fx, indexing="ij")
    u2 = x**2 + y**2
    ellipsoid_ang = np.arctan2(y, x) - np.deg2rad(angle)
    deltaf = -(u_def + v_def) / 2 - (u_def - v_def) / 2 * np.cos(2 * ellipsoid_ang)
    k1 = np.pi / 2 * 2 * lam
    k2 = np.pi / 2 * cs_mm * 1e7 * lam**3
    k3 = np.arctan(q / np.sqrt(1 - q * q))
    k4 = -bfac / 4
    k5 = np.deg2rad(phase)
    argument = k1 * deltaf * u2 + k2 * u2 * u2 - k5 - k3
    return -np.sin(argument) * scale * np.exp(k4 * u2)


CASES = [
    # defocus U, V, angle, kV, Cs, Q, phase shift, B, scale, apix, box
    (15000.0, 15000.0, 0.0, 300.0, 2.7, 0.1, 0.0, 0.0, 1.0, 1.5, 64),
    (21000.0, 18000.0, 33.0, 300.0, 2.7, 0.07, 0.0, 0.0, 1.0, 1.1, 96),
    (9000.0, 12000.0, -120.0, 200.0, 1.4, 0.1, 90.0, 50.0, 0.8, 2.0, 48),
    (30000.0, 29000.0, 170.0, 100.0, 0.01, 0.2, 35.0, 150.0, 1.0, 3.54, 65),
]


@pytest.mark.parametrize("case", CASES)
def test_matches_relion_formula(case) -> None:
    u, v, ang, kv, cs, q, ps, b, scale, apix, box = case
    params = CtfParams(*(np.array([x]) for x in (u, v, ang, kv, cs, q, ps, b, scale)))
    ours = ctf_2d(params, box, apix, rfft=False)[0].numpy()
    ref = relion_ctf(u, v, ang, kv, cs, q, ps, b, scale, apix, box)
    assert np.abs(ours - ref).max() < 5e-3
    half = ctf_2d(params, box, apix, rfft=True)[0].numpy()
    ref_half = relion_ctf(u, v, ang, kv, cs, q, ps, b, scale, apix, box, half=True)
    np.testing.assert_allclose(half, ref_half, atol=5e-3)


def test_astigmatism_angle_is_not_mirrored() -> None:
    params = CtfParams(*(np.array([x]) for x in (20000, 10000, 30, 300, 2.7, 0.1, 0, 0, 1)))
    mirrored = relion_ctf(20000, 10000, -30, 300, 2.7, 0.1, 0, 0, 1, 1.0, 64)
    assert np.abs(ctf_2d(params, 64, 1.0, rfft=False)[0].numpy() - mirrored).max() > 0.5


def test_dc_term_is_amplitude_contrast() -> None:
    params = CtfParams.uniform(2, np.array([10000.0, 20000.0]), amplitude_contrast=0.1)
    ctf = ctf_2d(params, 32, 1.0)
    np.testing.assert_allclose(ctf[:, 0, 0].numpy(), 0.1, atol=1e-4)  # -sin(-atan(Q/sqrt(1-Q^2))) = Q


def test_apply_ctf_is_fourier_multiplication() -> None:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((3, 40, 40)).astype(np.float32)
    params = CtfParams.uniform(3, np.array([8000.0, 15000.0, 25000.0]), defocus_angle=np.array([0, 45, 90]))
    out = apply_ctf(images, params, 1.3).numpy()
    full = ctf_2d(params, 40, 1.3, rfft=False).numpy()
    expected = np.fft.ifft2(np.fft.fft2(images) * full).real
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_from_real_star_uses_optics(shared_data: Path) -> None:
    table = read_star(shared_data / "particles/real_relion31/relion31.6opticsgroups.star")
    params = CtfParams.from_table(table)
    assert len(params) == len(table)
    np.testing.assert_array_equal(params.defocus_u, table.particles["rlnDefocusU"].to_numpy())
    optics = table.optics.set_index("rlnOpticsGroup")
    np.testing.assert_allclose(params.cs, optics.loc[table.optics_groups(), "rlnSphericalAberration"].to_numpy())
    np.testing.assert_array_equal(params.bfactor, 0.0)


def test_incomplete_ctf_is_one_line_error(shared_data: Path) -> None:
    path = shared_data / "particles/real_aspire_sample/sample_incomplete_ctf_params.star"
    with pytest.raises(InputError, match="incomplete CTF parameters: no rlnVoltage") as info:
        CtfParams.from_table(read_star(path))
    assert str(path) in str(info.value)


def test_impossible_values() -> None:
    with pytest.raises(InputError, match="amplitude contrast"):
        CtfParams.uniform(1, np.array([1e4]), amplitude_contrast=1.5).validate()
    with pytest.raises(InputError, match="not a finite number"):
        CtfParams.uniform(1, np.array([np.nan])).validate()
    with pytest.raises(InputError, match="pixel size"):
        ctf_2d(CtfParams.uniform(1, np.array([1e4])), 16, 0.0)


def test_batch_on_tensor_device() -> None:
    images = torch.zeros(2, 16, 16)
    out = apply_ctf(images, CtfParams.uniform(2, np.array([1e4, 2e4])), np.array([1.0, 2.0]))
    assert out.shape == (2, 16, 16) and out.dtype == torch.float32
