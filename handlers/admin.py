"""`python -m handlers.admin`: the operator's commands (handlers.ops.admin) under the name the docs give."""

from __future__ import annotations

import sys

from handlers.ops.admin import main

if __name__ == "__main__":
    sys.exit(main())
