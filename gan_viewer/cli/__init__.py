"""The ``gan-viewer`` command line.

One module per command, each with ``add_args(parser)`` and ``main(args) -> int`` and its
docstring as help. Command modules import heavy packages (pandas, torch, Qt) inside ``main``
only, so ``gan-viewer --help`` answers at once.

Exit status: 0 done; 2 bad input (one line naming the file and the problem); 1 an unexpected
error, i.e. a bug (one line naming a log file, in the user's log folder, that holds the
traceback); 130 interrupted. ``--debug`` shows the traceback instead of the line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from gan_viewer import __version__
from gan_viewer.errors import InputError
from gan_viewer.io.temporaries import install_signal_cleanup

#: command name -> module, in the order ``--help`` lists them
COMMANDS = {
    "info": "gan_viewer.cli.info",
    "export": "gan_viewer.cli.export",
    "simulate": "gan_viewer.cli.simulate",
    "project": "gan_viewer.cli.project",
    "gui": "gan_viewer.cli.gui",
    "evaluate": "gan_viewer.cli.evaluate",
    "train": "gan_viewer.cli.train",
    "denoise": "gan_viewer.cli.denoise",
    "score": "gan_viewer.cli.score",
    "merge": "gan_viewer.cli.merge",
}

log = logging.getLogger("gan_viewer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gan-viewer",
        description="Inspect cryo-EM particles: raw | GAN-recovered | reference projection; curate; export STAR.")
    parser.add_argument("--version", action="version", version=f"gan-viewer {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    common.add_argument("-v", "--verbose", action="store_true", help="more log messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip()
        cmd = sub.add_parser(name, parents=[common], help=doc.splitlines()[0] if doc else None,
                             description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_args(cmd)
        cmd.set_defaults(_run=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status: 0, 2 for bad input, 1 for a bug (see
    :func:`report_unexpected`), 130 when interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s: %(message)s", stream=sys.stderr)
    if args.command != "gui":  # SIGTERM / Ctrl+C remove temporaries; the inspector keeps Qt's handling
        install_signal_cleanup(f"gan-viewer {args.command}")
    try:
        return int(args._run(args) or 0)
    except InputError as exc:
        if args.debug:
            raise
        print(f"gan-viewer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"gan-viewer {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gan-viewer {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: one line, the traceback in a log file
        if args.debug:
            raise
        return report_unexpected(args.command, exc, sys.argv[1:] if argv is None else argv)


#: the help of ``--coords-scale`` (``gui``, ``info``, ``export``)
COORDS_SCALE_HELP = ("factor taking the coordinate file's pixels to the micrograph's (e.g. 2 for picks made on a copy "
                     "binned by 2); default 1")


def add_coords_scale(parser: argparse.ArgumentParser) -> None:
    """The ``--coords-scale FACTOR`` option of the commands that take ``--coords``."""
    parser.add_argument("--coords-scale", type=float, metavar="FACTOR", help=COORDS_SCALE_HELP)


def coords_scale(args: argparse.Namespace) -> float | None:
    """``--coords-scale``, checked (None when not given).

    Raises
    ------
    InputError
        When it is given without ``--coords``, or is not a finite positive number.
    """
    from gan_viewer.io.micrograph import check_scale

    if args.coords_scale is None:
        return None
    if args.coords is None:
        raise InputError("--coords-scale scales the picks of --coords: add --coords PICKS --box N (or drop it)")
    return check_scale(args.coords_scale, args.coords)


def report_unexpected(command: str, exc: BaseException, argv: list[str]) -> int:
    """Report an exception that is not bad input (a bug): one line on stderr naming a log file that
    holds the traceback. Returns the exit status, 1 (bad input gives 2)."""
    log_file = _write_traceback(exc, argv)
    where = f"the traceback is in {log_file}; " if log_file else ""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    print(f"gan-viewer {command}: internal error: {type(exc).__name__}{': ' + text if text else ''} "
          f"({where}run with --debug for the traceback)", file=sys.stderr)
    return 1


def _write_traceback(exc: BaseException, argv: list[str]) -> Path | None:
    """Write the traceback to a new file in the user's log folder (else the temporary folder)."""
    import platform
    import tempfile
    import time
    import traceback

    import platformdirs

    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    text = (f"gan-viewer {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
            f"command line: gan-viewer {' '.join(argv)}\n\n" + "".join(traceback.format_exception(exc)))
    for folder in (platformdirs.user_log_dir("gan-viewer"), tempfile.gettempdir()):
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None
