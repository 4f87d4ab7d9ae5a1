"""STAR text for data blocks, every value quoted where the STAR rules need it.

A value is written bare unless it is empty, holds whitespace or ``#``, starts with ``_ # $ ' " ;``
or is a reserved word (``data_...``, ``save_...``, ``loop_``, ``global_``, ``stop_``, any case);
then it is written in double quotes. Three readers must give every written value back unchanged:
RELION (STAR 1.1: a quote ends a quoted value only when whitespace follows it), ``starfile``
(which reads every ``'`` of a loop as ``"`` and hands the rows to pandas, where ``#`` starts a
comment even inside a word and ``""`` inside quotes is one quote) and our own parser (the same
pandas call). That leaves values no quoting can carry, which are refused with
:class:`~gan_viewer.errors.InputError` naming the block, column and row:

* a control character (newline, carriage return, ...): STAR values are single-line here;
* a tab: RELION reads it back as a space;
* in a loop, a single quote: ``starfile`` turns it into a double quote whatever the quoting;
* in a loop, a double quote in a value that needs quotes (``"a b``, ``a"b c``): RELION and pandas
  end a quoted value at different quotes. A double quote inside a bare value (``a"b``) is kept.

Simple (non-loop) blocks are read with ``shlex`` by ``starfile`` and by us, so their values are
also quoted when they hold a quote or a backslash: in single quotes, or in double quotes when the
value holds a single quote but no double quote or backslash.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from gan_viewer.errors import InputError

#: anything that makes a value more than a bare word (checked first: most values have none of it)
_SPECIAL = re.compile(r"^$|^[_#$'\";]|^(?:data_|save_)|^(?:loop_|global_|stop_)$|[\s#'\"\\\x00-\x1f\x7f]",
                      re.IGNORECASE)
_RESERVED = re.compile(r"(?:data_|save_)|(?:loop_|global_|stop_)$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every C0 control but tab, and DEL


def needs_quotes(value: str) -> bool:
    """True when STAR needs ``value`` quoted: empty, whitespace or ``#`` inside, a leading
    ``_ # $ ' " ;``, or a reserved word (``data_``/``save_`` as a prefix, any case)."""
    return (not value or value[0] in "_#$'\";" or _RESERVED.match(value) is not None
            or "#" in value or any(c.isspace() for c in value))


def loop_value(value: str) -> str:
    """``value`` as written in a loop row: bare or in double quotes.

    Raises
    ------
    ValueError
        Saying why no quoting carries the value to RELION, starfile and our reader alike.
    """
    if _SPECIAL.search(value) is None:
        return value
    _check_characters(value)
    if "'" in value:
        raise ValueError("holds a single quote ('), which starfile reads back as a double quote "
                         "however the value is quoted")
    if not needs_quotes(value):
        return value  # a bare word with a double quote or backslash inside: every reader keeps it
    if '"' in value:
        raise ValueError('needs quotes but holds a double quote ("), which RELION and starfile '
                         "read back differently in any quoting")
    return f'"{value}"'


def simple_value(value: object) -> str:
    """``value`` as written after its label in a simple (non-loop) block."""
    if not isinstance(value, str):
        return f"{value}"
    if _SPECIAL.search(value) is None:
        return value
    _check_characters(value)
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    raise ValueError("holds a single quote together with a double quote or backslash, which "
                     "no STAR quoting keeps for shlex-based readers such as starfile")


def block_lines(name: str, block: pd.DataFrame | dict, path: Path) -> list[str]:
    """The lines of one data block: ``data_NAME``, then its loop or its ``_label value`` lines.

    Raises
    ------
    InputError
        Naming ``path``, the block, the column and the row of a value that cannot be written.
    """
    _check_name(name, "block name", name, path)
    if isinstance(block, pd.DataFrame):
        return _loop_lines(name, block, path)
    lines = [f"data_{name}", ""]
    for label, value in block.items():
        _check_name(str(label), "label", name, path)
        try:
            lines.append(f"_{label}\t\t\t{simple_value(value)}")
        except ValueError as exc:
            raise InputError(f"cannot be written: data_{name} _{label} {value!r} {exc}", path) from None
    return lines + ["", ""]


def _loop_lines(name: str, frame: pd.DataFrame, path: Path) -> list[str]:
    labels = [str(label) for label in frame.columns]
    for label in labels:
        _check_name(label, "label", name, path)
    lines = [f"data_{name}", "", "loop_"] + [f"_{label} #{k}" for k, label in enumerate(labels, 1)]
    if len(frame) and labels:
        body = _encoded(frame, name, path).to_csv(sep="\t", header=False, index=False, na_rep="<NA>",
                                                  quoting=csv.QUOTE_NONE, lineterminator="\n")
        lines.append(body.rstrip("\n"))
    return lines + ["", ""]


def _encoded(frame: pd.DataFrame, name: str, path: Path) -> pd.DataFrame:
    """``frame`` with its string cells as written (quoted where needed)."""
    out, special = frame, _SPECIAL.search
    for k in range(frame.shape[1]):
        column = frame.iloc[:, k]
        if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
            continue
        values = column.tolist()
        rows = [row for row, v in enumerate(values) if isinstance(v, str) and special(v)]
        for row in rows:
            values[row] = _cell(values[row], name, frame.columns[k], row + 1, path)
        if rows:
            out = frame.copy() if out is frame else out
            out.isetitem(k, pd.Series(values, index=frame.index, dtype=object))
    return out


def _cell(value: str, name: str, label: object, row: int, path: Path) -> str:
    try:
        return loop_value(value)
    except ValueError as exc:
        raise InputError(f"cannot be written: data_{name}, column {label}, row {row}: {value!r} {exc}",
                         path) from None


def _check_characters(value: str) -> None:
    if _CONTROL.search(value):
        raise ValueError("holds a control character (a newline or the like); STAR values are one line")
    if "\t" in value:
        raise ValueError("holds a tab, which RELION reads back as a space")


def _check_name(text: str, what: str, block: str, path: Path) -> None:
    """Block names and labels are bare words: no whitespace, no control characters."""
    if (what == "label" and not text) or any(c.isspace() or not c.isprintable() for c in text):
        raise InputError(f"cannot be written: data_{block} has the {what} {text!r}, which is not one word", path)
