"""python -m caribix.lab ... (scripts/lab.sh)."""

import sys

from caribix.lab.cli import main

sys.exit(main())
