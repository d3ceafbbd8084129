"""What every benchmark script shares: a user-facing error is one line on stderr and exit status 2."""
from __future__ import annotations

import sys
from pathlib import Path

from trivision.errors import TrivisionError


def run(main) -> None:
    try:
        sys.exit(main())
    except TrivisionError as e:
        print(f"{Path(sys.argv[0]).stem}: error: {e}", file=sys.stderr)
        sys.exit(2)
