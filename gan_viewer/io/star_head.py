"""A few particles of a large STAR file, without parsing all of it.

The inspector shows these while the whole file is read in the background.
:func:`read_star_head` reads the file's first rows; :func:`read_star_rows` any run of rows, the
data lines before it counted (newlines, in C) rather than parsed. Both read the blocks before
the particle loop whole and refuse (return None) files whose head alone cannot be trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gan_viewer.errors import InputError
from gan_viewer.io.star import (ParticleTable, _check_file, _header_comments, _one_line, _table_from_blocks,
                                _version, read_star)
from gan_viewer.io.star_parse import _parse_block, _split_loop, block_spans, parse_head_blocks

#: bytes counted at a time when skipping rows
SKIP_CHUNK = 16 << 20
#: what starts a line that is not a data row
_NOT_ROWS = (b"\n\n", b"\n#", b"\n_", b"\ndata_", b"\nloop_")


def read_star_head(path: str | os.PathLike, rows: int, *, first_read: int = 1 << 20,
                   max_bytes: int = 64 << 20) -> ParticleTable | None:
    """The first ``rows`` particles of a STAR file, without reading the rest of it.

    The blocks before the particle loop are read whole, the loop is cut after ``rows`` data
    lines. The file is read from its start in growing pieces (``first_read`` bytes, doubling up
    to ``max_bytes``).

    Returns
    -------
    A table whose particle loop holds the file's first ``rows`` particles (fewer if the file
    has fewer), or None when the head alone cannot be trusted: the optics block comes after the
    particles, or the first ``rows`` rows are not within ``max_bytes``.

    Raises
    ------
    InputError
        When the file is missing, or its head is not a STAR file or is malformed.
    """
    path = Path(path)
    if _check_file(path).st_size <= first_read:
        return _rows_of(read_star(path), 0, rows)
    found = _head(path, rows, first_read, max_bytes)
    return None if found is None else found[0]


def read_star_rows(path: str | os.PathLike, first: int, rows: int, *, first_read: int = 1 << 20,
                   skip_chunk: int = SKIP_CHUNK) -> ParticleTable | None:
    """Particles ``first`` to ``first + rows - 1`` (0-based) of a STAR file, in a table of their own.

    The rows before ``first`` are counted, not parsed: a million rows cost a few tens of ms.

    Returns
    -------
    A table whose particle loop holds those rows (fewer at the end of the file; its row ``i`` is
    the file's row ``first + i``), or None: where :func:`read_star_head` gives None, when the
    file has ``first`` rows or fewer, or when the loop holds blank, comment or block lines before
    them (rows could not be counted from lines).

    Raises
    ------
    InputError
        As :func:`read_star_head`.
    """
    path = Path(path)
    if first == 0:
        return read_star_head(path, rows, first_read=first_read)
    if _check_file(path).st_size <= first_read:
        table = read_star(path)
        return _rows_of(table, first, rows) if first < len(table) else None
    found = _head(path, 1, first_read, 64 << 20)
    if found is None:
        return None
    head, text, (name, start, end) = found
    if head.particles_block != name:  # a file read whole whose particles are not its last block
        return None
    labels_end = _split_loop(text, start, end)[1]
    body = len(text[:labels_end].encode("utf-8"))  # byte offset of the first data line
    with open(path, "rb") as fh:
        at = _skip_lines(fh.fileno(), body, first, skip_chunk)
        if at is None:
            return None
        lines = _read_lines(fh.fileno(), at, rows)
    if not lines.strip():
        return None
    loop = text[start:labels_end] + lines.decode("utf-8")
    try:
        part = _parse_block(loop, 0, len(loop))
    except Exception as exc:  # noqa: BLE001 - pandas' errors, made one line
        raise InputError(f"malformed STAR file ({_one_line(exc)})", path) from exc
    blocks = dict(head.blocks)
    blocks[name] = part
    return ParticleTable(blocks, name, head.optics_block, head.version, path, head.header_comments)


def _head(path: Path, rows: int, first_read: int, max_bytes: int
          ) -> tuple[ParticleTable, str, tuple[str, int, int]] | None:
    """(table of the first ``rows`` rows, the text read, the particle block's span in it) or None."""
    size = _check_file(path).st_size
    with open(path, "rb") as fh:
        length = first_read
        while True:
            data = os.pread(fh.fileno(), length, 0)
            whole = len(data) >= size
            try:
                text = (data if whole else data[:data.rfind(b"\n") + 1]).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError("not a STAR file (binary content)", path) from exc
            spans = block_spans(text)
            try:
                blocks = parse_head_blocks(text, spans, rows, whole=whole)
            except Exception as exc:  # noqa: BLE001 - pandas' and shlex's errors, made one line
                raise InputError(f"malformed STAR file ({_one_line(exc)})", path) from exc
            table = None if blocks is None else _head_table(blocks, text, spans, path, whole)
            if whole:
                span = next(s for s in spans if s[0] == table.particles_block)
                return _rows_of(table, 0, rows), text, span
            if table is not None:
                return table, text, spans[-1]
            if length >= max_bytes:
                break
            length *= 2
    return None


def _head_table(blocks: dict, text: str, spans: list, path: Path, whole: bool) -> ParticleTable | None:
    """The table of a head's blocks, or None (unless ``whole``: the head is the whole file) when
    its particles are not its last block or lack the optics block they name (it may come later)."""
    if not spans:
        raise InputError("not a STAR file (no data_ block)", path)
    try:
        table = _table_from_blocks(blocks, _version(text, spans), path, _header_comments(text[:spans[0][1]]))
    except InputError:
        if whole:
            raise
        return None
    if whole:
        return table
    if table.particles_block != spans[-1][0] or (table.optics is None and "rlnOpticsGroup" in table.columns):
        return None
    return table


def _skip_lines(fd: int, start: int, count: int, chunk: int) -> int | None:
    """Byte offset just past the ``count``-th line from ``start``, or None when the file ends
    first or a line on the way is blank, a comment or the start of another block."""
    seen, pos, previous = 0, start, b"\n"
    while True:
        data = os.pread(fd, chunk, pos)
        if not data:
            return None
        n = data.count(b"\n")
        done = seen + n >= count
        if done:
            newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
            data = data[:int(newlines[count - seen - 1]) + 1]
        if any(mark in previous + data for mark in _NOT_ROWS):
            return None
        if done:
            return pos + len(data)
        seen, pos, previous = seen + n, pos + len(data), data[-1:]


def _read_lines(fd: int, start: int, rows: int) -> bytes:
    """The next ``rows`` complete lines from ``start`` (fewer at the end of the file)."""
    length = 1 << 16
    while True:
        data = os.pread(fd, length, start)
        newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        if len(newlines) >= rows:
            return data[:int(newlines[rows - 1]) + 1]
        if len(data) < length:  # the end of the file
            return data
        length *= 2



def _rows_of(table: ParticleTable, first: int, rows: int) -> ParticleTable:
    """``table`` with only particle rows ``first`` to ``first + rows - 1``, renumbered from 0."""
    table.blocks[table.particles_block] = table.particles.iloc[first:first + rows].reset_index(drop=True)
    return table
