"""API keys of the tenants the security tests use (the session's own key is tenant "default")."""

import hashlib

from tests.support.session import TEST_API_KEY

TENANT_KEYS = {"default": TEST_API_KEY, "alice": "alice-key-5f1e0c2a9b", "bob": "bob-key-77d3a01c4e"}


def api_keys_setting(keys: dict[str, str] = TENANT_KEYS) -> str:
    """``LONGRUN_API_KEYS`` for these tenants: ``tenant=sha256(key)``, comma-separated."""
    return ",".join(f"{tenant}={hashlib.sha256(key.encode()).hexdigest()}" for tenant, key in keys.items())


def bearer(tenant: str) -> dict:
    return {"Authorization": f"Bearer {TENANT_KEYS[tenant]}"}
