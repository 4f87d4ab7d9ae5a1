"""PNG figures (matplotlib, Agg backend): image panels and curves for notes, READMEs and reports."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gan_viewer.core.normalize import display_limits
from gan_viewer.io.atomic import atomic_write_bytes


def draw_image_grid(fig, grid, columns: Sequence[tuple[str, np.ndarray]], rows: Sequence[int],
                    row_labels: Sequence[str]) -> None:
    """Images ``columns[j][1][rows[i]]`` into the cells (i, j) of a matplotlib ``grid``.

    Parameters
    ----------
    fig, grid
        A figure and a GridSpec with at least len(rows) x len(columns) cells.
    columns
        (title, (n, h, w) stack) per column.
    rows
        Which image of each stack goes in each row.
    row_labels
        Label left of each row.
    """
    for i, row in enumerate(rows):
        for j, (title, images) in enumerate(columns):
            ax = fig.add_subplot(grid[i, j])
            lo, hi = display_limits(images[row])
            ax.imshow(images[row], cmap="gray", vmin=lo, vmax=hi, origin="lower")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=8)


def save_panel(rows: Sequence[Sequence[np.ndarray]], path: str | os.PathLike, *,
               column_titles: Sequence[str] = (), row_titles: Sequence[str] = (), title: str = "",
               cell_inches: float = 1.6) -> Path:
    """A grid of images, each with its own sigma-based contrast, saved as a PNG.

    Parameters
    ----------
    rows
        rows[i][j] is a (h, w) image.
    path
        Output ``.png``.
    column_titles, row_titles
        Labels above the columns and left of the rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_inches * n_cols, cell_inches * n_rows + 0.3),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                lo, hi = display_limits(row[j])
                ax.imshow(row[j], cmap="gray", vmin=lo, vmax=hi, origin="lower")
            else:
                ax.axis("off")
            if i == 0 and j < len(column_titles):
                ax.set_title(column_titles[j], fontsize=9)
            if j == 0 and i < len(row_titles):
                ax.set_ylabel(row_titles[i], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Save the matplotlib ``fig`` as a PNG at ``path`` atomically (replacing it), then close it.

    The PNG is rendered in memory and written under a temporary name, so a full disk is an
    ``OSError`` naming ``path`` and leaves no partial file.
    """
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, buffer.getbuffer(), overwrite=True)
