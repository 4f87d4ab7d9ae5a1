"""RELION image names ``000123@Particles/stack.mrcs``: parse, format, and find the stacks.

RELION writes stack paths relative to its project directory, which is usually the STAR file's
folder or one of its parents (``Extract/job012/particles.star`` names
``Extract/job012/Movies/mic1.mrcs``). :func:`resolve_stack` tries, in order, an explicit project
directory, the STAR file's folder and each of its parents.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gan_viewer.errors import InputError


def parse_image_names(names: pd.Series | list[str], source: str | os.PathLike | None = None
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Split ``N@path`` names into 0-based indices and stack paths (vectorised in Arrow).

    A name without ``@`` is a single image: index 0 of that file.

    Parameters
    ----------
    names
        (n,) image names as written in the STAR file.
    source
        The STAR file, for error messages.

    Returns
    -------
    indices : (n,) int64, 0-based image number in its stack
    stacks : (n,) int64, which of ``paths`` each image is in
    paths : the distinct stack paths as written, in order of first appearance
    """
    column = _arrow_strings(names, source)
    if not len(column):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    empty = pc.fill_null(pc.equal(pc.utf8_length(column), 0), True).to_numpy(zero_copy_only=False)
    if empty.any():
        raise InputError(f"rlnImageName is empty in row {int(np.argmax(empty)) + 1}", source)
    original, has_at = column, pc.match_substring(column, "@")
    if not pc.all(has_at).as_py():  # a name without '@' is image 1 of that file
        one, at = pa.scalar("1", column.type), pa.scalar("@", column.type)
        column = pc.if_else(has_at, column, pc.binary_join_element_wise(one, column, at))
    parts = pc.split_pattern(column, "@", max_splits=1)
    numbers = pc.list_element(parts, 0)
    try:
        indices = pc.cast(numbers, pa.int64()).to_numpy()
    except pa.ArrowInvalid:  # find the offending row for the message
        is_int = pc.match_substring_regex(numbers, r"^\s*\d+\s*$")
        zero = pa.scalar("0", column.type)
        indices = pc.cast(pc.utf8_trim_whitespace(pc.if_else(is_int, numbers, zero)), pa.int64()).to_numpy()
    bad = indices < 1
    if bad.any():
        row = int(bad.argmax())
        raise InputError(f"row {row + 1}: image name {original[row].as_py()!r} is not N@stack with N >= 1", source)
    encoded = pc.dictionary_encode(pc.list_element(parts, 1))
    result = indices - 1, encoded.indices.to_numpy().astype(np.int64), encoded.dictionary.to_pylist()
    del column, original, has_at, parts, numbers, encoded
    pa.default_memory_pool().release_unused()  # Arrow's allocator keeps what the temporaries used (150 MB per 10^6)
    return result


def _arrow_strings(names: pd.Series | list[str], source) -> pa.Array:
    """The names as an Arrow string array (zero-copy for Arrow-backed pandas columns)."""
    try:
        column = pa.array(names) if isinstance(names, pd.Series) else pa.array(list(names), type=pa.string())
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pa.array(pd.Series(names, dtype=object), type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"rlnImageName holds a value that is not text ({exc})", source) from exc
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def format_image_name(index0: int, path: str) -> str:
    """``(0, "stack.mrcs")`` -> ``"000001@stack.mrcs"`` (RELION's six-digit, 1-based form)."""
    return f"{index0 + 1:06d}@{path}"


def resolve_stack(name: str, star_path: str | os.PathLike | None,
                  project_dir: str | os.PathLike | None = None) -> Path | None:
    """Find the file a STAR file's image path refers to, or None if it is nowhere.

    Parameters
    ----------
    name
        The path part of an image name, as written.
    star_path
        The STAR file that names it; its folder and each parent are tried.
    project_dir
        The RELION project directory, tried first when given.
    """
    candidate = Path(name)
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    roots: list[Path] = []
    if project_dir is not None:
        roots.append(Path(project_dir))
    if star_path is not None:
        folder = Path(star_path).resolve().parent
        roots += [folder, *folder.parents]
    else:
        roots.append(Path.cwd())
    for root in roots:
        path = root / candidate
        if path.is_file():
            return path
    # a stack moved next to its STAR file keeps working
    if star_path is not None:
        beside = Path(star_path).resolve().parent / candidate.name
        if beside.is_file():
            return beside
    return None
