"""Fixtures of the micrograph tests (test_micrograph.py, test_topaz_picks.py): the dot
micrograph and its RELION 3.0 coordinate STAR."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.io.test_micrograph import DOTS, dot_micrograph, write_mrc, write_star30


@pytest.fixture
def mic(tmp_path: Path) -> Path:
    return write_mrc(tmp_path / "mic.mrc", dot_micrograph())


@pytest.fixture
def star(tmp_path: Path) -> Path:
    return write_star30(tmp_path / "mic_autopick.star", DOTS)
