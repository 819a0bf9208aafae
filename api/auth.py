"""Who is calling: the tenant a request acts for."""

from flask import g

DEFAULT_TENANT = "default"


def current_tenant() -> str:
    return g.get("tenant", DEFAULT_TENANT)
