"""Background work: stale results are dropped, the UI thread never waits on the model."""

from __future__ import annotations

import threading
import time

import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtTest import QTest

from gan_viewer.gui.workers import LruCache, Request, Worker
from tests.gui.conftest import fake_loader, wait_complete


def test_worker_latest_request_wins(qtbot):
    worker = Worker("test")
    worker.start()
    seen = []
    worker.resultReady.connect(lambda req, idx, res: seen.append(int(res)))
    slow = lambda idx: (time.sleep(0.1), int(idx[0]))[1]  # noqa: E731
    worker.replace([Request("x", np.array([i]), slow) for i in range(5)])
    time.sleep(0.02)  # the first one is running now
    worker.replace([Request("x", np.array([9]), slow)])  # 1..4 are dropped unrun
    qtbot.waitUntil(lambda: worker.idle() and 9 in seen, timeout=5000)
    assert seen == [0, 9]
    worker.stop()


def test_worker_bulk_progress_cancel_and_errors(qtbot):
    worker = Worker("test")
    worker.start()
    progress, failures = [], []
    worker.progress.connect(lambda req, done, total: progress.append(done))
    worker.failed.connect(lambda req, msg: failures.append(msg))
    bulk = Request("bulk", np.arange(100), lambda idx: time.sleep(0.02), chunk=10)
    with qtbot.waitSignal(worker.bulkFinished, timeout=5000):
        worker.start_bulk(bulk)
        qtbot.waitUntil(lambda: len(progress) >= 2, timeout=5000)
        worker.cancel_bulk()
    assert 2 <= len(progress) < 10
    worker.replace([Request("x", np.array([0]), lambda idx: 1 / 0)])
    qtbot.waitUntil(lambda: bool(failures), timeout=5000)
    assert "division" in failures[0]
    worker.stop()


def test_lru_cache_bounds_bytes():
    cache = LruCache(max_bytes=3 * 400)
    for i in range(5):
        cache.put(i, np.zeros(100, np.float32))
    assert len(cache) == 3 and 0 not in cache and 4 in cache
    cache.get(2)
    cache.put(5, np.zeros(100, np.float32))
    assert 2 in cache and 3 not in cache


def test_stale_results_are_dropped(make_window, qtbot, tiny_set):
    gate, calls = threading.Event(), []
    window = make_window(tiny_set, loader=fake_loader(calls=calls, gate=gate), prefetch=0)
    qtbot.waitUntil(lambda: bool(calls), timeout=5000)  # particle 0 is being denoised, held at the gate
    for index in (1, 2, 3, 4, 5, 6):  # the cursor moves on before that result comes back
        window.go(index)
    gate.set()
    wait_complete(qtbot, window, 6)
    images = window.images
    assert images.stats["dropped"] >= 1  # particle 0's late result
    assert images.get("recovered", 0) is None
    # what is shown is particle 6's own result, not a late one for an earlier particle
    np.testing.assert_allclose(images.get("recovered", 6), -images.raw(6))
    assert all(images.get("recovered", i) is None for i in (1, 2, 3, 4))  # skipped, never computed
    assert len(calls) <= 3


def test_results_from_an_old_model_are_dropped(make_window, qtbot, tiny_set):
    window = make_window(tiny_set, loader=fake_loader(delay=0.2), prefetch=0)
    qtbot.waitUntil(lambda: window.engine.denoise is not None, timeout=5000)
    window.go(3)
    QTest.qWait(50)  # particle 3 is being denoised by the current model ...
    window.viewbar.device.setCurrentText("cuda")  # ... when the model is replaced
    wait_complete(qtbot, window, 3)
    assert window.images.stats["dropped"] >= 1
    assert "fake on cuda" in window.generator_status


def test_ui_stays_responsive_while_the_model_runs(make_window, qtbot, tiny_set):
    """Key presses and timers are handled while the generator is busy; then its work arrives.
    (How fast: ``benchmarks/bench_session.py``.)"""
    gate, calls = threading.Event(), []
    window = make_window(tiny_set, loader=fake_loader(calls=calls, gate=gate), prefetch=4)
    qtbot.waitUntil(lambda: bool(calls), timeout=10000)  # an inference is running, held at the gate
    ticks = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    for _ in range(5):
        QTest.keyClick(window, Qt.Key.Key_K)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=10000)  # the event loop runs meanwhile
    timer.stop()
    assert not gate.is_set() and window.session.curation.counts()[1] == 5 and window.session.cursor == 5
    assert window.triptych.message("recovered").startswith("computing")
    gate.set()
    wait_complete(qtbot, window, 5)  # the work finished and reached the panel
    assert window.triptych.image("recovered") is not None
