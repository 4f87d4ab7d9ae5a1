"""The ``gan-viewer`` command line.

One module per command, each with ``add_args(parser)`` and ``main(args) -> int`` and its
docstring as help. Command modules import heavy packages (pandas, torch, Qt) inside ``main``
only, so ``gan-viewer --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

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
    """Run one command; returns the exit status (2 for bad input)."""
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
