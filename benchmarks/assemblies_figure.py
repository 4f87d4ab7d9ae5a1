"""Figure: one projection of each family of procedural assemblies (and central slices of the hollow ones).

Every model is rendered at 3 A/px in a 128 px box with a 6 A low-pass (as ``assembly_map`` does)
and summed along the axis named under it (z: top view down the symmetry axis or membrane normal;
y: side view), or cut: "slice" is the central xy plane, "side slice" the central xz plane.

Usage: ``python benchmarks/assemblies_figure.py [--out benchmarks/figures/assemblies.png] [--dpi 70] [--seed 3]``
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gan_viewer.sim import assemblies as asm  # noqa: E402
from gan_viewer.sim.atomic import atoms_to_map  # noqa: E402
from gan_viewer.sim.membrane import membrane_protein  # noqa: E402

APIX, BOX, DIAMETER = 3.0, 128, 250.0
FIGURE = Path(__file__).resolve().parent / "figures" / "assemblies.png"

#: (title, generator(rng, diameter), view): "z" or "y" (sum along it), "slice" or "side slice"
PANELS = [
    ("oligomer C5", partial(asm.point_group_oligomer, group="C5"), "z"),
    ("oligomer D4", partial(asm.point_group_oligomer, group="D4"), "y"),
    ("oligomer T", partial(asm.point_group_oligomer, group="T"), "z"),
    ("oligomer O", partial(asm.point_group_oligomer, group="O"), "z"),
    ("oligomer I", partial(asm.point_group_oligomer, group="I"), "z"),
    ("capsid", partial(asm.shell, style="capsid"), "z"),
    ("capsid", partial(asm.shell, style="capsid"), "slice"),
    ("24-mer shell", partial(asm.shell, style="shell24"), "slice"),
    ("12-mer shell", partial(asm.shell, style="shell12"), "slice"),
    ("cage", partial(asm.shell, style="cage"), "z"),
    ("ring", partial(asm.ring, style="ring"), "z"),
    ("ring", partial(asm.ring, style="ring"), "z"),
    ("double ring", partial(asm.ring, style="double_ring"), "y"),
    ("barrel", partial(asm.ring, style="barrel"), "y"),
    ("helical filament", partial(asm.filament, style="helical"), "y"),
    ("rod", partial(asm.filament, style="rod"), "y"),
    ("multi-domain chain", partial(asm.filament, style="chain"), "y"),
    ("small protein", partial(asm.small_protein, style="single"), "z"),
    ("small dimer", partial(asm.small_protein, style="dimer"), "z"),
    ("flexible", asm.flexible, "z"),
    ("micelle", partial(membrane_protein, style="micelle"), "y"),
    ("micelle", partial(membrane_protein, style="micelle"), "side slice"),
    ("nanodisc", partial(membrane_protein, style="nanodisc"), "y"),
    ("nanodisc", partial(membrane_protein, style="nanodisc"), "z"),
    ("empty", asm.empty, "z"),
]


def panel_image(make, view: str, rng: np.random.Generator) -> np.ndarray:
    """(BOX, BOX) projection or slice of a freshly generated model."""
    volume = atoms_to_map(make(rng, DIAMETER), APIX, BOX, resolution=2 * APIX)  # (z, y, x)
    if view == "slice":
        return volume[BOX // 2]
    if view == "side slice":
        return volume[:, BOX // 2]
    return volume.sum(axis=0 if view == "z" else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURE)
    parser.add_argument("--dpi", type=int, default=70)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    columns = 5
    rows = -(-len(PANELS) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.35 * rows))
    for k, (ax, (title, make, view)) in enumerate(zip(axes.flat, PANELS)):
        image = panel_image(make, view, np.random.default_rng([args.seed, k]))
        ax.imshow(image, cmap="gray", origin="lower", vmin=0, vmax=max(float(image.max()), 1e-12))
        ax.set_title(f"{title} ({view})", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"procedural assemblies, {DIAMETER:.0f} A requested, {APIX:g} A/px, {BOX} px", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
