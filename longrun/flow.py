"""What fair dispatch holds, read for the list ``stats`` and ``/metrics``.

The writing side is Lua (lua/flow.lua, run inside every job state change);
this module only reads its keys.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import cast

import redis

from longrun import keys


def tenant_counts(client: redis.Redis, tenant: str, kinds: Iterable[str]) -> dict[str, int]:
    """A tenant's jobs: held in Redis (waiting their turn), pending, scheduled, running."""
    names = list(kinds)
    pipe = client.pipeline(transaction=False)
    for kind in names:
        pipe.zcard(keys.flow_waiting(kind, tenant))
    for status in ("pending", "scheduled", "running"):
        pipe.zcard(keys.tenant_index(tenant, status))
    replies = pipe.execute()
    pending, scheduled, running = replies[len(names) :]
    return {"held": sum(replies[: len(names)]), "waiting": pending, "scheduled": scheduled, "running": running}


def oldest_waiting_seconds(client: redis.Redis, kinds: Iterable[str], now: float | None = None) -> dict[str, float]:
    """Per kind: how long its oldest pending job has waited (0: none waits)."""
    now = time.time() if now is None else now
    names = list(kinds)
    pipe = client.pipeline(transaction=False)
    for kind in names:
        pipe.zrange(keys.pending_by_kind(kind), 0, 0, withscores=True)
    return {
        kind: round(max(0.0, now - entry[0][1] / 1e6), 3) if entry else 0.0
        for kind, entry in zip(names, pipe.execute(), strict=True)
    }


def all_tenant_counts(client: redis.Redis, kinds: Iterable[str]) -> dict[str, dict[str, int]]:
    """tenant_counts of every tenant that ever submitted (for /metrics)."""
    tenants = sorted(cast(set[str], client.smembers(keys.TENANTS)))
    return {tenant: tenant_counts(client, tenant, kinds) for tenant in tenants}
