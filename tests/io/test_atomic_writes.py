from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_dir, atomic_path
from gan_viewer.io.mrc import write_map, write_stack
from gan_viewer.io.star import read_star, write_star


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_get_ordinary_permissions(tmp_path: Path, tiny_set: Path) -> None:
    old = os.umask(0o022)
    try:
        star = write_star(read_star(tiny_set), tmp_path / "a.star")
        stack = write_stack(tmp_path / "a.mrcs", np.zeros((1, 4, 4)))
        volume = write_map(tmp_path / "a.mrc", np.zeros((4, 4, 4)))
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(old)
    assert {mode(star), mode(stack), mode(volume)} == {0o644}
    assert mode(tmp_path / "folder") == 0o755


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "d") as tmp:
        (tmp / "x").write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_non_empty_folder_is_kept(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "mine").write_text("keep")
    with pytest.raises(InputError, match="not empty"), atomic_dir(tmp_path / "d"):
        pass
    assert (tmp_path / "d" / "mine").read_text() == "keep"
