"""``python -m longrun_client`` runs the CLI (the same as the ``longrun`` script)."""

import sys

from longrun_client.cli import main

sys.exit(main())
