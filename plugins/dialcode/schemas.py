"""Shapes on the wire: reading Sunbird request bodies and writing result objects.

The bodies are checked field by field in the services, not by a schema up
front, because the contract fixes which check fails first (a missing
`request.dialcodes` is `ERR_REQUEST_BLANK`, but only a bad count after the
content was found, ...); a schema would report everything at once, in the
wrong order and with the wrong codes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

from .models import Content, DialCode, Publisher


def is_integer(value: Any) -> bool:
    """A JSON integer (Sunbird's `instanceof Integer`): 5 yes, 5.0 / "5" / true no."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A JSON number of any kind (Sunbird's `instanceof Number`)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_text(value: Any, max_length: int) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= max_length


def member(payload: Any, key: str) -> Any:
    """`payload[key]` when payload is an object, else None."""
    return payload.get(key) if isinstance(payload, Mapping) else None


def sunbird_time(value: dt.datetime | None) -> str | None:
    """`2026-11-22T10:00:00.000+0000`, the way Sunbird prints stored dates."""
    if value is None:
        return None
    value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def reserved_map(pairs: Iterable[tuple[str, int]]) -> dict[str, int] | None:
    """`reservedDialcodes`: code -> index in index order; null when nothing is reserved."""
    ordered = sorted(pairs, key=lambda pair: pair[1])
    return {code: index for code, index in ordered} or None


def publisher_out(publisher: Publisher) -> dict[str, Any]:
    return {
        "identifier": publisher.identifier,
        "name": publisher.name,
        "channel": publisher.channel,
        "createdOn": sunbird_time(publisher.created_on),
        "updatedOn": sunbird_time(publisher.updated_on),
    }


def dialcode_out(code: DialCode) -> dict[str, Any]:
    return {
        "identifier": code.identifier,
        "channel": code.channel,
        "publisher": code.publisher,
        "batchcode": code.batchcode,
        "dialcode_index": code.dialcode_index,
        "status": code.status,
        "generated_on": sunbird_time(code.generated_on),
    }


def content_out(
    content: Content,
    *,
    dialcodes: list[str],
    reserved: dict[str, int] | None,
    children: list[str],
) -> dict[str, Any]:
    return {
        "identifier": content.identifier,
        "name": content.name,
        "contentType": content.content_type,
        "channel": content.channel,
        "status": content.status,
        "parent": content.parent_id,
        "children": children,
        "dialcodes": dialcodes,
        "reservedDialcodes": reserved,
        "versionKey": str(content.version),
        "createdOn": sunbird_time(content.created_on),
        "lastUpdatedOn": sunbird_time(content.last_updated_on),
    }
