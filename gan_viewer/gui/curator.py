"""The curator model in the window: retrained in its own thread after decisions and new scores.

:class:`CuratorModel` gathers the features (the session's scores, the generator's embedding,
the STAR's score columns), fits :func:`gan_viewer.core.learning.fit_predict` in a worker thread
a moment after the last decision (a burst of decisions trains once), and publishes the
prediction. It never changes a label: the window shows the prediction, "Next most uncertain"
goes to the particles it is least sure of, and "Apply the model's predictions" asks first.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from gan_viewer.core.curation import Label
from gan_viewer.core.learning import Prediction, fit_predict, most_uncertain, star_score_columns
from gan_viewer.gui.workers import Request, Worker

log = logging.getLogger(__name__)

#: wait this long after the last change before training
DEBOUNCE_MS = 400


class CuratorModel(QObject):
    """Predictions of keep / reject for a session's particles.

    Parameters
    ----------
    session
        The session (its labels and its STAR's score columns).
    features
        ``features() -> {name: (n,) float}``, the scores known now (read in the UI thread).

    Signals
    -------
    predicted()
        :attr:`prediction` changed.
    """

    predicted = pyqtSignal()

    def __init__(self, session, features: Callable[[], dict[str, np.ndarray]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self._features = session, features
        n = len(session)
        self.prediction = Prediction(np.full(n, np.nan, np.float32), reason="curator model: waiting for decisions")
        table = getattr(getattr(session.source, "table", None), "particles", None)
        self._star = {} if table is None else {
            name: np.asarray(table[name].to_numpy(np.float64, na_value=np.nan), np.float32)
            for name in star_score_columns([str(c) for c in table.columns])
            if np.issubdtype(table[name].dtype, np.number)}
        self.worker = Worker("learning")
        self.worker.resultReady.connect(self._on_result)
        self.worker.failed.connect(self._on_failed)
        self.worker.start()
        self._running: Request | None = None
        self._again = False
        self.timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.timer.timeout.connect(self.train)
        self.schedule()

    def features(self) -> dict[str, np.ndarray]:
        """Copies of every feature, name -> (n,)."""
        features = {name: np.array(values, np.float32) for name, values in self._features().items()}
        features.update({name: values for name, values in self._star.items() if name not in features})
        return features

    def schedule(self) -> None:
        """Train again soon (decisions or scores changed)."""
        self.timer.start()

    def train(self) -> None:
        """Fit on the decisions so far, in the worker thread (one fit at a time)."""
        if self._running is not None:
            self._again = True
            return
        features, labels = self.features(), self.session.curation.labels.copy()
        self._running = Request("task", np.zeros(0, np.int64), lambda _: fit_predict(features, labels))
        self.worker.run_task(self._running)

    def p_keep(self) -> np.ndarray | None:
        """(n,) probability of keep, or None before the model has learnt."""
        return self.prediction.p_keep if self.prediction.ready else None

    def next_uncertain(self) -> int | None:
        """The undecided particle the model is least sure of, or None."""
        p = self.p_keep()
        if p is None:
            return None
        ask = most_uncertain(p, self.session.curation.labels, 1)
        return int(ask[0]) if ask.size else None

    def describe(self, index: int) -> str:
        """The prediction for particle ``index`` in a few words ("" when there is none)."""
        p = self.p_keep()
        if p is None or not np.isfinite(p[index]):
            return ""
        label = self.session.curation.label(index)
        guess = "keep" if p[index] >= 0.5 else "reject"
        return f"model: {guess} (p keep {p[index]:.2f})" + ("" if label == Label.UNDECIDED else ", you decided")

    def close(self) -> None:
        self.timer.stop()
        self.worker.stop()

    def _on_result(self, request: Request, _indices, result: Prediction) -> None:
        if request is not self._running:
            return
        self._running = None
        self.prediction = result
        log.debug("%s", result.summary())
        self.predicted.emit()
        if self._again:
            self._again = False
            self.train()

    def _on_failed(self, request: Request, message: str) -> None:
        if request is self._running:
            self._running = None
            log.warning("the curator model could not be trained: %s", message)
