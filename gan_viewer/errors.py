"""The one exception type for bad user input.

Every message names the file and the problem on one line; the command line turns it into
``gan-viewer: error: <message>`` and exit status 2.
"""

from __future__ import annotations

from os import PathLike


class InputError(Exception):
    """A user-supplied file or parameter is unusable.

    Parameters
    ----------
    message
        What is wrong, in one line.
    path
        The offending file, if there is one; it is prefixed to the message.
    """

    def __init__(self, message: str, path: str | PathLike | None = None) -> None:
        self.path = None if path is None else str(path)
        text = " ".join(str(message).split())
        super().__init__(f"{self.path}: {text}" if self.path else text)
