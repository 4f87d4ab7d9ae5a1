from __future__ import annotations

from gan_viewer.core.particles import open_particles
from gan_viewer.gui.demo import DEMO_N, demo_dir, demo_set
from gan_viewer.io.star import read_star


def test_demo_is_simulated_once_from_the_bundled_map() -> None:
    star, map_path = demo_set()
    assert star.parent == demo_dir() and map_path.name == "betagal_5a1a.mrc"
    table = read_star(star)
    assert len(table) == DEMO_N and table.eulers() is not None and "rlnDefocusU" in table.columns
    assert open_particles(star).images([0, DEMO_N - 1]).shape[0] == 2
    mtime = star.stat().st_mtime
    assert demo_set()[0].stat().st_mtime == mtime  # cached: not simulated again
