"""``python -m gan_viewer``: the same as the ``gan-viewer`` command."""

import sys

from gan_viewer.cli import main

if __name__ == "__main__":
    sys.exit(main())
