"""MicrographView on the real ucsf_1142 micrograph: orientation, clicks on boxes, label colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore  # noqa: E402

from gan_viewer.core.curation import Label  # noqa: E402
from gan_viewer.core.display_filters import DisplayFilter, Spectrum  # noqa: E402
from gan_viewer.gui.micrograph_view import LABEL_PENS, MicrographView, display_binning  # noqa: E402
from gan_viewer.core.micrograph_particles import MicrographParticles  # noqa: E402
from gan_viewer.io.mrc import MrcStack  # noqa: E402

MICROGRAPHS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "micrographs" / "ucsf_1142"
PNG = Path("/tmp/gan_viewer_micrograph_ucsf_1142.png")


@pytest.fixture
def picks():
    mic = MICROGRAPHS / "Ucsf_stack_1142_DW.mrc"
    if not mic.is_file():
        pytest.skip("shared data not available")
    particles = MicrographParticles(mic, MICROGRAPHS / "Ucsf_stack_1142_DW_autopick.star", 64)
    with MrcStack(mic) as stack:
        image = np.asarray(stack.read(np.array([0]))[0], np.float32)
    yield image, particles
    particles.close()


@pytest.fixture
def view(qtbot, picks):
    image, particles = picks
    widget = MicrographView()
    qtbot.addWidget(widget)
    widget.resize(700, 700)
    widget.show()
    qtbot.waitExposed(widget)
    labels = np.zeros(len(particles), np.int8)
    widget.set_micrograph(image, particles.coordinates, particles.box, labels)
    qtbot.waitUntil(lambda: widget.shown, timeout=20000)  # made in a background thread
    return widget


def widget_point(view: MicrographView, x: float, y: float) -> QtCore.QPoint:
    scene = view.viewbox.mapViewToScene(QtCore.QPointF(x, y))
    return view.graphics.mapFromScene(scene)


def pen_colours(view: MicrographView) -> list[tuple[int, ...]]:
    return [pen.color().getRgb() for pen in view.boxes.data["pen"]]


def test_clicking_a_particle_emits_its_index(qtbot, view, picks) -> None:
    _, particles = picks
    assert len(particles) == 45
    for index in (0, 7, 30):
        x, y = particles.coordinates[index] + 0.5
        with qtbot.waitSignal(view.particleClicked, timeout=1000) as blocker:
            qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton,
                             pos=widget_point(view, x + 10, y - 10))  # inside the 64 px box
        assert blocker.args == [index]
    with qtbot.assertNotEmitted(view.particleClicked):
        qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton,
                         pos=widget_point(view, 470, 440))  # between picks
        qtbot.wait(20)


def test_row_zero_is_at_the_top(view, picks) -> None:
    image, particles = picks
    top = widget_point(view, 100, 0.5).y()
    bottom = widget_point(view, 100, image.shape[0] - 0.5).y()
    assert top < bottom  # y (the array row) grows downwards, as in relion_display
    left, right = widget_point(view, 0.5, 10).x(), widget_point(view, image.shape[1] - 0.5, 10).x()
    assert left < right


def test_set_labels_recolours_and_current_highlights(qtbot, view, picks) -> None:
    _, particles = picks
    undecided = LABEL_PENS[Label.UNDECIDED].color().getRgb()
    assert set(pen_colours(view)) == {undecided}
    labels = np.zeros(len(particles), np.int8)
    labels[:5], labels[5:10] = Label.KEEP, Label.REJECT
    view.set_labels(labels)
    colours = pen_colours(view)
    assert colours[0] == LABEL_PENS[Label.KEEP].color().getRgb()
    assert colours[7] == LABEL_PENS[Label.REJECT].color().getRgb()
    assert colours[20] == undecided
    view.set_current(12)
    assert view.current == 12
    assert np.allclose(view.current_box.data["x"][0], particles.coordinates[12, 0] + 0.5)
    view.grab().save(str(PNG))
    view.set_current(None)
    assert view.current is None and len(view.current_box.data) == 0
    with pytest.raises(ValueError):
        view.set_labels(np.zeros(3, np.int8))


def test_large_micrographs_are_binned_for_display() -> None:
    big = np.random.default_rng(0).normal(size=(4100, 3000)).astype(np.float32)
    assert display_binning(big.shape) == 3
    shown = Spectrum(big, 1.0).image(DisplayFilter(), display_binning(big.shape))
    assert shown.binning == 3 and shown.image.dtype == np.float32
    assert shown.image.shape == (1367, 1000)  # 4100 padded to 4320 and binned: the micrograph's 1366.7 rows
    assert shown.extent == pytest.approx((4100, 3000), abs=3)
    small = Spectrum(big[:100, :100], 1.0).image(DisplayFilter(), display_binning((100, 100)))
    assert small.binning == 1 and np.allclose(small.image, big[:100, :100], atol=1e-4)


def test_path_is_read_and_filtered_off_the_ui_thread(qtbot, picks) -> None:
    image, particles = picks
    widget = MicrographView(display=DisplayFilter(20.0))
    qtbot.addWidget(widget)
    widget.set_micrograph(MICROGRAPHS / "Ucsf_stack_1142_DW.mrc", particles.coordinates, particles.box,
                          np.zeros(len(particles), np.int8), apix=particles.pixel_size)
    assert not widget.shown and widget.status.text().startswith("reading")
    with qtbot.waitSignal(widget.displayChanged, timeout=20000) as blocker:
        pass
    assert blocker.args == ["low-pass 20 Å"] and widget.shown
    expected = Spectrum(image, particles.pixel_size).image(DisplayFilter(20.0)).image
    np.testing.assert_allclose(widget.display_image.image, expected, rtol=1e-6)
    assert widget.image_item.image.dtype == np.uint8 and widget.image_item.image.shape == expected.shape


def test_a_display_made_for_a_deleted_view_is_dropped_quietly(qtbot) -> None:
    """The view can be deleted while its background thread works; the thread's result (or its
    error) must then go nowhere, not raise in the thread (looking up the signal raises too)."""
    from PyQt6 import sip

    from gan_viewer.gui.micrograph_view import DisplayMaker

    maker = DisplayMaker()
    sip.delete(maker)
    maker._send("ready", 1, None, None)
    maker._send("failed", 1, "gone")

