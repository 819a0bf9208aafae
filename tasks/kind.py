"""What the API needs to know about a job kind, without importing its work."""

from dataclasses import dataclass

from marshmallow import Schema


@dataclass(frozen=True)
class Kind:
    name: str
    module: str
    input_schema: type[Schema]
    description: str
    # Upload fields this kind takes as multipart files (stored as artifacts).
    file_fields: tuple[str, ...] = ()
