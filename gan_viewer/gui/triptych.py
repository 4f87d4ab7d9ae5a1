"""Raw | GAN-recovered | reference projection, side by side with one contrast and linked zoom.

The raw and reference images are standardised on their own (mean 0, standard deviation 1) and
the three are shown with the same levels, so the panels compare shapes. The recovered image of a
format-2 generator is not standardised: it is divided by the typical amplitude of the recovered
particles of the set, so a box the generator finds (nearly) empty looks (nearly) empty instead of
being stretched to full contrast. Over the recovered panel, the *spread* (where the recovery
changes when the particle is turned or flipped: where the generator is unsure) can be shown in
colour, and a particle whose confidence is below the generator's threshold gets a warning: it
looks like noise to the generator. A panel without an image shows a message instead
("computing…", "no generator: ...", "no reference map ..."), never a blank.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from gan_viewer.core.normalize import standardize
from gan_viewer.core.scores import DEFAULT_SCORE

log = logging.getLogger(__name__)

TITLES = ("raw", "GAN-recovered", "reference projection")
PANELS = ("raw", "recovered", "reference")
PENDING = "…"  # a message ending with this is not final ("computing…")


class Triptych(QWidget):
    """Three linked image panels with titles, messages and an agreement-score line.

    Attributes
    ----------
    mode : str
        "sigma" (levels -/+ ``sigmas`` standard deviations) or "minmax" (shared min and max).
    sigmas : float
    invert : bool
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode, self.sigmas, self.invert = "sigma", 3.0, False
        row = QHBoxLayout()
        row.setSpacing(6)
        self.titles, self.views, self.boxes, self.items, self.texts = {}, {}, {}, {}, {}
        for key, title in zip(PANELS, TITLES):
            row.addLayout(self._panel(key, title), 1)  # equal widths whatever the titles say
        self.boxes["raw"].setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # messages centre at 0.5 until an image
        self.score_label = _label("")
        self.score_label.setWordWrap(True)  # scores, confidence, the model's guess, warnings: two lines when narrow
        self.score_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.spread_item = pg.ImageItem()
        self.spread_item.setLookupTable(_spread_lut())
        self.spread_item.setZValue(5)
        self.spread_item.setVisible(False)
        self.boxes["recovered"].addItem(self.spread_item)
        self.warning = pg.TextItem("", color=(255, 120, 120), anchor=(0.5, 0.0), fill=pg.mkBrush(0, 0, 0, 170))
        self.warning.setZValue(10)
        self.boxes["recovered"].addItem(self.warning, ignoreBounds=True)
        self.warning.setVisible(False)
        self.show_spread = False
        self._spread: np.ndarray | None = None
        self._spread_level = 1.0
        self._confidence: float | None = None
        self._threshold: float | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row, 1)
        layout.addWidget(self.score_label)
        self.setMinimumSize(540, 260)
        self.setStyleSheet("background: black;")
        self._images: dict[str, np.ndarray | None] = dict.fromkeys(PANELS)
        self._messages: dict[str, str] = dict.fromkeys(PANELS, "")
        self._box = 0

    def _panel(self, key: str, title: str) -> QVBoxLayout:
        view = pg.GraphicsView()
        box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        view.setCentralItem(box)
        item, text = pg.ImageItem(), pg.TextItem("", color=(230, 230, 230), anchor=(0.5, 0.5))
        box.addItem(item)
        box.addItem(text, ignoreBounds=True)
        if self.boxes:
            box.setXLink(self.boxes["raw"])
            box.setYLink(self.boxes["raw"])
        self.titles[key] = _label(title)
        self.views[key], self.boxes[key], self.items[key], self.texts[key] = view, box, item, text
        column = QVBoxLayout()
        column.addWidget(self.titles[key])
        column.addWidget(view, 1)
        return column

    # -- content -----------------------------------------------------------------------------------
    def set_images(self, images: dict[str, np.ndarray | None], messages: dict[str, str] | None = None,
                   box: int | None = None, *, recovered_scale: float | None = None,
                   spread: np.ndarray | None = None, confidence: float | None = None,
                   threshold: float | None = None) -> None:
        """Show images per panel ("raw", "recovered", "reference"); a None image shows its message
        from ``messages`` instead.

        ``box`` is the particle's side in pixels (default: the first image's); an image of another
        size (the raw panel binned for display) is stretched over the same (box, box) frame, so
        the linked panels stay aligned. ``recovered_scale`` (format-2 generators: the typical
        amplitude of recovered particles, in noise units) divides the recovered image instead of
        standardising it; ``spread`` (box, box) is the recovered image's per-pixel spread in its
        units, ``confidence`` its confidence and ``threshold`` the generator's noise threshold.
        """
        messages = messages or {}
        for key in PANELS:
            image = images.get(key)
            if image is not None and key == "recovered" and recovered_scale:
                self._images[key] = np.asarray(image, np.float32) / np.float32(recovered_scale)
            else:
                self._images[key] = None if image is None else standardize(image[None])[0]
            self._messages[key] = "" if image is not None else messages.get(key, "")
        has_recovered = self._images["recovered"] is not None
        self._spread = None if spread is None or not has_recovered else np.asarray(spread, np.float32)
        self._spread_level = float(recovered_scale) if recovered_scale else float(
            np.std(images["recovered"])) if has_recovered else 1.0
        known = has_recovered and confidence is not None and math.isfinite(confidence)
        self._confidence = float(confidence) if known else None
        self._threshold = threshold
        shown = [im for im in self._images.values() if im is not None]
        box = box or (shown[0].shape[0] if shown else self._box)
        if box != self._box:
            self._box = box
            self.boxes["raw"].setRange(xRange=(0, self._box), yRange=(0, self._box), padding=0.02)
        self._redraw()

    def set_show_spread(self, on: bool) -> None:
        """Show the spread over the recovered panel (where there is one), or not."""
        self.show_spread = bool(on)
        self._redraw()

    def looks_like_noise(self) -> bool:
        """True when the shown particle's confidence is below the generator's threshold."""
        return self._confidence is not None and self._threshold is not None and self._confidence < self._threshold

    def confidence_text(self) -> str:
        """The confidence line under the panels ("" without one)."""
        if self._confidence is None:
            return ""
        text = f"confidence {self._confidence:.2f}"
        if self.looks_like_noise():
            text += f" (below {self._threshold:.2f}: looks like noise to the generator)"
        return text

    def set_title(self, key: str, text: str) -> None:
        self.titles[key].setText(text)
        self.titles[key].setToolTip(text)

    def set_scores(self, recovered_cc: float, raw_cc: float, extra: tuple[str, ...] = (),
                   gv_score: float = math.nan, gv_computable: bool = True) -> None:
        """The score line: gvScore (the default ranking score; NaN: not computed, or not computable
        without a map and poses: ``gv_computable`` False), the correlation of recovered and raw with
        the reference (NaN: unknown), the confidence, then ``extra`` parts (the curator model's
        prediction, a coverage warning)."""
        fmt = lambda v: "-" if not math.isfinite(v) else f"{v:.3f}"  # noqa: E731
        parts = [self.confidence_text(), *extra]
        gv = (f"{gv_score:.2f}" if math.isfinite(gv_score) else
              "not computed (Score all)" if gv_computable else "needs a map and poses")
        self.score_label.setText(f"{DEFAULT_SCORE} {gv}   ·   agreement with the reference (CC in a circular mask): recovered "
                                 f"{fmt(recovered_cc)}   raw {fmt(raw_cc)}"
                                 + "".join(f"   ·   {part}" for part in parts if part))

    def set_contrast(self, mode: str | None = None, sigmas: float | None = None, invert: bool | None = None) -> None:
        """Change the shared contrast: mode "sigma" or "minmax", the sigma range, inversion."""
        if mode is not None:
            if mode not in ("sigma", "minmax"):
                raise ValueError(f"contrast mode must be 'sigma' or 'minmax', got {mode!r}")
            self.mode = mode
        self.sigmas = self.sigmas if sigmas is None else float(sigmas)
        self.invert = self.invert if invert is None else bool(invert)
        self._redraw()

    def levels(self) -> tuple[float, float]:
        """The levels all panels share, for the standardised images."""
        shown = [im for im in self._images.values() if im is not None]
        if self.mode == "minmax" and shown:
            return float(min(im.min() for im in shown)), float(max(im.max() for im in shown))
        return -self.sigmas, self.sigmas

    def is_complete(self) -> bool:
        """True when every panel shows an image or a final message (nothing still computing)."""
        return all(self._images[k] is not None or (self._messages[k] and not self._messages[k].endswith(PENDING))
                   for k in PANELS)

    def image(self, key: str) -> np.ndarray | None:
        """The standardised image a panel shows, or None."""
        return self._images[key]

    def message(self, key: str) -> str:
        return self._messages[key]

    # -- drawing -----------------------------------------------------------------------------------
    def _redraw(self) -> None:
        lo, hi = self.levels()
        sign = -1.0 if self.invert else 1.0
        levels = (-hi, -lo) if self.invert else (lo, hi)
        for key in PANELS:
            image, item, text = self._images[key], self.items[key], self.texts[key]
            if image is None:
                item.clear()
                text.setHtml(_wrap(self._messages[key]))
                text.setPos(self._box / 2 if self._box else 0.5, self._box / 2 if self._box else 0.5)
                text.setVisible(True)
            else:
                item.setImage(sign * image, levels=levels, autoLevels=False)
                item.setRect(QRectF(0, 0, self._box, self._box))
                text.setVisible(False)
        spread = self._spread if self.show_spread else None
        self.spread_item.setVisible(spread is not None)
        if spread is not None:
            self.spread_item.setImage(spread, levels=(0.0, max(self._spread_level, 1e-12)), autoLevels=False)
            self.spread_item.setRect(QRectF(0, 0, self._box, self._box))
        noisy = self.looks_like_noise()
        self.warning.setVisible(noisy)
        if noisy:
            self.warning.setHtml('<div style="text-align:center; font-size:10pt">looks like noise:<br>'
                                 f'the generator is unsure (confidence {self._confidence:.2f})</div>')
            self.warning.setPos(self._box / 2, 0)


def _spread_lut() -> np.ndarray:
    """(256, 4) uint8 RGBA: magma colours, transparent where the spread is small and more opaque
    as it grows, so the recovered image stays visible under a stable recovery."""
    lut = np.array(pg.colormap.get("magma").getLookupTable(nPts=256, alpha=True), np.uint8)
    lut[:, 3] = np.clip(np.linspace(0, 1, 256) ** 0.7 * 230, 0, 255).astype(np.uint8)
    return lut


def _label(text: str) -> QLabel:
    """A centred title line that never widens its column."""
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setStyleSheet("color: #dddddd; font-size: 12pt; padding: 4px;")
    return label


def _wrap(message: str, width: int = 28) -> str:
    """The message as centred HTML, broken into lines of about ``width`` characters."""
    lines, line = [], ""
    for word in message.split():
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    lines.append(line)
    escaped = [ln.replace("&", "&amp;").replace("<", "&lt;") for ln in lines]
    return f'<div style="text-align:center; font-size:11pt">{"<br>".join(escaped)}</div>'
