"""``python -m fastcrl``: the same as the ``fastcrl`` console script."""

import sys

from .cli import main

sys.exit(main())
