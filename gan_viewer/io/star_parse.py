"""Parsing STAR text into blocks, and the checks starfile does not make.

Ordinary files go through ``starfile``. Files over :data:`FAST_PARSE_BYTES` are split into
blocks here and each loop body goes to the same pandas call starfile makes, which skips
starfile's line-by-line scan (seconds per million rows); ``tests/io/test_star.py`` checks both
paths give identical tables on every test file.
"""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from gan_viewer.errors import InputError

#: Labels whose values are names: never coerce them to numbers (``000123`` must stay ``000123``).
STRING_LABELS = [
    "rlnImageName", "rlnImageOriginalName", "rlnMicrographName", "rlnMicrographMovieName",
    "rlnOpticsGroupName", "rlnReferenceImage", "rlnCtfImage", "rlnGroupName",
    "rlnMicrographNameNoDW", "rlnMicrographMetadata", "rlnCtfPowerSpectrum", "rlnTomoName",
]

_NON_SPACE = re.compile(r"\S")

#: files larger than this are parsed block by block with pandas directly (see :func:`_parse`)
FAST_PARSE_BYTES = 16 * 2**20

def parse_blocks(path: Path, text: str, spans: list[tuple[str, int, int]]) -> dict:
    """Parse every block: starfile for ordinary files; for large ones (over ``FAST_PARSE_BYTES``)
    the same pandas call starfile makes, fed each loop body directly, since starfile's line-by-line
    scan (``linecache``) costs seconds per million rows."""
    if len(text) > FAST_PARSE_BYTES:
        return {name: _parse_block(text, start, end) for name, start, end in spans}
    try:
        return starfile.read(path, always_dict=True, parse_as_string=STRING_LABELS)
    except pd.errors.EmptyDataError:
        # an empty loop followed by comment lines (``# version`` before the next block, as RELION
        # writes) trips starfile; the block-by-block path handles it
        return {name: _parse_block(text, start, end) for name, start, end in spans}


def parse_head_blocks(text: str, spans: list[tuple[str, int, int]], rows: int,
                      whole: bool = False) -> dict | None:
    """The blocks of the head ``text`` of a file, its last loop cut after ``rows`` data lines.

    Returns None when the head is too short to tell: the last block is not a loop whose header
    is complete and which has ``rows`` rows. With ``whole`` (``text`` is the whole file) every
    block is parsed whole.
    """
    if whole:
        return {n: _parse_block(text, s, e) for n, s, e in spans}
    if not spans:
        return None
    *complete, (name, start, end) = spans
    header, body = _split_loop(text, start, end)
    if header is None or body >= end:
        return None
    cut = body
    for _ in range(rows):
        cut = text.find("\n", cut, end) + 1
        if cut <= 0:
            return None
    blocks = {n: _parse_block(text, s, e) for n, s, e in complete}
    blocks[name] = _parse_block(text, start, cut)
    return blocks


def _parse_block(text: str, start: int, end: int) -> pd.DataFrame | dict:
    """The ``data_`` block ``text[start:end]`` as starfile would return it.

    The loop body is handed to pandas as bytes, copied once: a 1,000,000-row block is 130 MB of
    text, and every extra copy (or a ``StringIO``, which holds 4 bytes a character) shows in the
    inspector's peak memory.
    """
    header, body_start = _split_loop(text, start, end)
    if header is None:
        pairs = (shlex.split(ln) for ln in text[start:end].splitlines()[1:] if ln.strip().startswith("_"))
        return {k[1:]: (v if k[1:] in STRING_LABELS else _number(v)) for k, v in pairs}
    labels = [ln.split()[0][1:] for ln in header]
    if _NON_SPACE.search(text, body_start, end) is None:
        return pd.DataFrame({label: pd.Series(dtype=float) for label in labels})
    data = text[body_start:end].encode()
    if b"'" in data:
        data = data.replace(b"'", b'"')
    frame = pd.read_csv(io.BytesIO(data), sep=r"\s+", header=None, comment="#",
                        dtype={k: str for k, label in enumerate(labels) if label in STRING_LABELS},
                        keep_default_na=False, na_values=["nan", "NaN", "<NA>"], engine="c")
    del data
    if frame.shape[1] != len(labels):
        raise ValueError(f"{frame.shape[1]} values per row for {len(labels)} labels")
    frame.columns = labels
    for label in labels:
        if label not in STRING_LABELS and not pd.api.types.is_numeric_dtype(frame[label]):
            numeric = pd.to_numeric(frame[label], errors="coerce")
            if numeric.notna().any() and numeric.notna().sum() == frame[label].replace("", np.nan).notna().sum():
                frame[label] = numeric
    return frame


def _split_loop(text: str, start: int, end: int) -> tuple[list[str] | None, int]:
    """(the ``_label`` lines, where the data starts) of the loop block ``text[start:end]``, or
    (None, end) for a simple block. Only the header is split into lines."""
    pos, header, in_loop = text.find("\n", start, end) + 1, [], False
    while 0 < pos < end:
        line_end = text.find("\n", pos, end)
        line_end = end if line_end < 0 else line_end
        line = text[pos:line_end].strip()
        if line.startswith("loop_"):
            in_loop = True
        elif in_loop and line and not line.startswith("_"):
            return header, pos
        elif in_loop and line:
            header.append(line)
        pos = line_end + 1
    return (header, end) if in_loop else (None, end)


def _number(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def block_spans(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of every ``data_`` block, in file order."""
    starts = []
    pos = text.find("data_")
    while pos >= 0:
        line_start = text.rfind("\n", 0, pos) + 1
        if not text[line_start:pos].strip():
            end = pos + 5
            while end < len(text) and not text[end].isspace():
                end += 1
            starts.append((text[pos + 5:end], line_start))
        pos = text.find("data_", pos + 5)
    ends = [start for _, start in starts[1:]] + [len(text)]
    return [(name, start, end) for (name, start), end in zip(starts, ends)]


def check_loops(path: Path, text: str, blocks: dict, spans: list[tuple[str, int, int]]) -> None:
    """Catch what the parser lets through: short rows (e.g. a file cut mid-line)."""
    for name, start, end in spans:
        block = blocks.get(name)
        if not isinstance(block, pd.DataFrame) or block.empty:
            continue
        last = _last_row(text, start, end)
        if last is not None:
            n_tokens = count_fields(last)
            if n_tokens != block.shape[1]:
                raise InputError(f"data_{name}: last row has {n_tokens} values for {block.shape[1]} "
                                 "columns (truncated or malformed file)", path)


def count_fields(row: str) -> int:
    """How many values the loop parser (pandas, after starfile's ``'`` -> ``"``) finds in ``row``.

    Fields are split at spaces and tabs; a ``"`` at the start of a field opens a quoted field, in
    which ``""`` is one quote; ``#`` outside quotes starts a comment, even inside a word.
    """
    count, state = 0, "between"
    for c in row.replace("'", '"'):
        if state == "between":
            if c in " \t":
                continue
            if c == "#":
                break
            count += 1
            state = "quoted" if c == '"' else "word"
        elif state == "word":
            if c in " \t":
                state = "between"
            elif c == "#":
                break
        elif state == "quoted":
            if c == '"':
                state = "closing"
        else:  # just after a quote inside a quoted field
            state = "quoted" if c == '"' else "between" if c in " \t" else "word"
    return count


def _last_row(text: str, start: int, end: int) -> str | None:
    """The last data row of the loop in ``text[start:end]``, or None."""
    while end > start:
        line_start = text.rfind("\n", start, end - 1) + 1
        line = text[line_start:end].strip()
        if line.startswith(("_", "loop_", "data_")):
            return None
        if line and not line.startswith("#"):
            return line
        end = line_start - 1 if line_start > start else start
    return None
