"""What fair dispatch holds, read for the list ``stats`` and ``/metrics``.

The writing side is Lua (lua/flow.lua, run inside every job state change);
this module only reads its keys.
"""

from __future__ import annotations

import time

import redis

from longrun import keys


def tenant_counts(client: redis.Redis, tenant: str, kinds) -> dict[str, int]:
    """A tenant's jobs: held in Redis (waiting their turn), pending, scheduled, running."""
    kinds = list(kinds)
    pipe = client.pipeline(transaction=False)
    for kind in kinds:
        pipe.zcard(keys.flow_waiting(kind, tenant))
    for status in ("pending", "scheduled", "running"):
        pipe.zcard(keys.tenant_index(tenant, status))
    replies = pipe.execute()
    pending, scheduled, running = replies[len(kinds):]
    return {"held": sum(replies[:len(kinds)]), "waiting": pending, "scheduled": scheduled, "running": running}


def oldest_waiting_seconds(client: redis.Redis, kinds, now: float | None = None) -> dict[str, float]:
    """Per kind: how long its oldest pending job has waited (0: none waits)."""
    now = time.time() if now is None else now
    kinds = list(kinds)
    pipe = client.pipeline(transaction=False)
    for kind in kinds:
        pipe.zrange(keys.pending_by_kind(kind), 0, 0, withscores=True)
    return {kind: round(max(0.0, now - entry[0][1] / 1e6), 3) if entry else 0.0
            for kind, entry in zip(kinds, pipe.execute())}


def all_tenant_counts(client: redis.Redis, kinds) -> dict[str, dict[str, int]]:
    """tenant_counts of every tenant that ever submitted (for /metrics)."""
    return {tenant: tenant_counts(client, tenant, kinds) for tenant in sorted(client.smembers(keys.TENANTS))}
