"""Types of the Redis replies Longrun reads.

redis-py types each reply as the union over every client mode (bytes or str, RESP2 or RESP3).
Longrun's clients all use ``decode_responses=True`` and RESP2, so call sites ``cast`` their
replies to these narrower shapes; the cast checks nothing at run time.
"""

# XRANGE / one stream of XREAD: [(entry id, {field: value}), ...]
StreamEntries = list[tuple[str, dict[str, str]]]
# XREAD: [(stream key, entries), ...]; None (no reply) when a BLOCK timed out.
XReadReply = list[tuple[str, StreamEntries]]
# ZRANGE ... WITHSCORES: [(member, score), ...]
ScoredMembers = list[tuple[str, float]]
