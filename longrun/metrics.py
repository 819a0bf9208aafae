"""Prometheus metrics, computed from Redis when they are scraped.

Every number lives in Redis: counters and histograms are bumped by the job
store's Lua scripts in the same atomic step as the state change they count
(lua/lib.lua, lua/create.lua), and gauges (queue depth, oldest pending job,
running jobs, workers online) are read at scrape time. So any API process on
any host answers ``/metrics`` with the same, complete numbers, whatever mix of
gunicorn workers and Celery hosts produced them; prometheus-client's
multiprocess mode could only sum what the processes of one host saw, needs a
shared scratch directory wiped on every restart, and would still miss what the
workers do.
"""

import time
from collections.abc import Iterable, Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from longrun import flow, keys

# Upper bounds (seconds) of the run-time and queue-wait histograms; the job
# store passes them to its Lua scripts, so they are named here only.
BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)

# A worker counts as online when its presence tick is this recent.
WORKER_ONLINE_SECONDS = 30


def histogram_buckets(fields: dict[str, str], kind: str) -> tuple[list[tuple[str, float]], float, float]:
    """Cumulative (le, count) pairs, count and sum of one kind from a histogram hash."""
    running = 0.0
    buckets = []
    for bound in BUCKETS:
        le = format(bound, "g")
        running += float(fields.get(f"{kind}|{le}", 0))
        buckets.append((le, running))
    count = float(fields.get(f"{kind}|count", 0))
    buckets.append(("+Inf", count))
    return buckets, count, float(fields.get(f"{kind}|sum", 0))


def _split(fields: dict[str, str]) -> dict[tuple[str, str], float]:
    out = {}
    for field, value in fields.items():
        kind, _, label = field.rpartition("|")
        out[(kind, label)] = float(value)
    return out


class RedisCollector(Collector):
    """Reads every Longrun metric from Redis in one pipelined round trip."""

    def __init__(self, client: redis.Redis, kinds: Iterable[str]) -> None:
        self.redis = client
        self.kinds = list(kinds)

    def queues(self) -> dict[str, str]:
        """Queue name -> the kind name queue_keys() takes (job kinds and webhooks)."""
        names = {keys.queue(kind): kind for kind in self.kinds}
        names[keys.WEBHOOK_QUEUE] = keys.WEBHOOK_QUEUE[len(keys.QUEUE_PREFIX) :]
        return names

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        queues = self.queues()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.METRICS_SUBMITTED)
        pipe.hgetall(keys.METRICS_FINISHED)
        pipe.hgetall(keys.METRICS_RUN_SECONDS)
        pipe.hgetall(keys.METRICS_WAIT_SECONDS)
        pipe.hgetall(keys.METRICS_WEBHOOKS)
        pipe.zcard(keys.RUNNING)
        pipe.zcount(keys.WORKERS, now - WORKER_ONLINE_SECONDS, "+inf")
        for kind in self.kinds:
            pipe.zrange(keys.pending_by_kind(kind), 0, 0, withscores=True)
        for short in queues.values():
            for key in keys.queue_keys(short):
                pipe.llen(key)
        for kind in self.kinds:
            pipe.zcard(keys.flow_held(kind))
        replies = pipe.execute()
        held = dict(zip(self.kinds, replies[len(replies) - len(self.kinds) :]))
        replies = replies[: len(replies) - len(self.kinds)]
        submitted, finished, run, wait, webhooks, running, workers = replies[:7]
        oldest = dict(zip(self.kinds, replies[7 : 7 + len(self.kinds)]))
        lengths = replies[7 + len(self.kinds) :]

        family = CounterMetricFamily("longrun_jobs_submitted", "Jobs accepted, by kind.", labels=["kind"])
        for kind in sorted(set(self.kinds) | set(submitted)):
            family.add_metric([kind], float(submitted.get(kind, 0)))
        yield family

        family = CounterMetricFamily(
            "longrun_jobs_finished", "Jobs that reached a final status.", labels=["kind", "status"]
        )
        for (kind, status), value in sorted(_split(finished).items()):
            family.add_metric([kind, status], value)
        yield family

        for name, fields, doc in (
            ("longrun_job_run_seconds", run, "Run time of finished jobs (started to finished)."),
            ("longrun_job_queue_wait_seconds", wait, "Time from submission to first start."),
        ):
            histogram = HistogramMetricFamily(name, doc, labels=["kind"])
            seen = {field.rpartition("|")[0] for field in fields}
            for kind in sorted(seen):
                buckets, _, total = histogram_buckets(fields, kind)
                histogram.add_metric([kind], buckets, total)
            yield histogram

        gauge = GaugeMetricFamily(
            "longrun_queue_depth",
            "Jobs waiting in each queue: its messages plus the jobs fair dispatch holds in Redis for it.",
            labels=["queue"],
        )
        for i, (queue, short) in enumerate(queues.items()):
            gauge.add_metric([queue], float(sum(lengths[i * 10 : (i + 1) * 10]) + held.get(short, 0)))
        yield gauge

        gauge = GaugeMetricFamily(
            "longrun_jobs_held",
            "Jobs fair dispatch holds in Redis (their turn, or a cap, has not come), per queue.",
            labels=["queue"],
        )
        for kind in self.kinds:
            gauge.add_metric([keys.queue(kind)], float(held[kind]))
        yield gauge

        gauge = GaugeMetricFamily(
            "longrun_oldest_pending_job_age_seconds",
            "Age of the oldest pending job of each kind's queue (0: none).",
            labels=["queue"],
        )
        for kind in self.kinds:
            entry = oldest.get(kind)
            age = max(0.0, now - entry[0][1] / 1e6) if entry else 0.0
            gauge.add_metric([keys.queue(kind)], age)
        yield gauge

        yield GaugeMetricFamily("longrun_jobs_running", "Jobs running now.", value=float(running))

        gauge = GaugeMetricFamily(
            "longrun_tenant_jobs",
            "Each tenant's jobs by state: held (waiting their turn in Redis), waiting (pending), scheduled, running.",
            labels=["tenant", "state"],
        )
        for tenant, counts in flow.all_tenant_counts(self.redis, self.kinds).items():
            for state, value in counts.items():
                gauge.add_metric([tenant, state], float(value))
        yield gauge
        yield GaugeMetricFamily(
            "longrun_workers_online",
            f"Celery workers seen in the last {WORKER_ONLINE_SECONDS} s.",
            value=float(workers),
        )

        family = CounterMetricFamily(
            "longrun_webhook_attempts", "Webhook delivery attempts by outcome.", labels=["outcome"]
        )
        for outcome, value in sorted(webhooks.items()):
            family.add_metric([outcome], float(value))
        yield family
