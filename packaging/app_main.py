"""The frozen app's entry point (packaging/gan-viewer.spec): the ``gan-viewer`` command line,
and the inspector on the demo when started without arguments (from the desktop entry)."""

import sys

from gan_viewer.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["gui"]))
