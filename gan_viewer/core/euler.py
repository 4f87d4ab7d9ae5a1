"""Rotation matrices from RELION Euler angles, in numpy (no scipy: the projector imports this).

RELION's (rot, tilt, psi) are ZYZ Euler angles. :func:`zyz_matrices` returns
``Rz(rot) @ Ry(tilt) @ Rz(psi)``, which is scipy's ``Rotation.from_euler("ZYZ", ...)`` (intrinsic
rotations) and the transpose of RELION's ``Euler_angles2matrix``.
"""

from __future__ import annotations

import numpy as np


def zyz_matrices(eulers_deg: np.ndarray) -> np.ndarray:
    """Rotation matrices of (rot, tilt, psi) in degrees.

    Parameters
    ----------
    eulers_deg
        (n, 3) angles in degrees.

    Returns
    -------
    (n, 3, 3) float64 array, ``Rz(rot) @ Ry(tilt) @ Rz(psi)`` for each row.
    """
    a, b, c = np.deg2rad(np.asarray(eulers_deg, np.float64).reshape(-1, 3)).T
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    out = np.empty((len(a), 3, 3))
    out[:, 0, 0] = ca * cb * cc - sa * sc
    out[:, 0, 1] = -ca * cb * sc - sa * cc
    out[:, 0, 2] = ca * sb
    out[:, 1, 0] = sa * cb * cc + ca * sc
    out[:, 1, 1] = -sa * cb * sc + ca * cc
    out[:, 1, 2] = sa * sb
    out[:, 2, 0] = -sb * cc
    out[:, 2, 1] = sb * sc
    out[:, 2, 2] = cb
    return out
