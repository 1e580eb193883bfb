"""``python -m daskquant``: the command line."""

import sys

from daskquant._cli._main import main

if __name__ == "__main__":
    sys.exit(main())
