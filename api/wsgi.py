"""gunicorn entry point: ``gunicorn api.wsgi:app``."""

import sys

from longrun.errors import SettingsError
from longrun.settings import get_settings

try:
    get_settings()
except SettingsError as exc:
    print(f"Longrun cannot start: {exc}", file=sys.stderr, flush=True)
    # gunicorn halts (instead of respawning workers) on exit code 4, "App failed to load".
    sys.exit(4)

from api import create_app

app = create_app()
