"""Display filters at real sizes: how long the low-pass and binning take, and whether the window waits.

1. The filters alone (gan_viewer.core.display_filters): a 4096 x 4096 micrograph (read, FFT once,
   then each setting), and particles at 256 and 320 px (the raw panel: one; the gallery: 64).
2. The window on the micrograph, opened without coordinates, then each setting in turn: the time
   until it is on screen, the background thread's share, and the longest the UI thread went
   without running its event loop (a 5 ms timer's largest gap).

    python benchmarks/bench_display.py [--micrograph ../shared/data/micrographs/fei_epu/epu2.9_example.mrc]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MICROGRAPH = ROOT.parent / "shared" / "data" / "micrographs" / "fei_epu" / "epu2.9_example.mrc"
SETTINGS = [(None, 1), (20.0, 1), (20.0, 2), (10.0, 4), (40.0, 1)]


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_filters(path: Path) -> dict:
    from gan_viewer.core.display_filters import DisplayFilter, Spectrum, filter_images
    from gan_viewer.gui.micrograph_view import display_binning
    from gan_viewer.io.micrograph import micrograph_header, read_micrograph

    (h, w), apix = micrograph_header(path)
    out = {"micrograph": str(path), "shape": [h, w], "apix": apix}
    out["read_s"] = best_of(lambda: read_micrograph(path))
    image = read_micrograph(path)
    out["fft_once_s"] = best_of(lambda: Spectrum(image, apix))
    spectrum = Spectrum(image, apix)
    out["per_setting_s"] = {DisplayFilter(lp, b).describe() or "off": best_of(
        lambda lp=lp, b=b: spectrum.image(DisplayFilter(lp, b), display_binning(spectrum.shape)).image)
        for lp, b in SETTINGS}
    rng = np.random.default_rng(0)
    for box in (256, 320):
        one = rng.normal(size=(box, box)).astype(np.float32)
        batch = rng.normal(size=(64, box, box)).astype(np.float32)
        out[f"particle_{box}px_ms"] = 1e3 * best_of(lambda: filter_images(one, DisplayFilter(20.0), 1.3), 10)
        out[f"gallery_64x{box}px_ms"] = 1e3 * best_of(lambda: filter_images(batch, DisplayFilter(20.0, 2), 1.3))
    return out


def bench_window(path: Path) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QElapsedTimer, QSettings, QTimer

    from gan_viewer.core.display_filters import DisplayFilter
    from gan_viewer.gui.app import create_app
    from gan_viewer.gui.main_window import MainWindow

    app = create_app()
    folder = tempfile.mkdtemp(prefix="bench_display_")  # the settings it changes are not the user's
    settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(loader=lambda model, device: (lambda images, apix=None: images, "none"), device="cpu",
                        settings=settings)
    window.set_display_filter(DisplayFilter())
    window.resize(1366, 720)
    window.show()
    clock, gaps = QElapsedTimer(), []
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=5)
    timer.timeout.connect(tick)
    timer.start()
    result = {}
    for lowpass, binning in SETTINGS:
        display, start, gaps[:] = DisplayFilter(lowpass, binning), time.perf_counter(), []
        if not result:
            name = "open (widgets, read, FFT, no filter)"
            window.open_path(path)
        else:
            name = display.describe()
            window.set_display_filter(display)
        view = window.docks.micrograph
        while not view.shown:
            app.processEvents()
            time.sleep(0.002)
        result[name] = {"on_screen_after_s": time.perf_counter() - start,
                        "ui_thread_longest_busy_ms": max(gaps, default=0), "worker_s": dict(view.maker.timings)}
    timer.stop()
    window.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--micrograph", type=Path, default=DEFAULT_MICROGRAPH)
    args = parser.parse_args()
    result = {"filters": bench_filters(args.micrograph), "window": bench_window(args.micrograph)}
    print(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
