"""`python -m testigo`: the same as the `testigo` command."""

from __future__ import annotations

import sys

from testigo.cli import main

sys.exit(main())
