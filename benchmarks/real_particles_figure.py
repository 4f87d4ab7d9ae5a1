"""Real particles from the three real sets in ../shared/data: raw | low-pass | recovered | spread.

Each set at its own box and pixel size (RELION 3.1 sample: 256 px at 2.806 A/px; EMPIAR-10076
50S ribosome: 320 px at 1.31 A/px; ASPIRE sample: 200 px at 1.4 A/px). The low-pass is a
Gaussian to 20 A (its 1/e point), the simple baseline a user has at hand. The recovered images
share one contrast per set (not one per image), so a box the generator finds empty looks empty;
the spread (how much the recovery changes when the particle is rotated or flipped) shares one
colour scale per set. The title of each recovered image gives its confidence.

``--topaz VENV/bin/topaz`` adds a column: the same raw particles through Topaz-Denoise's default
pretrained model (``topaz denoise --stack``, in its own environment; see ``bench_peers.py``), the
field's general-purpose denoiser. The README figure is made with it.

Usage: ``python benchmarks/real_particles_figure.py [--model PATH] [--out PNG] [--per-set 3] [--topaz PATH]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "particles"
SETS = (("RELION 3.1 sample", "real_relion31/relion31.star"),
        ("EMPIAR-10076 50S", "real_empiar10076/empiar_10076_7.star"),
        ("ASPIRE sample", "real_aspire_sample/sample_particles_relion31.star"))


def lowpass(images: np.ndarray, apix: float, resolution: float = 20.0) -> np.ndarray:
    from gan_viewer.core.baselines import gaussian_lowpass

    sigma_px = resolution / (2 * np.pi * apix) * np.sqrt(2)  # Fourier amplitude 1/e at 1/resolution
    return gaussian_lowpass(images, sigma_px)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "figures" / "real_particles.png")
    parser.add_argument("--per-set", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--topaz", default=None, help="the topaz program of its own environment: adds its column")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_viewer.core.normalize import display_limits, relion_normalize
    from gan_viewer.core.particles import noise_groups, open_particles, pixel_sizes
    from gan_viewer.ml.inference import Denoiser
    from gan_viewer.ml.stream import set_noise_power

    denoiser = Denoiser.load(args.model, args.device)
    rows = []
    for name, rel in SETS:
        source = open_particles(DATA / rel)
        sizes = pixel_sizes(source)
        apix = float(sizes[0])
        idx = np.arange(min(args.per_set, len(source)))
        raw = relion_normalize(source.images(idx))[0]
        # as the inspector does: with the noise spectrum of their optics group, not of these few
        groups = noise_groups(source, sizes)
        if len(np.unique(groups[idx])) != 1:
            raise SystemExit(f"{rel}: the first {len(idx)} particles span several optics groups or pixel sizes")
        rec = denoiser.recover(raw, apix, spread=True,
                               noise_power=set_noise_power(denoiser, source, groups, int(groups[idx[0]])))
        peer = None
        if args.topaz:
            import tempfile

            from bench_peers import topaz_denoise

            with tempfile.TemporaryDirectory() as tmp:
                peer = topaz_denoise(args.topaz, raw, apix, "unet", Path(tmp))[0]
        rows.append((name, apix, raw, lowpass(raw, apix), rec, peer))
    n_rows = sum(len(r[2]) for r in rows)
    n_columns = 5 if args.topaz else 4
    fig, axes = plt.subplots(n_rows, n_columns, figsize=(1.8 * n_columns, 1.85 * n_rows))
    r = 0
    for name, apix, raw, low, rec, peer in rows:
        lo_rec, hi_rec = np.percentile(rec.images, [0.5, 99.5])
        hi_sd = float(np.percentile(rec.spread, 99.5)) or 1.0
        for i in range(len(raw)):
            cells = ((raw[i], "gray", display_limits(raw[i]), "raw"),
                     (low[i], "gray", display_limits(low[i]), "low-pass 20 A"),
                     (rec.images[i], "gray", (lo_rec, hi_rec), f"recovered (conf. {rec.confidence[i]:.2f})"),
                     (rec.spread[i], "magma", (0, hi_sd), "spread"))
            if peer is not None:
                cells = cells[:2] + ((peer[i], "gray", display_limits(peer[i]), "Topaz-Denoise unet"),) + cells[2:]
            for j, (image, cmap, (lo, hi), title) in enumerate(cells):
                ax = axes[r, j]
                ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi, origin="lower")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(title, fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"{name}\n{raw.shape[-1]} px, {apix:g} A/px", fontsize=6)
            r += 1
    fig.suptitle(f"real particles, generator {denoiser.name} (format {denoiser.format})", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(args.out)


if __name__ == "__main__":
    main()
