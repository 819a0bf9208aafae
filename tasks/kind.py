"""What the API needs to know about a job kind, without importing its work."""

from dataclasses import dataclass
from typing import Callable

from marshmallow import Schema


@dataclass(frozen=True)
class UploadType:
    """What a kind's uploaded files must be: stored as ``<field><suffix>``;
    ``check(data)`` raises ValueError (with a reason) for a file it cannot take."""

    suffix: str
    check: Callable[[bytes], None]


@dataclass(frozen=True)
class Kind:
    name: str
    module: str
    input_schema: type[Schema]
    description: str
    # Upload fields this kind takes as multipart files (stored as artifacts).
    file_fields: tuple[str, ...] = ()
    upload_type: UploadType | None = None
