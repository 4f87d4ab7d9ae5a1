"""Stacks RELION can read for particles converted from cryoSPARC: ``.mrcs`` links beside the output.

RELION 3.1 reads a stack of images only from a file named ``*.mrcs``: for ``3@stack.mrc`` its
``Image::read`` stops with "stacks of images in MRC-format should have extension .mrcs; .mrc
extensions are reserved for 3D maps". cryoSPARC writes its particle stacks as
``J19/extract/..._particles.mrc``. So a STAR file converted from a ``.cs`` names symbolic links
instead of the stacks themselves:

* for the STAR file ``OUT.star`` the folder ``OUT_stacks/`` beside it gets one link per stack,
  at the stack's path as written in the ``.cs`` (the leading ``/`` of an absolute path and any
  ``..`` dropped) with the extension ``.mrcs``, pointing to the stack's absolute path;
* the image names become ``000001@OUT_stacks/J19/extract/..._particles.mrcs``, relative to the
  STAR file's folder: RELION resolves them against the folder it runs in, so write the STAR file
  in the RELION project folder (the Import job's input), or run RELION's programs from its folder.

The links cost no disk space; the stacks stay where cryoSPARC wrote them. (pyem's csparc2star
leaves the ``.mrc`` names and asks the user to make such links by hand.)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from gan_viewer.errors import InputError
from gan_viewer.io.image_name import parse_image_names, resolve_stack
from gan_viewer.io.star import ParticleTable

log = logging.getLogger(__name__)

__all__ = ["StackLinks", "links_folder", "plan_stack_links", "relinked", "make_links"]


@dataclass
class StackLinks:
    """The ``.mrcs`` links a converted table needs.

    Attributes
    ----------
    folder
        Where the links go (``OUT_stacks`` beside ``OUT.star``).
    links
        Link path inside ``folder`` (POSIX, ends in ``.mrcs``) -> the stack's absolute path.
    names
        The link path of each distinct stack of the table, in the order of
        :func:`~gan_viewer.io.image_name.parse_image_names`.
    indices, stacks
        (n,) 0-based image number and stack number of each row of the table.
    """

    folder: Path
    links: dict[str, Path] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stacks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def links_folder(star_path: str | os.PathLike) -> Path:
    """``OUT_stacks`` beside ``OUT.star``."""
    star_path = Path(star_path)
    return star_path.with_name(f"{star_path.stem}_stacks")


def plan_stack_links(table: ParticleTable, folder: str | os.PathLike,
                     project_dir: str | os.PathLike | None = None) -> StackLinks:
    """Find every stack of ``table`` and name its ``.mrcs`` link in ``folder``; nothing is written.

    Parameters
    ----------
    table
        Particles read from a ``.cs`` file (``table.path``); stack paths are resolved as
        :func:`~gan_viewer.io.image_name.resolve_stack` does (``project_dir``, then the file's
        folder and its parents).
    folder
        The links folder (see :func:`links_folder`).
    project_dir
        The cryoSPARC project folder, tried first.

    Raises
    ------
    InputError
        Naming ``table.path`` when a stack cannot be found: links to nothing would give RELION a
        STAR file it cannot read.
    """
    indices, stacks, paths = parse_image_names(table.particles["rlnImageName"], table.path)
    found = [resolve_stack(p, table.path, project_dir) for p in paths]
    missing = [p for p, f in zip(paths, found) if f is None]
    if missing:
        raise InputError(f"{len(missing)} of {len(paths)} stack(s) named in it were not found, e.g. {missing[0]!r}; "
                         "converted STAR files name links to them (give --project-dir, the cryoSPARC project "
                         "folder)", table.path)
    plan = StackLinks(Path(folder), indices=indices, stacks=stacks)
    for written, target in zip(paths, found):
        name = _link_name(written)
        stem, k = name[:-len(".mrcs")], 1
        while name in plan.links and plan.links[name] != target.resolve():
            k += 1
            name = f"{stem}.{k}.mrcs"
        plan.links[name] = target.resolve()
        plan.names.append(name)
    return plan


def relinked(table: ParticleTable, plan: StackLinks, star_path: str | os.PathLike) -> ParticleTable:
    """A copy of ``table`` whose image names point to the links, relative to ``star_path``'s folder."""
    prefix = Path(os.path.relpath(plan.folder.resolve(), Path(star_path).resolve().parent)).as_posix()
    stack_names = np.array([f"{prefix}/{name}" for name in plan.names] or [""], dtype=object)
    names = [f"{i + 1:06d}@{s}" for i, s in zip(plan.indices.tolist(), stack_names[plan.stacks].tolist())]
    blocks = dict(table.blocks)
    particles = table.particles.copy()
    particles["rlnImageName"] = names
    blocks[table.particles_block] = particles
    return ParticleTable(blocks, table.particles_block, table.optics_block, table.version, table.path,
                         list(table.header_comments))


def make_links(folder: str | os.PathLike, plan: StackLinks) -> None:
    """Create ``plan``'s links in ``folder`` (a new, empty folder: the temporary one of an atomic write)."""
    folder = Path(folder)
    for name, target in plan.links.items():
        link = folder / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
    log.info("%d stack link(s) (.mrcs, for RELION) -> %s", len(plan.links), plan.folder)


def _link_name(written: str) -> str:
    """``J19/extract/a_particles.mrc`` -> ``J19/extract/a_particles.mrcs`` (no root, no ``..``)."""
    parts = [p for p in PurePosixPath(written.replace("\\", "/")).parts if p not in ("/", "..", ".")]
    path = PurePosixPath(*parts) if parts else PurePosixPath("stack")
    return str(path.with_suffix(".mrcs")) if path.suffix else f"{path}.mrcs"
