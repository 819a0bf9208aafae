"""The client package stays light: importing it loads nothing of the server."""

import subprocess
import sys

from tests.support.paths import ROOT
from tests.support.processes import subprocess_env

SERVER_MODULES = ("flask", "celery", "kombu", "redis", "marshmallow", "api", "workers", "tasks", "longrun")


def test_importing_the_client_and_cli_loads_neither_flask_nor_celery_nor_the_server():
    code = (
        "import sys, longrun_client, longrun_client.cli; "
        f"print(sorted(m for m in {SERVER_MODULES!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_longrun_script_points_at_the_cli_main():
    import tomllib

    from longrun_client import cli

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, func = scripts["longrun"].partition(":")
    assert (module, func) == ("longrun_client.cli", "main")
    assert callable(getattr(cli, func))
