"""JSON request bodies within limits a parser and a schema can take: no 500 for any body.

Python's json module recurses once per nesting level (a body nested ~1,000
deep raises RecursionError in it, or later in a schema or a copy), and refuses
integers over 4,300 digits with a ValueError that no route expects. Every JSON
body (the Flask JSON provider, webargs' loader) and the multipart ``input``
field are read with ``loads`` here instead: nesting beyond MAX_DEPTH, an
integer of more than MAX_INTEGER_DIGITS digits, or NaN/Infinity (not JSON, and
echoed back as invalid JSON) is a 400 naming the field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

from longrun.errors import InvalidInput

# Deeper than any job input needs; far below where recursion becomes a problem.
MAX_DEPTH = 64
# Enough for any 64-bit or decimal id; Python's own limit for int("...") is 4,300.
MAX_INTEGER_DIGITS = 100

# Tokens of a JSON text, for finding where a body too deep to parse goes too deep.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]|[^\[\]{},:"\s]+|\s+', re.S)


class _TooLongInteger(str):
    """An integer literal over MAX_INTEGER_DIGITS, kept as text until its place is known."""


class _NotFinite(str):
    """NaN, Infinity or a number too large for a float: not JSON, and answered as
    ``NaN``/``Infinity`` (not JSON either) if it were kept."""


def _parse_int(text: str) -> int | _TooLongInteger:
    return _TooLongInteger(text) if len(text.lstrip("-")) > MAX_INTEGER_DIGITS else int(text)


def _parse_float(text: str) -> float | _NotFinite:
    value = float(text)
    return value if math.isfinite(value) else _NotFinite(text)


def _render(path: list[str | int], where: str) -> str:
    text = where
    for part in path[:12]:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text + (".…" if len(path) > 12 else "")


def _refuse(path: list[str | int], where: str, problem: str) -> InvalidInput:
    field = _render(path, where) or "body"
    top = str(path[0]) if path and not where else (where or "body")
    return InvalidInput(f"invalid input: {field}: {problem}", details={top: [f"{field}: {problem}"]})


def _check(data: Any, where: str) -> None:
    """Walk ``data`` without recursion: too deep, or an integer too long, is refused by path."""
    stack: list[tuple[Any, list[str | int]]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _TooLongInteger):
            raise _refuse(path, where, f"an integer of more than {MAX_INTEGER_DIGITS} digits")
        if isinstance(value, _NotFinite):
            raise _refuse(path, where, "not a finite number (NaN and Infinity are not JSON)")
        if isinstance(value, (dict, list)):
            if len(path) >= MAX_DEPTH:
                raise _refuse(path, where, f"nested more than {MAX_DEPTH} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((child, [*path, key]) for key, child in items)


def _deep_path(text: str) -> list[str | int]:
    """Where ``text`` first nests deeper than MAX_DEPTH (for bodies too deep to parse at all)."""
    path: list[str | int] = []
    containers: list[str] = []
    previous = ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token.isspace():
            continue
        if token in ("{", "["):
            if len(containers) >= MAX_DEPTH:
                return path
            containers.append(token)
            path.append("" if token == "{" else 0)
        elif token in ("}", "]") and containers:
            containers.pop()
            path.pop()
        elif token == "," and containers and containers[-1] == "[":
            path[-1] = int(path[-1]) + 1
        elif token.startswith('"') and containers and containers[-1] == "{" and previous in ("{", ","):
            try:
                path[-1] = json.loads(token)
            except ValueError:
                return path
        previous = token
    return path


def loads(data: str | bytes, *, where: str = "") -> Any:
    """``json.loads`` within the limits; InvalidInput (400) naming the field past them.
    ``where`` prefixes the path, e.g. ``input`` for a multipart form's input field."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        parsed = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_NotFinite)
    except RecursionError:
        raise _refuse(_deep_path(text), where, f"nested more than {MAX_DEPTH} levels deep") from None
    _check(parsed, where)
    return parsed


class LimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading bodies (``request.get_json``) through ``loads``."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
