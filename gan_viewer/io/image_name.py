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

from gan_viewer.errors import InputError


def parse_image_names(names: pd.Series | list[str], source: str | os.PathLike | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Split ``N@path`` names into 0-based indices and paths.

    A name without ``@`` is a single image: index 0 of that file.

    Parameters
    ----------
    names
        (n,) image names as written in the STAR file.
    source
        The STAR file, for error messages.

    Returns
    -------
    indices : (n,) int64, 0-based
    paths : (n,) object array of path strings as written
    """
    values = pd.Series(names, dtype=object).to_numpy(object)
    if not values.size:
        return np.zeros(0, np.int64), np.zeros(0, object)
    numbers = np.empty(values.size, object)
    paths = np.empty(values.size, object)
    for k, name in enumerate(values):  # a plain loop over str.partition beats pandas' str.split 4x
        if not isinstance(name, str) or not name:
            raise InputError(f"rlnImageName is empty in row {k + 1}", source)
        number, at, path = name.partition("@")
        numbers[k], paths[k] = (number, path) if at else ("1", number)
    try:
        indices = numbers.astype(np.int64)
    except ValueError:
        indices = pd.to_numeric(pd.Series(numbers), errors="coerce").fillna(0).to_numpy()
        indices = np.where(indices == np.round(indices), indices, 0).astype(np.int64)
    bad = indices < 1
    if bad.any():
        row = int(bad.argmax())
        raise InputError(f"row {row + 1}: image name {values[row]!r} is not N@stack with N >= 1", source)
    return indices - 1, paths


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
