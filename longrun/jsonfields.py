"""marshmallow fields that take JSON types as the OpenAPI document states them.

marshmallow is lenient: Boolean takes "yes" and 0, Integer truncates 2.5 and
takes true, Float takes "1.5". The API promises (and schemathesis checks) that
a body that breaks the documented schema is a 400, so request and job input
schemas use these instead.
"""

from collections.abc import Mapping
from typing import Any

from marshmallow import fields


class Boolean(fields.Boolean):
    """Only JSON true or false."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Integer(fields.Integer):
    """A JSON integer: not 2.5, not "2", not true."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, (bool, str)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class Float(fields.Float):
    """A JSON number: not "1.5", not true."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> float:
        if isinstance(value, (bool, str)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)
