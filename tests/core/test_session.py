from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gan_viewer.core.curation import Label
from gan_viewer.core.particles import open_particles
from gan_viewer.core.session import ReadOnlyError, Session, default_journal_path, read_labels, saved_cursor
from gan_viewer.errors import InputError


def test_decisions_are_journaled_and_resumed(tiny_set: Path) -> None:
    session = Session.open(tiny_set)
    assert session.journal.path == tiny_set.parent / "particles.star.gan-viewer.sqlite"
    session.move_to(3)
    session.decide(Label.KEEP)
    session.decide(Label.REJECT, [5, 6])
    session.undo()
    session.redo()
    session.decide(Label.UNDECIDED, [6])
    session.close()
    assert saved_cursor(tiny_set) == 3  # read without opening the particles
    again = Session.open(tiny_set)
    assert again.cursor == 3
    assert again.curation.labels.tolist() == [0, 0, 0, 1, 0, 2, 0, 0, 0, 0]
    assert read_labels(again.journal.path).tolist() == again.curation.labels.tolist()
    kinds = [k for (k,) in again.journal._db.execute("SELECT kind FROM events ORDER BY seq")]
    assert kinds == ["set", "set", "undo", "redo", "set"]


def test_saved_cursor_without_a_session(tiny_set: Path, tmp_path: Path) -> None:
    assert saved_cursor(tiny_set) == 0
    (tmp_path / "x.star.gan-viewer.sqlite").write_text("not a journal")
    assert saved_cursor(tmp_path / "x.star") == 0


def test_changed_particle_file_gets_a_new_session(tiny_set: Path) -> None:
    session = Session.open(tiny_set)
    session.decide(Label.KEEP, [0])
    session.close()
    lines = tiny_set.read_text().rstrip().splitlines()
    tiny_set.write_text("\n".join(lines[:-1]) + "\n")  # drop the last particle
    fresh = Session.open(tiny_set)
    assert len(fresh) == 9 and fresh.curation.counts()[Label.KEEP] == 0
    assert fresh.journal.path != default_journal_path(tiny_set)


def test_each_micrograph_of_one_topaz_table_keeps_its_own_decisions(tmp_path: Path) -> None:
    """Topaz writes the picks of every micrograph into one table: micrograph b, with as many picks
    as a, must not get a's decisions (the session used to be named after the table alone)."""
    from gan_viewer.core.micrograph_particles import MicrographParticles
    from tests.conftest import write_topaz_picks

    picks = write_topaz_picks(tmp_path, {"a": [(20, 30, 1.0), (50, 20, 0.5)], "b": [(25, 35, 1.0), (40, 40, 0.2)]})
    a = Session(MicrographParticles(tmp_path / "a.mrc", picks, 16))
    a.decide(Label.KEEP, [0])
    a.decide(Label.REJECT, [1])
    a.close()
    b = Session(MicrographParticles(tmp_path / "b.mrc", picks, 16))
    assert b.curation.labels.tolist() == [0, 0] and b.journal.path != a.journal.path
    b.decide(Label.REJECT, [0])
    b.close()
    with picks.open("a") as f:  # Topaz run on more micrographs: a's picks are as they were
        f.write("c\t10\t10\t0.1\n")
    again = Session(MicrographParticles(tmp_path / "a.mrc", picks, 16))
    assert again.curation.labels.tolist() == [Label.KEEP, Label.REJECT]
    assert again.journal.path == tmp_path / "predicted_particles_all.txt.a.gan-viewer.sqlite"
    again.close()


@pytest.mark.parametrize("suffix", [".star", ".box"])
def test_a_coordinate_files_session_is_bound_to_its_scale(tmp_path: Path, suffix: str) -> None:
    """Picks of a coordinate file curated at one scale: their decisions never apply at another
    (the fingerprint holds the scale), and sessions of picks at scale 1 keep the fingerprint they
    always had, so they still open."""
    import hashlib

    import mrcfile
    import numpy as np

    from gan_viewer.core.micrograph_particles import MicrographParticles
    from gan_viewer.core.session import fingerprint, session_labels, table_fingerprint
    from tests.conftest import BIN2_PICKS

    with mrcfile.new(tmp_path / "mic.mrc") as mrc:
        mrc.set_data(np.zeros((64, 80), np.float32))
    coords = tmp_path / f"mic_picks{suffix}"
    if suffix == ".star":
        coords.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
                          + "".join(f"{x} {y}\n" for x, y in BIN2_PICKS))
    else:
        coords.write_text("".join(f"{x - 4} {y - 4} 8 8\n" for x, y in BIN2_PICKS))
    at = {scale: MicrographParticles(tmp_path / "mic.mrc", coords, 16, scale=scale) for scale in (1, 2)}
    before = (table_fingerprint(at[1].table) if suffix == ".star"  # as written before scales counted
              else hashlib.sha1(f"12{coords.stat().st_size}".encode()).hexdigest()[:16])
    assert fingerprint(at[1]) == before != fingerprint(at[2])
    one = Session(at[1])
    one.decide(Label.KEEP, [0, 1])
    one.close()
    assert one.other_set_note is None
    two = Session(at[2])
    assert two.curation.counts()[Label.KEEP] == 0 and two.journal.path != one.journal.path
    assert two.other_set_note == (f"{one.journal.path.name} holds 2 decisions on another particle set "
                                  f"({coords.name}) and keeps them; this set ({coords.name} at --coords-scale 2) "
                                  "has its own session")
    two.decide(Label.REJECT, [0])
    two.close()
    with pytest.raises(InputError, match="at --coords-scale 2 .*not .*mic_picks.* \\(12 particles"):
        session_labels(two.journal.path, at[1])
    again = Session(MicrographParticles(tmp_path / "mic.mrc", coords, 16))
    assert again.journal.path == one.journal.path and again.curation.counts()[Label.KEEP] == 2
    again.close()
    assert session_labels(two.journal.path, at[2]).tolist()[:2] == [Label.REJECT, 0]


def test_read_only_folder_uses_user_data_dir(tiny_set: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    path = default_journal_path(tiny_set)
    assert str(path).startswith(str(tmp_path / "xdg"))


def test_foreign_file_is_rejected(tiny_set: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database" * 100)
    with pytest.raises(InputError, match="not a gan-viewer session"):
        read_labels(junk)


CHILD = """
import sys, time
from gan_viewer.core.session import Session
from gan_viewer.core.curation import Label
session = Session.open(sys.argv[1])
for i in range(10):
    session.move_to(i)
    session.decide(Label.KEEP if i % 2 else Label.REJECT)
    print(i, flush=True)
    if i == 6:
        time.sleep(60)  # killed here, mid-session
"""


def test_sigkill_loses_no_decision(tiny_set: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_set)], stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if line.strip() == "6":
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    resumed = Session.open(tiny_set)
    assert resumed.curation.labels[:7].tolist() == [2, 1, 2, 1, 2, 1, 2]
    assert resumed.curation.counts()[Label.UNDECIDED] == 3
    assert resumed.cursor == 6


def test_read_only_data_folder_keeps_no_session(tiny_set: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    tiny_set.parent.chmod(0o555)  # r-x: root could still write there, but must not
    try:
        path = default_journal_path(tiny_set)
        session = Session.open(tiny_set)
        session.decide(Label.KEEP, [2])
        session.close()
    finally:
        tiny_set.parent.chmod(0o755)
    assert str(path).startswith(str(tmp_path / "xdg")) and session.journal.path == path
    assert not list(tiny_set.parent.glob("*.sqlite*"))


MOUNTS = """/dev/vda / ext4 rw,relatime 0 0
server:/export/cryo {data} nfs4 rw,relatime,vers=4.2 0 0
//nas/share\\040two {data}/smb\\040share cifs rw 0 0
tmpfs {data}/smb\\040share/scratch tmpfs rw 0 0
"""


def test_network_filesystems_are_detected_from_the_mount_table(tmp_path: Path) -> None:
    from gan_viewer.core.places import filesystem_type, is_network_filesystem

    mounts = MOUNTS.format(data="/data")
    assert filesystem_type("/data/run1/particles.star", mounts) == "nfs4"
    assert filesystem_type("/data", mounts) == "nfs4"
    assert filesystem_type("/datasets/x.star", mounts) == "ext4"  # a prefix of the name is not a parent
    assert filesystem_type("/data/smb share/x.star", mounts) == "cifs"  # \040 is a space
    assert filesystem_type("/data/smb share/scratch/x.star", mounts) == "tmpfs"  # the deepest mount wins
    assert is_network_filesystem("/data/a.star", mounts) and not is_network_filesystem("/home/a.star", mounts)
    for kind in ("nfs", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "ceph", "glusterfs", "lustre", "gpfs", "beegfs"):
        assert is_network_filesystem("/x/y", f"host:/ /x {kind} rw 0 0"), kind
    assert filesystem_type("/x", "") is None and not is_network_filesystem("/x", "")


def test_session_of_data_on_a_network_filesystem_is_local(tiny_set: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    mounts = MOUNTS.format(data=tiny_set.parent.resolve())
    beside = tiny_set.parent / "particles.star.gan-viewer.sqlite"
    old = Session.open(tiny_set)  # what an earlier version left beside the data
    old.decide(Label.REJECT, [4])
    old.move_to(6)
    old.close()
    assert old.journal.path == beside
    path = default_journal_path(tiny_set, mounts=mounts)
    assert str(path).startswith(str(tmp_path / "xdg")) and path.name.endswith("particles.star.gan-viewer.sqlite")
    session = Session(open_particles(tiny_set), mounts=mounts)
    assert session.journal.path == path
    assert session.curation.labels[4] == Label.REJECT and session.cursor == 6  # taken over from beside the data
    session.decide(Label.KEEP, [0])
    session.close()
    assert read_labels(beside)[0] == Label.UNDECIDED  # nothing more is written on the network folder
    assert read_labels(path)[:5].tolist() == [1, 0, 0, 0, 2]


LOCK_HOLDER = """
import sys, time
from gan_viewer.core.session import Session
session = Session.open(sys.argv[1])
print("read-only" if session.read_only else "writer", flush=True)
time.sleep(60)
"""


def test_one_writer_per_session_and_a_crash_frees_it(tiny_set: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tiny_set)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writer"
        second = Session.open(tiny_set)  # another process holds it: read-only, and says why
        assert second.read_only and f"process {child.pid}" in second.read_only_reason
        assert "particles.star.gan-viewer.sqlite" in second.read_only_reason
        with pytest.raises(ReadOnlyError):
            second.decide(Label.KEEP)
        assert second.curation.labels.tolist() == [0] * 10
        second.close()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    third = Session.open(tiny_set)  # the dead holder's lock went with it
    assert not third.read_only
    assert third.decide(Label.KEEP)
    same_process = Session.open(tiny_set)  # a second window in this process: read-only too
    assert same_process.read_only
    same_process.close()
    third.close()
    assert read_labels(third.journal.path)[0] == Label.KEEP


def test_empty_set_has_nothing_to_curate(tiny_set: Path) -> None:
    from gan_viewer.io.star import read_star, write_star

    table = read_star(tiny_set)
    table.blocks[table.particles_block] = table.particles.iloc[:0]
    empty = write_star(table, tiny_set.parent / "empty.star")
    with pytest.raises(InputError, match="empty.star: has no particles"):
        Session.open(empty)
