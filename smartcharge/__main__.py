"""``python -m smartcharge``: the command line (see :mod:`smartcharge.cli`)."""

import sys

from smartcharge.cli import main

if __name__ == "__main__":
    sys.exit(main())
