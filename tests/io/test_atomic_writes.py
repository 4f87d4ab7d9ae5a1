from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_dir, atomic_path, atomic_paths, write_text
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


# --- a full disk, an I/O error: one OSError naming the destination, nothing left behind -----------

DISK_ERRORS = [(errno.ENOSPC, "no space left on device"), (errno.EIO, "input/output error")]


def fail_with(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.mark.parametrize("code, message", DISK_ERRORS)
def test_stack_space_is_reserved_before_writing(monkeypatch, tmp_path: Path, code: int, message: str) -> None:
    """The whole stack is reserved up front, so a full disk is an OSError at once, not a SIGBUS later."""
    monkeypatch.setattr(os, "posix_fallocate", fail_with(code), raising=False)
    with pytest.raises(OSError) as info:
        write_stack(tmp_path / "s.mrcs", np.ones((3, 8, 8)))
    assert info.value.errno == code and info.value.filename == str(tmp_path / "s.mrcs")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code, message", DISK_ERRORS)
def test_stack_write_error_mid_run(monkeypatch, tmp_path: Path, code: int, message: str) -> None:
    """Where space cannot be reserved (no posix_fallocate), the writes themselves report the disk."""
    from gan_viewer.io.mrc import StackWriter

    monkeypatch.delattr(os, "posix_fallocate", raising=False)
    with pytest.raises(OSError) as info, StackWriter(tmp_path / "s.mrcs", (4, 8, 8)) as out:
        out.write(0, np.ones((2, 8, 8)))
        monkeypatch.setattr(os, "pwrite", fail_with(code))
        out.write(2, np.ones((2, 8, 8)))
    assert info.value.errno == code and info.value.filename == str(tmp_path / "s.mrcs") and message in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code, message", DISK_ERRORS)
def test_deferred_error_at_fsync_names_the_destination(monkeypatch, tiny_set: Path, tmp_path: Path, code: int,
                                                       message: str) -> None:
    """Network file systems report a full disk when the data is flushed: still one line, the real name."""
    table = read_star(tiny_set)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(os, "fsync", fail_with(code))
    with pytest.raises(OSError) as info:
        write_star(table, out / "k.star")
    assert info.value.filename == str(out / "k.star") and message in str(info.value)
    assert list(out.iterdir()) == []


def test_full_disk_wrapped_by_a_library_is_found(tmp_path: Path) -> None:
    """torch.save turns a failed write into a RuntimeError; the OSError in its chain is what is said."""
    with pytest.raises(OSError) as info, atomic_path(tmp_path / "state.pt") as tmp:
        tmp.write_bytes(b"partial")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "state.pt")
    assert list(tmp_path.iterdir()) == []


def test_free_space_is_checked_up_front(monkeypatch, tmp_path: Path) -> None:
    from gan_viewer.io.mrc import StackWriter

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10 ** 9, 10 ** 9 - 5000, 5000))
    with pytest.raises(OSError, match=r"no space left on device: needs 33\.8 kB, 5\.0 kB free") as info:
        StackWriter(tmp_path / "s.mrcs", (2, 64, 64)).__enter__()
    assert info.value.filename == str(tmp_path / "s.mrcs") and list(tmp_path.iterdir()) == []


def test_several_files_are_renamed_together(tmp_path: Path) -> None:
    """A failure in the last file leaves the earlier ones unwritten, and existing files untouched."""
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(OSError), atomic_paths([tmp_path / "a.txt", tmp_path / "b.txt"], overwrite=True) as temps:
        write_text(temps[0], "new a")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert (tmp_path / "a.txt").read_text() == "old a" and sorted(os.listdir(tmp_path)) == ["a.txt"]
    with atomic_paths([tmp_path / "a.txt", tmp_path / "b.txt"], overwrite=True) as temps:
        write_text(temps[0], "new a")
        write_text(temps[1], "new b")
    assert (tmp_path / "a.txt").read_text() == "new a" and (tmp_path / "b.txt").read_text() == "new b"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]


def test_a_failed_rename_undoes_the_earlier_ones(monkeypatch, tmp_path: Path) -> None:
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("b.txt"):
            raise OSError(errno.EIO, "Input/output error", str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="input/output error") as info, \
            atomic_paths([tmp_path / "a.txt", tmp_path / "b.txt"]) as temps:
        write_text(temps[0], "a")
        write_text(temps[1], "b")
    assert info.value.filename == str(tmp_path / "b.txt") and list(tmp_path.iterdir()) == []
