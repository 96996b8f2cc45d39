"""python -m caribix.routeserver build ... (roles/route_server)."""

import sys

from caribix.routeserver.cli import main

sys.exit(main())
