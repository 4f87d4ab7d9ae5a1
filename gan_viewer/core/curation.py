"""Keep / reject labels per particle, with undo and redo.

:class:`Curation` is a plain, evented model (``psygnal``): the GUI listens to ``changed``. It
knows nothing of files: a session gives it a ``writer`` that saves each change before it is
made, and a writer that raises leaves the labels and the undo history as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Callable

import numpy as np
from psygnal import Signal


def unique_indices(indices: int | np.ndarray | list[int]) -> np.ndarray:
    """Sorted unique int64 indices (k,) of ``indices``, by sorting: ``np.unique`` on a million
    indices takes seconds here (its hash table), a sort a few tens of milliseconds."""
    idx = np.atleast_1d(np.asarray(indices, np.int64)).ravel()
    if idx.size < 2 or bool((idx[1:] > idx[:-1]).all()):  # already sorted and unique (a selection)
        return idx
    idx = np.sort(idx)
    if idx.size > 1:
        keep = np.empty(idx.size, bool)
        keep[0] = True
        np.not_equal(idx[1:], idx[:-1], out=keep[1:])
        idx = idx[keep]
    return idx


def present_labels(labels: np.ndarray) -> list[int]:
    """The label values (0, 1, 2) that occur in ``labels`` (k,), ascending."""
    return np.flatnonzero(np.bincount(np.asarray(labels, np.int64), minlength=len(Label))).tolist()


class Label(IntEnum):
    """A particle's curation state (stored as int8)."""

    UNDECIDED = 0
    KEEP = 1
    REJECT = 2


@dataclass(frozen=True)
class Decision:
    """One user action: ``indices`` (k,) set to ``label``; ``previous`` (k,) are the old labels."""

    indices: np.ndarray
    label: Label
    previous: np.ndarray

    def inverse(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(indices, labels) pairs that undo this decision, grouped by old label."""
        return [(self.indices[self.previous == old], np.full(int((self.previous == old).sum()), old, np.int8))
                for old in present_labels(self.previous)]


#: ``writer(kind, indices (k,), labels (k,))``, kind "set", "undo" or "redo"; raises to refuse the change
Writer = Callable[[str, np.ndarray, np.ndarray], None]


class Curation:
    """Labels for ``n`` particles with an undo/redo history.

    Parameters
    ----------
    n
        Number of particles.
    labels
        Initial labels, shape (n,) int8 (e.g. from a resumed session); all undecided otherwise.
    writer
        Called with every change before it is applied (see :data:`Writer`); when it raises, the
        change is not made and the exception reaches the caller of ``set``, ``undo`` or ``redo``.

    Signals
    -------
    changed(indices, labels)
        After any change: the particle indices (k,) and their new labels (k,).
    """

    changed = Signal(object, object)

    def __init__(self, n: int, labels: np.ndarray | None = None, writer: Writer | None = None) -> None:
        if labels is None:
            labels = np.zeros(n, np.int8)
        labels = np.asarray(labels, np.int8)
        if labels.shape != (n,):
            raise ValueError(f"labels have shape {labels.shape}, expected ({n},)")
        self._labels = labels.copy()
        self._writer = writer
        self._undo: list[Decision] = []
        self._redo: list[Decision] = []

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def labels(self) -> np.ndarray:
        """(n,) int8 labels; a read-only view."""
        view = self._labels.view()
        view.flags.writeable = False
        return view

    def label(self, index: int) -> Label:
        return Label(int(self._labels[index]))

    def counts(self) -> dict[Label, int]:
        """How many particles carry each label."""
        bins = np.bincount(self._labels, minlength=3)
        return {Label(k): int(bins[k]) for k in range(3)}

    def set(self, indices: int | np.ndarray | list[int], label: Label | int) -> Decision | None:
        """Label particles; one undo step however many. Returns None when nothing changes."""
        idx = unique_indices(indices)
        if idx.size and (idx[0] < 0 or idx[-1] >= len(self)):
            raise IndexError(f"particle index out of range 0..{len(self) - 1}")
        label = Label(label)
        idx = idx[self._labels[idx] != label]
        if not idx.size:
            return None
        decision = Decision(idx, label, self._labels[idx].copy())
        self._apply("set", idx, np.full(idx.size, label, np.int8))
        self._undo.append(decision)
        self._redo.clear()
        return decision

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> Decision | None:
        """Revert the last decision; returns it, or None when there is nothing to undo."""
        if not self._undo:
            return None
        decision = self._undo[-1]
        groups = decision.inverse()
        self._apply("undo", np.concatenate([idx for idx, _ in groups]), np.concatenate([old for _, old in groups]))
        self._redo.append(self._undo.pop())
        return decision

    def redo(self) -> Decision | None:
        """Re-apply the last undone decision; returns it, or None."""
        if not self._redo:
            return None
        decision = self._redo[-1]
        self._apply("redo", decision.indices, np.full(decision.indices.size, decision.label, np.int8))
        self._undo.append(self._redo.pop())
        return decision

    def next_undecided(self, start: int) -> int | None:
        """First undecided particle after ``start`` (wrapping around), or None if none is left."""
        undecided = np.flatnonzero(self._labels == Label.UNDECIDED)
        if not undecided.size:
            return None
        after = undecided[undecided > start]
        return int(after[0] if after.size else undecided[0])

    def indices_with(self, label: Label | int) -> np.ndarray:
        """0-based indices (k,) of the particles with ``label``, ascending."""
        return np.flatnonzero(self._labels == int(label))

    def _apply(self, kind: str, indices: np.ndarray, labels: np.ndarray) -> None:
        """Save (through the writer), then change the labels and tell the listeners."""
        if self._writer is not None:
            self._writer(kind, indices, labels)
        self._labels[indices] = labels
        self.changed.emit(indices, labels)
