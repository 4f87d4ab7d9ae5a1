"""A curation session: a particle set, its labels, and a journal that never loses a decision.

Every decision is committed to the session's SQLite journal (:mod:`gan_viewer.core.journal`)
before it is applied: a process killed at any moment loses nothing, and a decision that cannot be
saved (disk full, I/O error) raises :class:`SaveError` and is not made. Opening the same particle
file again resumes the labels and the cursor (the cursor may be a move or two behind after a
kill: it is written with the next decision or on :meth:`Session.flush_cursor`).

The journal is bound to its particle set by a fingerprint, lives beside the data as
``<file>.gan-viewer.sqlite`` when that folder is local and writable, else in the user data
folder (:mod:`gan_viewer.core.places`), and has one writer: a second window or process on the
same journal opens it read-only (:mod:`gan_viewer.core.lock`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from gan_viewer.core.curation import Curation, Label
from gan_viewer.core.journal import (Journal, ReadOnlyError, SaveError, check_same_set, read_labels, read_session,
                                     read_session_meta, read_session_scores)
from gan_viewer.core.lock import SessionLock
from gan_viewer.core.particles import ParticleSource, open_particles
from gan_viewer.core.places import SUFFIX, beside_path, default_journal_path, folder_is_writable
from gan_viewer.errors import InputError
from gan_viewer.io.star import ParticleTable

__all__ = ["Session", "SaveError", "ReadOnlyError", "fingerprint", "table_fingerprint", "session_labels",
           "session_scores", "session_path", "saved_cursor", "default_journal_path", "folder_is_writable",
           "read_labels", "SUFFIX"]

log = logging.getLogger(__name__)


def fingerprint(source: ParticleSource) -> str:
    """A short hash that changes when the particle set changes (count and image names; for one
    micrograph's picks in a file of many, the micrograph and its picks too; for picks read at a
    coordinate scale other than 1, the scale: decisions made on the windows of one scale never
    apply to another's, and sessions of picks at scale 1 keep the hash they always had)."""
    scale = float(getattr(source, "scale", 1.0))
    unscaled = _unscaled_fingerprint(source)
    if scale == 1:
        return unscaled
    return hashlib.sha1(f"{unscaled} scale {scale!r}".encode()).hexdigest()[:16]


def _unscaled_fingerprint(source: ParticleSource) -> str:
    """:func:`fingerprint` without the coordinate scale."""
    table = getattr(source, "table", None)
    if table is not None and table.particles_block is not None:
        return table_fingerprint(table)
    digest = hashlib.sha1(str(len(source)).encode())
    if getattr(source, "names_micrographs", False):  # not the file's size: picks of more micrographs may join
        digest.update(Path(source.micrograph_path).name.encode())
        digest.update(np.ascontiguousarray(source.coordinates, np.float64).tobytes())
    elif source.path is not None:
        digest.update(str(Path(source.path).stat().st_size).encode())
    return digest.hexdigest()[:16]


def table_fingerprint(table: ParticleTable) -> str:
    """:func:`fingerprint` of the particles of a STAR (or cryoSPARC) table."""
    digest = hashlib.sha1(str(len(table.particles)).encode())
    names = table.particles.get("rlnImageName", table.particles.iloc[:, 0])
    digest.update("\n".join(map(str, names.to_numpy(object))).encode())
    return digest.hexdigest()[:16]


def session_labels(path: str | os.PathLike, particles: ParticleTable | ParticleSource) -> np.ndarray:
    """The labels (n,) int8 a session file holds for ``particles`` (a STAR or cryoSPARC table, or
    a particle set such as a micrograph's picks), read without writing to it.

    Raises
    ------
    InputError
        When the file is not a valid session file, or was written for another particle set.
    """
    info, labels = read_session(path)
    set_id = table_fingerprint(particles) if isinstance(particles, ParticleTable) else fingerprint(particles)
    check_same_set(info, Path(path), len(particles), set_id, describe(particles))
    return labels


def session_scores(path: str | os.PathLike, particles: ParticleTable | ParticleSource) -> dict[str, np.ndarray]:
    """The exportable scores (name -> (n,) float32) a session file holds for ``particles``, read
    without writing to it; InputError as :func:`session_labels`."""
    session_labels(path, particles)
    return {name: values for name, values in read_session_scores(path).items() if exportable(name)}


def exportable(name: str) -> bool:
    """False for scores that are features, not numbers a user sorts by (the generator's embedding)."""
    return not name.startswith(EMBEDDING_PREFIX)


#: score names of the embedding's components ("embedding 1", ...): saved, not exported
EMBEDDING_PREFIX = "embedding "


class Session:
    """The one object the GUI holds: particles + labels + journal + cursor.

    Parameters
    ----------
    source
        The particle set.
    journal_path
        Session file; by default :func:`default_journal_path` of the source's file.
    mounts
        The mount table (``/proc/mounts`` format) deciding whether the data folder is on a
        network filesystem; the system's when None.

    Attributes
    ----------
    read_only_reason : str or None
        Why decisions cannot be made here (another window or process holds the session), or None.
    other_set_note : str or None
        When the default session file beside the data belongs to another particle set (another
        version of the file, or its picks at another coordinate scale), what to tell the user:
        that file keeps its decisions and this set has a session file of its own. Else None.
    """

    def __init__(self, source: ParticleSource, journal_path: str | os.PathLike | None = None, *,
                 mounts: str | None = None) -> None:
        if not len(source):
            raise InputError("has no particles to curate", source.path)
        self.source = source
        set_id = fingerprint(source)
        default = journal_path is None
        self.other_set_note: str | None = None
        if default:
            journal_path, self.other_set_note = _default_path(source, set_id, mounts)
        self.lock = SessionLock(journal_path)
        self.read_only_reason = None if self.lock.acquired else (
            f"{journal_path}: {self.lock.why_not}")
        try:
            self.journal = Journal(journal_path, len(source), set_id, describe(source),
                                   read_only=not self.lock.acquired)
            if default and self.journal.created:
                self._adopt(beside_path(_session_key(source)), set_id)
        except BaseException:
            self.lock.release()
            raise
        self.curation = Curation(len(source), self.journal.labels(), writer=self._write)
        self._cursor = min(self.journal.cursor, len(source) - 1)
        resumed = int((self.curation.labels != Label.UNDECIDED).sum())
        log.info("session %s: %d particles, %d decided%s", self.journal.path, len(source), resumed,
                 "" if self.lock.acquired else " (read-only)")

    @classmethod
    def open(cls, path: str | os.PathLike, project_dir: str | os.PathLike | None = None,
             journal_path: str | os.PathLike | None = None) -> Session:
        return cls(open_particles(path, project_dir), journal_path)

    def __len__(self) -> int:
        return len(self.source)

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    @property
    def cursor(self) -> int:
        return self._cursor

    def move_to(self, index: int) -> int:
        """Set the current particle (clamped to the set); saved with the next decision or flush."""
        self._cursor = int(np.clip(index, 0, max(len(self) - 1, 0)))
        self.journal.set_cursor(self._cursor)
        return self._cursor

    def flush_cursor(self) -> bool:
        """Save the cursor now (no fsync); False when it could not be written."""
        return self.read_only or self.journal.flush_cursor()

    def decide(self, label: Label | int, indices: int | np.ndarray | list[int] | None = None) -> bool:
        """Label ``indices`` (default: the current particle); True if anything changed.

        Raises
        ------
        SaveError
            The decision could not be saved, so it was not made (ReadOnlyError in a read-only session).
        """
        return self.curation.set(self._cursor if indices is None else indices, label) is not None

    def take_labels(self, labels: np.ndarray) -> tuple[int, int]:
        """Label the particles as ``labels`` (n,) int8 says, e.g. from RELION's Select job: the
        keep and the reject particles in one decision each (Ctrl+Z undoes them), undecided entries
        left as they are. Returns how many were labelled (keep, reject).

        Raises
        ------
        SaveError
            The decisions could not be saved (ReadOnlyError in a read-only session).
        """
        labels = np.asarray(labels)
        if labels.shape != (len(self),):
            raise ValueError(f"{labels.shape} labels for {len(self)} particles")
        counts = []
        for label in (Label.KEEP, Label.REJECT):
            indices = np.flatnonzero(labels == label)
            if indices.size:
                self.curation.set(indices, label)
            counts.append(int(indices.size))
        return counts[0], counts[1]

    def undo(self) -> bool:
        """Revert the last decision (saved first, like any decision); raises SaveError."""
        return self.curation.undo() is not None

    def redo(self) -> bool:
        return self.curation.redo() is not None

    # -- scores -----------------------------------------------------------------------------------
    def scores(self, contexts: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """Saved scores, name -> (n,) float32 (NaN: not computed); with ``contexts``, only the
        names given there whose scores were computed against that context."""
        saved = self.journal.scores()
        if contexts is None:
            return saved
        return {name: values for name, values in saved.items()
                if name in contexts and self.journal.score_context(name) == contexts[name]}

    def save_scores(self, indices: np.ndarray, values: dict[str, np.ndarray], contexts: dict[str, str]) -> None:
        """Save scores of particles ``indices`` (k,): name -> (k,) values, computed against
        ``contexts[name]`` (see :meth:`Journal.record_scores`). Raises SaveError (ReadOnlyError in
        a read-only session)."""
        if self.read_only:
            raise ReadOnlyError(self.journal.path, self.read_only_reason)
        self.journal.record_scores(indices, values, contexts)

    def check_writable(self) -> None:
        """Raise SaveError unless the journal can commit again (for a "Retry" after a failure)."""
        if self.read_only:
            raise ReadOnlyError(self.journal.path, self.read_only_reason)
        self.journal.check_writable()

    def close(self) -> None:
        self.journal.close()
        self.lock.release()

    def _write(self, kind: str, indices: np.ndarray, labels: np.ndarray) -> None:
        if self.read_only:
            raise ReadOnlyError(self.journal.path, self.read_only_reason)
        self.journal.record(kind, indices, labels)

    def _adopt(self, beside: Path, set_id: str) -> None:
        """Copy the labels and cursor of a session file left beside the data (by a version that put
        it there on a network filesystem) into this new journal."""
        if beside == self.journal.path or not beside.is_file():
            return
        try:
            info, labels = read_session(beside)
            check_same_set(info, beside, len(labels), set_id, None)
        except InputError as exc:
            log.debug("not adopting %s: %s", beside, exc)
            return
        if len(labels) != len(self.source):
            return
        decided = np.flatnonzero(labels)
        if decided.size:
            self.journal.record("import", decided, labels[decided])
        cursor = info.meta.get("cursor", "0")
        self.journal.set_cursor(int(cursor) if cursor.isdigit() and int(cursor) < len(labels) else 0)
        log.info("%s: took %d decisions over from %s", self.journal.path, decided.size, beside)


def _default_path(source: ParticleSource, set_id: str, mounts: str | None) -> tuple[Path, str | None]:
    """The default session file of ``source``, and None; or, when the default one belongs to
    another set (another version of the file, or its picks at another coordinate scale), whose
    decisions stay in it, one named after the set and, when that one holds decisions, a note
    saying so."""
    if source.path is None:
        raise ValueError("a source without a file needs an explicit journal_path")
    key = _session_key(source)
    path = default_journal_path(key, mounts=mounts)
    meta = read_session_meta(path) if path.is_file() and path.stat().st_size else None
    if meta is None or meta.get("fingerprint") == set_id:
        return path, None
    log.warning("%s was written for another particle set (%s, set %s), not this one (%s, set %s): this one "
                "gets a session of its own, and that file keeps its decisions", path, meta.get("source") or "?",
                meta.get("fingerprint"), describe(source), set_id)
    try:
        decided = int(np.count_nonzero(read_session(path)[1]))
    except InputError:
        decided = -1  # unreadable labels: say so as if it held some
    held = "its decisions" if decided < 0 else f"{decided} decision{'' if decided == 1 else 's'}"
    other, this = Path(meta.get("source") or "?").name, Path(describe(source)).name
    note = None if decided == 0 else (  # a set opened once and left: nothing to explain
        f"{path.name} holds {held} on another particle set ({other}) and keeps {'it' if decided == 1 else 'them'}; "
        f"this set ({this}) has its own session")
    return default_journal_path(key, set_id, mounts=mounts), note


def describe(source: ParticleSource | ParticleTable) -> str:
    """The particle set in a session file's meta and in messages: its file, and for picks read at
    a coordinate scale other than 1, the scale (``picks.star at --coords-scale 2``)."""
    scale = float(getattr(source, "scale", 1.0))
    where = str(source.path or "")
    return where if scale == 1 else f"{where} at --coords-scale {scale:g}"


def session_path(source: ParticleSource, mounts: str | None = None) -> Path:
    """Where the inspector keeps the session of ``source`` (it need not exist yet)."""
    return _default_path(source, fingerprint(source), mounts)[0]


def _session_key(source: ParticleSource) -> Path:
    """The path the session file is named after: the particle file, or one micrograph's share of
    a coordinate file of many (``MicrographParticles.session_key``)."""
    return Path(getattr(source, "session_key", None) or source.path)


def saved_cursor(data_path: str | os.PathLike) -> int:
    """Where the session of ``data_path`` was left (0 without one), read without opening the
    particles: the inspector shows that particle while a large file loads."""
    path = default_journal_path(data_path)
    if not path.is_file():
        return 0
    try:
        value = read_session_meta(path).get("cursor", "0")
    except InputError:
        return 0
    return int(value) if value.isdigit() else 0
