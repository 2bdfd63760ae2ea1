"""``python -m topotree``: the command line (see :mod:`topotree.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
