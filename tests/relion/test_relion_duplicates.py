"""``relion_star_handler --remove_duplicates`` (RELION's Subset selection, "Remove duplicates?")
and :mod:`gan_viewer.core.duplicates` remove the same picks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gan_viewer.core.duplicates import outranked_by, pick_positions
from gan_viewer.io.star import read_star, table_from_dataframe, write_star

pytestmark = pytest.mark.skipif(shutil.which("relion_star_handler") is None,
                                reason="RELION is not installed here (apt-get install relion; CI installs it)")


@pytest.mark.parametrize("distance, image_angpix", [(30.0, None), (45.0, 1.0)])
def test_the_same_picks_go_as_with_relion(tmp_path: Path, distance: float, image_angpix: float | None) -> None:
    """600 picks on 6 micrographs of 600 px, shifted by refinement, particles at 2 A/px; with
    ``image_angpix`` the micrographs are at 1 A/px (particles extracted binned 2x)."""
    rng = np.random.default_rng(4)
    n = 600
    parts = pd.DataFrame({
        "rlnMicrographName": [f"MotionCorr/mic{k}.mrc" for k in rng.integers(0, 6, n)],
        "rlnCoordinateX": rng.uniform(0, 600, n).round(1), "rlnCoordinateY": rng.uniform(0, 600, n).round(1),
        "rlnOriginXAngst": rng.normal(0, 8, n).round(2), "rlnOriginYAngst": rng.normal(0, 8, n).round(2),
        "rlnImageName": [f"{i + 1:06d}@Extract/job007/p.mrcs" for i in range(n)], "rlnOpticsGroup": 1})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
                           "rlnImagePixelSize": [2.0], "rlnImageSize": [64], "rlnImageDimensionality": [2],
                           "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    table = table_from_dataframe(parts, optics)
    write_star(table, tmp_path / "in.star")
    extra = [] if image_angpix is None else ["--image_angpix", str(image_angpix)]
    result = subprocess.run(["relion_star_handler", "--i", "in.star", "--o", "out.star", "--remove_duplicates",
                             str(distance), *extra], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    relion_kept = set(read_star(tmp_path / "out.star").particles["rlnImageName"])
    ours = outranked_by(pick_positions(table, image_angpix), distance)
    assert 20 < (ours >= 0).sum() < n - 20  # a test with duplicates to find, and picks that stay
    assert set(parts["rlnImageName"][ours < 0]) == relion_kept
