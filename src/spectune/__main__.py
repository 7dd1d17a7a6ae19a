"""``python -m spectune``: the command line."""

import sys

from spectune.cli import main

sys.exit(main())
