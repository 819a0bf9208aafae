"""``python -m bench``: run the whole benchmark (``--quick`` for a smoke run)."""

from bench.run import main

raise SystemExit(main())
