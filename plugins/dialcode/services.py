"""The DIAL code rules: publishers, generation, the content tree, link, reserve, release.

Every operation is one `Database.transaction()`; an error raised anywhere inside
it rolls everything back, so a rejected request changes nothing.

Races are settled by the database:
- the generator index is one counter row, locked (`SELECT ... FOR UPDATE`) for
  the rest of the transaction that uses it, and moved exactly to the last index
  consumed; the code's primary key and the unique `dialcode_index` are the
  backstop. Two workers can never hand out one index, and the sequence has no
  gaps, exactly like Sunbird's single Redis counter.
- reserve, release and link lock the textbook row before reading its
  reservations, so two of them on one textbook run one after the other.
On SQLite `db.transaction()` begins with `BEGIN IMMEDIATE`, which serializes
writers outright (`FOR UPDATE` is not rendered there).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Iterable, Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import BadRequest, NotFound, ServerError

from . import generator
from .models import (
    CONTAINER_TYPES,
    CONTENT_STATUSES,
    CONTENT_TYPES,
    COUNTER_NAME,
    DRAFT,
    RELEASABLE_TYPES,
    RETIRED,
    TEXTBOOK,
    TEXTBOOK_UNIT,
    Content,
    Counter,
    DialCode,
    Link,
    Publisher,
    Reservation,
)
from .schemas import content_out, dialcode_out, is_integer, is_number, is_text, member, publisher_out, reserved_map

GENERATE_MAX = 1000
RESERVE_MAX = 250
LINK_MAX = 10
NAME_MAX = 255
ID_MAX = 100
BATCHCODE_MAX = 255

UPDATABLE_FIELDS = frozenset({"name", "status", "versionKey"})


# ---------------------------------------------------------------- errors

def client_error(code: str, message: str, **extra: Any) -> BadRequest:
    return BadRequest(message, code=code, extra=extra or None)


def content_not_found(content_id: str) -> NotFound:
    return NotFound(f"Content not found with id: {content_id}", code="ERR_CONTENT_NOT_FOUND")


INVALID_CHANNEL = ("ERR_CONTENT_INVALID_CHANNEL", "Invalid Channel Id.")
INVALID_CONTENT_TYPE = ("ERR_CONTENT_CONTENTTYPE", "Invalid Content Type.")
INVALID_PUBLISHER = ("ERR_INVALID_PUBLISHER", "Invalid Publisher. Please Provide Correct Publisher Details.")
INVALID_RESERVE_COUNT = ("ERR_INVALID_COUNT", "Invalid dialcode count.")


# ---------------------------------------------------------------- helpers

def _dialect_insert(session: AsyncSession, table: Any) -> Any:
    return (sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert)(table)


def _millis(now: dt.datetime) -> int:
    return int(now.timestamp() * 1000)


def _next_version(current: int, now: dt.datetime) -> int:
    """versionKey is the change time in ms, but never repeats (two changes in one ms)."""
    return max(_millis(now), current + 1)


def _new_content_id() -> str:
    return f"do_{10**20 + secrets.randbelow(9 * 10**20)}"


async def _content(session: AsyncSession, content_id: str, *, lock: bool = False) -> Content | None:
    query = select(Content).where(Content.identifier == content_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def _reservations(session: AsyncSession, root_id: str) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(Reservation.dialcode, Reservation.reserved_index)
        .where(Reservation.content_id == root_id)
        .order_by(Reservation.reserved_index)
    )
    return [(code, index) for code, index in rows]


async def _used_codes(session: AsyncSession, content_id: str) -> set[str]:
    """Codes linked to the content or any node below it, walked by one recursive query."""
    tree = select(Content.identifier).where(Content.identifier == content_id).cte("subtree", recursive=True)
    tree = tree.union_all(select(Content.identifier).where(Content.parent_id == tree.c.identifier))
    rows = await session.scalars(select(Link.dialcode).where(Link.content_id.in_(select(tree.c.identifier))))
    return set(rows)


def _check_channel(content: Content, channel: str | None) -> None:
    if not channel or content.channel != channel:
        raise client_error(*INVALID_CHANNEL)


# ---------------------------------------------------------------- publishers

async def create_publisher(db: Database, now: dt.datetime, channel: str | None, payload: Any) -> dict[str, Any]:
    code = "ERR_INVALID_PUBLISHER_CREATION_REQUEST"
    publisher = member(payload, "publisher")
    if not isinstance(publisher, dict) or not publisher:
        raise client_error(code, "Invalid Request")
    identifier = publisher.get("identifier")
    if not is_text(identifier, ID_MAX):
        raise client_error(code, "Invalid Publisher Identifier")
    name = publisher.get("name")
    if not is_text(name, NAME_MAX):
        raise client_error(code, "Invalid Publisher Name")
    if not channel:
        raise client_error("ERR_INVALID_CHANNEL_ID", "Invalid Channel Id.")
    exists = client_error(code, f"Publisher with identifier: {identifier} already exists.")
    try:
        async with db.transaction() as session:
            if await session.get(Publisher, identifier) is not None:
                raise exists
            session.add(Publisher(identifier=identifier, name=name, channel=channel, created_on=now, updated_on=now))
    except IntegrityError:  # a concurrent create of the same identifier won
        raise exists from None
    return {"identifier": identifier, "node_id": identifier}


async def read_publisher(db: Database, identifier: str) -> dict[str, Any]:
    async with db.session() as session:
        publisher = await session.get(Publisher, identifier)
    if publisher is None:
        raise NotFound(f"Publisher with Identifier: {identifier} does not exists.", code="ERR_INVALID_PUBLISHER_READ_REQUEST")
    return {"publisher": publisher_out(publisher)}


# ---------------------------------------------------------------- generation

async def allocate_codes(
    session: AsyncSession,
    *,
    count: int,
    channel: str,
    publisher: str,
    batchcode: str,
    now: dt.datetime,
) -> list[tuple[int, str]]:
    """Issue `count` new codes inside the caller's transaction.

    The counter row stays locked until that transaction ends, so concurrent
    generators (any worker, any machine) queue here and each continues exactly
    where the previous one stopped.
    """
    await session.execute(
        _dialect_insert(session, Counter).values(name=COUNTER_NAME, value=0).on_conflict_do_nothing(index_elements=["name"])
    )
    start = await session.scalar(select(Counter.value).where(Counter.name == COUNTER_NAME).with_for_update())
    pairs = generator.next_codes(int(start), count)
    moved = await session.execute(
        update(Counter).where(Counter.name == COUNTER_NAME, Counter.value == start).values(value=pairs[-1][0])
    )
    if moved.rowcount != 1:  # impossible while the lock holds; refuse rather than reissue
        raise ServerError("The DIAL code counter moved during allocation.", code="ERR_SERVER_ERROR")
    await session.execute(
        insert(DialCode),
        [
            {
                "identifier": code,
                "dialcode_index": index,
                "channel": channel,
                "publisher": publisher,
                "batchcode": batchcode,
                "status": DRAFT,
                "generated_on": now,
            }
            for index, code in pairs
        ],
    )
    return pairs


async def generate(db: Database, now: dt.datetime, channel: str | None, payload: Any) -> tuple[dict[str, Any], bool]:
    """POST /dialcode/v3/generate -> (result, partial): partial when the count was capped."""
    request = member(payload, "dialcodes")
    if not isinstance(request, dict) or not request:
        raise client_error("ERR_INVALID_DIALCODE_REQUEST", "Invalid Request.")
    count = request.get("count")
    if not is_number(count):
        raise client_error("ERR_INVALID_COUNT", "Please Provide Valid Number Of DIAL Codes.")
    count = int(count)
    if count <= 0:
        raise client_error("ERR_COUNT_VALIDATION_FAILED", "Please give valid count to generate.")
    publisher_id = request.get("publisher")
    batchcode = request.get("batchCode")
    if batchcode is not None and not is_text(batchcode, BATCHCODE_MAX):
        raise client_error("ERR_INVALID_DIALCODE_REQUEST", "Invalid batchCode.")
    partial = count > GENERATE_MAX
    count = min(count, GENERATE_MAX)
    async with db.transaction() as session:
        if not is_text(publisher_id, ID_MAX) or await session.get(Publisher, publisher_id) is None:
            raise client_error(*INVALID_PUBLISHER)
        if not channel:
            raise client_error("ERR_INVALID_CHANNEL_ID", "Invalid Channel Id.")
        batchcode = batchcode or f"{publisher_id}.{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%S}"
        pairs = await allocate_codes(
            session, count=count, channel=channel, publisher=publisher_id, batchcode=batchcode, now=now
        )
    result = {"count": len(pairs), "batchcode": batchcode, "publisher": publisher_id, "dialcodes": [c for _, c in pairs]}
    return result, partial


async def read_dialcode(db: Database, code: str) -> dict[str, Any]:
    async with db.session() as session:
        found = await session.get(DialCode, code)
    if found is None:
        raise NotFound(f"Dial Code Not Found With Id: {code}", code="ERR_DIALCODE_INFO")
    return {"dialcode": dialcode_out(found)}


# ---------------------------------------------------------------- content

def _content_problems(data: dict[str, Any], *, creating: bool) -> list[str]:
    problems = []
    if creating or "name" in data:
        if not is_text(data.get("name"), NAME_MAX):
            problems.append(f"Required Metadata name not set (a text of at most {NAME_MAX} characters)")
    if creating and data.get("contentType") not in CONTENT_TYPES:
        problems.append("Metadata contentType should be one of: " + ", ".join(CONTENT_TYPES))
    if "status" in data and data["status"] not in CONTENT_STATUSES:
        problems.append("Metadata status should be one of: " + ", ".join(CONTENT_STATUSES))
    return problems


def _validation_failed(problems: list[str]) -> BadRequest:
    return client_error("ERR_CONTENT_VALIDATION_FAILED", "Validation Errors", messages=problems)


async def create_content(db: Database, now: dt.datetime, channel: str | None, payload: Any) -> dict[str, Any]:
    data = member(payload, "content")
    if not isinstance(data, dict) or not data:
        raise client_error("ERR_REQUEST_BLANK", "Request can not be blank.")
    if not channel:
        raise client_error(*INVALID_CHANNEL)
    problems = _content_problems(data, creating=True)
    unknown = sorted(set(data) - {"name", "contentType", "status", "parent"})
    if unknown:
        problems.append("Properties can not be set: " + ", ".join(unknown))
    parent_id = data.get("parent")
    if parent_id is not None and not isinstance(parent_id, str):
        problems.append("Metadata parent should be a content identifier")
    content_type = data.get("contentType")
    if content_type == TEXTBOOK and parent_id is not None:
        problems.append("A TextBook is the root of its tree and can not have a parent")
    if content_type == TEXTBOOK_UNIT and parent_id is None:
        problems.append("A TextBookUnit is created with its parent")
    if problems:
        raise _validation_failed(problems)

    async with db.transaction() as session:
        identifier = _new_content_id()
        root_id = identifier
        if parent_id is not None:
            parent = await _content(session, parent_id)
            if parent is None:
                raise _validation_failed([f"Parent content not found with id: {parent_id}"])
            if parent.channel != channel:
                raise client_error(*INVALID_CHANNEL)
            if parent.content_type not in CONTAINER_TYPES:
                raise _validation_failed([f"Parent {parent_id} is a {parent.content_type} and can not have children"])
            if parent.status == RETIRED:
                raise _validation_failed([f"Parent {parent_id} is Retired"])
            root_id = parent.root_id
        content = Content(
            identifier=identifier,
            name=data["name"],
            content_type=content_type,
            channel=channel,
            status=data.get("status", DRAFT),
            parent_id=parent_id,
            root_id=root_id,
            version=_millis(now),
            created_on=now,
            last_updated_on=now,
        )
        session.add(content)
    return {"identifier": identifier, "node_id": identifier, "versionKey": str(content.version)}


async def read_content(db: Database, content_id: str, channel: str | None) -> dict[str, Any]:
    async with db.session() as session:
        content = await _content(session, content_id)
        if content is None:
            raise content_not_found(content_id)
        _check_channel(content, channel)
        dialcodes = list(
            await session.scalars(select(Link.dialcode).where(Link.content_id == content_id).order_by(Link.position))
        )
        children = list(
            await session.scalars(
                select(Content.identifier).where(Content.parent_id == content_id).order_by(Content.created_on, Content.identifier)
            )
        )
        reserved = reserved_map(await _reservations(session, content_id))
    return {"content": content_out(content, dialcodes=dialcodes, reserved=reserved, children=children)}


async def update_content(db: Database, now: dt.datetime, content_id: str, channel: str | None, payload: Any) -> dict[str, Any]:
    data = member(payload, "content")
    if not isinstance(data, dict) or not data:
        raise client_error("ERR_REQUEST_BLANK", "Request can not be blank.")
    async with db.transaction() as session:
        content = await _content(session, content_id, lock=True)
        if content is None:
            raise content_not_found(content_id)
        _check_channel(content, channel)
        problems = _content_problems(data, creating=False)
        fixed = sorted(set(data) - UPDATABLE_FIELDS)
        if fixed:
            problems.append("Properties can not be updated: " + ", ".join(fixed))
        if problems:
            raise _validation_failed(problems)
        version_key = data.get("versionKey")
        if version_key is not None and str(version_key) != str(content.version):
            raise client_error("ERR_STALE_VERSION_KEY", "Invalid version Key: the content has changed since it was read.")
        if "name" in data:
            content.name = data["name"]
        if "status" in data:
            content.status = data["status"]
        content.version = _next_version(content.version, now)
        content.last_updated_on = now
    return {"identifier": content_id, "node_id": content_id, "versionKey": str(content.version)}


# ---------------------------------------------------------------- link

def _as_list(value: Any) -> list[str] | None:
    """Sunbird accepts one id or a list; blanks are dropped, order kept, duplicates removed."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _link_requests(payload: Any) -> dict[str, list[str]]:
    """node id -> the codes it will carry (a later entry for a node replaces an earlier one)."""
    items = member(payload, "content")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise client_error("ERR_DIALCODE_LINK_REQUEST", "Invalid Request! Please Provide Valid Request.")
    wanted: dict[str, list[str]] = {}
    for item in items:
        for field in ("identifier", "dialcode"):
            if field not in item:
                raise client_error(
                    "ERR_DIALCODE_CONTENT_LINK_FIELDS_MISSING", f"Required fields for content link dialcode are missing: {field}"
                )
        contents, codes = _as_list(item["identifier"]), _as_list(item["dialcode"])
        if not contents or codes is None:
            raise client_error("ERR_DIALCODE_LINK_REQUEST", "Invalid Request! Please Provide Required Properties In Request.")
        if len(contents) > LINK_MAX or len(codes) > LINK_MAX:
            raise client_error("ERR_DIALCODE_LINK_REQUEST", f"Max Limit For Link Content To DIAL Code In A Request Is {LINK_MAX}")
        for content_id in contents:
            wanted[content_id] = codes
    return wanted


async def link(db: Database, now: dt.datetime, channel: str | None, payload: Any) -> dict[str, Any]:
    """Set each node's `dialcodes`; every code must be reserved on the node's textbook."""
    wanted = _link_requests(payload)
    all_codes = sorted({code for codes in wanted.values() for code in codes})
    async with db.transaction() as session:
        known = set(await session.scalars(select(DialCode.identifier).where(DialCode.identifier.in_(all_codes))))
        missing_codes = [c for c in all_codes if c not in known]
        if missing_codes:
            raise NotFound(f"DIAL Code Not Found With Id(s): {missing_codes}", code="ERR_DIALCODE_LINK")
        nodes = {c.identifier: c for c in await session.scalars(select(Content).where(Content.identifier.in_(list(wanted))))}
        missing_nodes = [n for n in wanted if n not in nodes]
        if missing_nodes:
            raise NotFound(f"Content Not Found With Id(s): {missing_nodes}", code="ERR_DIALCODE_LINK")
        if any(node.channel != channel for node in nodes.values()) or not channel:
            raise client_error(*INVALID_CHANNEL)
        retired = sorted(n for n, node in nodes.items() if node.status == RETIRED)
        if retired:
            raise client_error("ERR_CONTENT_RETIRED_OBJECT_ID", f"Invalid Request. Cannot update 'Retired' content: {retired}")

        roots = sorted({node.root_id for node in nodes.values()})
        # Lock the textbooks in one fixed order, so two links over the same books cannot deadlock.
        await session.execute(
            select(Content.identifier).where(Content.identifier.in_(roots)).order_by(Content.identifier).with_for_update()
        )
        rows = await session.execute(
            select(Reservation.content_id, Reservation.dialcode).where(Reservation.content_id.in_(roots))
        )
        reserved_on: dict[str, set[str]] = {}
        for root_id, code in rows:
            reserved_on.setdefault(root_id, set()).add(code)
        for node_id, codes in wanted.items():
            root_id = nodes[node_id].root_id
            stray = [c for c in codes if c not in reserved_on.get(root_id, set())]
            if stray:
                raise client_error(
                    "ERR_DIALCODE_LINK_REQUEST",
                    f"DIAL Code(s) {stray} are not reserved on the textbook {root_id} that content {node_id} belongs to.",
                )

        await session.execute(delete(Link).where(Link.content_id.in_(list(wanted))))
        links = [
            {"content_id": node_id, "dialcode": code, "position": position}
            for node_id, codes in wanted.items()
            for position, code in enumerate(codes)
        ]
        if links:
            await session.execute(insert(Link), links)
        for node in nodes.values():
            node.version = _next_version(node.version, now)
            node.last_updated_on = now
    return {"node_id": list(wanted), "versionKey": {n: str(nodes[n].version) for n in wanted}}


# ---------------------------------------------------------------- reserve / release

async def reserve(db: Database, now: dt.datetime, content_id: str, channel: str | None, payload: Any) -> dict[str, Any]:
    """POST /content/v3/dialcode/reserve/{id}: checks in the contract's order, then top up."""
    request = member(payload, "dialcodes")
    if not isinstance(request, dict) or not request:
        raise client_error("ERR_REQUEST_BLANK", "Request can not be blank.")
    async with db.transaction() as session:
        content = await _content(session, content_id, lock=True)
        if content is None:
            raise content_not_found(content_id)
        if content.content_type != TEXTBOOK:
            raise client_error(*INVALID_CONTENT_TYPE)
        _check_channel(content, channel)
        if content.status == RETIRED:
            raise client_error("ERR_CONTENT_RETIRED_OBJECT_ID", "Invalid Request. Cannot update 'Retired' content.")
        count = request.get("count")
        if not is_integer(count):
            raise client_error(*INVALID_RESERVE_COUNT)
        if count < 1 or count > RESERVE_MAX:
            raise client_error(
                "ERR_INVALID_COUNT_RANGE", f"Invalid dialcode count range. It should be between 1 to {RESERVE_MAX}."
            )
        publisher_id = request.get("publisher")
        if not is_text(publisher_id, ID_MAX) or await session.get(Publisher, publisher_id) is None:
            raise client_error(*INVALID_PUBLISHER)
        reserved = await _reservations(session, content_id)
        if count <= len(reserved):
            raise client_error(
                "ERR_INVALID_COUNT",
                "No new DIAL Codes have been generated, as requested count is less or equal to existing reserved dialcode count.",
                count=len(reserved),
                node_id=content_id,
                reservedDialcodes=reserved_map(reserved),
            )
        pairs = await allocate_codes(
            session, count=count - len(reserved), channel=content.channel, publisher=publisher_id, batchcode=content_id, now=now
        )
        next_index = max((index for _, index in reserved), default=-1) + 1
        added = [(code, next_index + offset) for offset, (_, code) in enumerate(pairs)]
        await session.execute(
            insert(Reservation),
            [{"dialcode": code, "content_id": content_id, "reserved_index": index} for code, index in added],
        )
        content.version = _next_version(content.version, now)
        content.last_updated_on = now
    return {
        "count": len(reserved) + len(added),
        "node_id": content_id,
        "reservedDialcodes": reserved_map([*reserved, *added]),
        "versionKey": str(content.version),
    }


def _release_count(payload: Any, unused: int) -> int:
    request = member(payload, "dialcodes")
    if request is None:
        return unused
    if not isinstance(request, dict):
        raise client_error(*INVALID_RESERVE_COUNT)
    count = request.get("count")
    if count is None:
        return unused
    if not is_integer(count) or count < 1:
        raise client_error(*INVALID_RESERVE_COUNT)
    if count > unused:
        raise client_error(
            "ERR_COUNT_GREATER_THAN_RESERVED_DIAL_CODES",
            f"Count can not be greater than the number of unused reserved DIAL codes ({unused}).",
        )
    return count


def _highest_first(pairs: Iterable[tuple[str, int]]) -> Sequence[tuple[str, int]]:
    return sorted(pairs, key=lambda pair: pair[1], reverse=True)


async def release(db: Database, now: dt.datetime, content_id: str, channel: str | None, payload: Any) -> dict[str, Any]:
    """PATCH /content/v3/dialcode/release/{id}: drop unused codes, highest index first."""
    async with db.transaction() as session:
        content = await _content(session, content_id, lock=True)
        if content is None:
            raise content_not_found(content_id)
        if content.content_type not in RELEASABLE_TYPES:
            raise client_error(*INVALID_CONTENT_TYPE)
        _check_channel(content, channel)
        reserved = await _reservations(session, content_id)
        if not reserved:
            raise client_error(
                "ERR_CONTENT_MISSING_RESERVED_DIAL_CODES", "Invalid Request. Content does not have reserved DIAL codes."
            )
        used = await _used_codes(session, content_id)
        unused = [pair for pair in reserved if pair[0] not in used]
        if not unused:
            raise client_error("ERR_ALL_DIALCODES_UTILIZED", "Error! All Reserved DIAL Codes are Utilized.")
        count = _release_count(payload, len(unused))
        released = [code for code, _ in _highest_first(unused)[:count]]
        await session.execute(
            delete(Reservation).where(Reservation.content_id == content_id, Reservation.dialcode.in_(released))
        )
        content.version = _next_version(content.version, now)
        content.last_updated_on = now
    gone = set(released)
    return {
        "node_id": content_id,
        "count": len(released),
        "releasedDialcodes": released,
        "reservedDialcodes": reserved_map(pair for pair in reserved if pair[0] not in gone),
        "versionKey": str(content.version),
    }
