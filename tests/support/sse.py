"""Reading a Server-Sent Events response the way a test needs to see it."""

import json


def read_sse(response, until_final: bool = True, limit: int | None = None) -> list[dict]:
    """Events ({id, event, data}) from a streaming requests response.

    Stops after the stream ends, or after ``limit`` events; comment lines are
    kept as {"comment": text} so heartbeat tests can see them.
    """
    events, current = [], {}
    for raw in response.iter_lines(decode_unicode=True):
        line = raw if isinstance(raw, str) else raw.decode()
        if line.startswith(":"):
            events.append({"comment": line[1:].strip()})
            continue
        if not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                events.append(current)
                if limit is not None and sum(1 for e in events if "data" in e) >= limit:
                    return events
            current = {}
            continue
        name, _, value = line.partition(":")
        current[name] = value[1:] if value.startswith(" ") else value
    return events
