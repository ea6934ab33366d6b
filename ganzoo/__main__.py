"""``python -m ganzoo`` (what ``torchrun -m ganzoo run ...`` starts in each process): the ``ganzoo`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
