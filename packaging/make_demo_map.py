"""Make ``resources/demo/betagal_5a1a.mrc``: the demo's reference map.

Beta-galactosidase from the atomic model PDB 5A1A (CC0), rendered with electron scattering
factors at 3 A/px in an 80^3 box and low-passed to 6 A. Run from the repository root:
``python packaging/make_demo_map.py ../shared/data/structures/5a1a.cif.gz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gan_viewer.io.mrc import write_map
from gan_viewer.sim.atomic import model_to_map

APIX, BOX, RESOLUTION = 3.0, 80, 6.0


def main() -> None:
    model = Path(sys.argv[1])
    out = Path(__file__).resolve().parents[1] / "resources" / "demo" / "betagal_5a1a.mrc"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_map(out, model_to_map(model, APIX, BOX, resolution=RESOLUTION), APIX, overwrite=True)
    print(out)


if __name__ == "__main__":
    main()
