"""The limit to compare with: `GET /qna/pending/` on bare aiohttp + asyncpg.

Same SQL as the QnA plugin (the count, the page with its live orders, the page's tags)
and the same JSON shape, but no framework: no auth, envelope, policy, rate limit or
plugin layers, no ORM. Run: python -m benchmarks.baseline DSN PORT [WORKERS]
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sys

import asyncpg
import orjson
from aiohttp import web

POOL = web.AppKey("pool", asyncpg.Pool)

COUNT = "SELECT count(*) FROM qna_questions WHERE answered_at IS NULL"
PAGE = ("SELECT p.*, (SELECT o.expiration FROM qna_orders o WHERE o.qna_id = p.id AND o.status = 'PD' "
        "AND o.expiration > $3) AS live_expiration FROM (SELECT q.id, q.alias, q.q1, q.q2, q.created_at "
        "FROM qna_questions q WHERE q.answered_at IS NULL "
        "ORDER BY q.created_at DESC, q.id DESC LIMIT $1 OFFSET $2) p ORDER BY p.created_at DESC, p.id DESC")
TAGS = ("SELECT t.qna_id, g.id, g.name, g.alias FROM qna_question_tags t JOIN qna_tags g ON g.id = t.tag_id "
        "WHERE t.qna_id = ANY($1::int[]) ORDER BY g.name, g.id")


def _stamp(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


async def pending(request: web.Request) -> web.Response:
    page = int(request.query.get("page", "1"))
    size = min(int(request.query.get("page_size", "20")), 100)
    now = dt.datetime.now(dt.timezone.utc)
    async with request.app[POOL].acquire() as conn:
        total = await conn.fetchval(COUNT)
        rows = await conn.fetch(PAGE, size, (page - 1) * size, now)
        tags: dict[int, list[dict]] = {r["id"]: [] for r in rows}
        for t in await conn.fetch(TAGS, list(tags)):
            tags[t["qna_id"]].append({"id": t["id"], "name": t["name"], "alias": t["alias"]})
    results = [{"id": r["id"], "Q1": r["q1"], "Q2": r["q2"], "alias": r["alias"],
                "created_at": r["created_at"].strftime("%Y-%m-%d"), "tag": tags[r["id"]],
                "accepted_order": r["live_expiration"] is not None, "expiration": _stamp(r["live_expiration"])}
               for r in rows]

    def link(number: int) -> str:
        return str(request.url.with_query({**request.query, "page": str(number), "page_size": str(size)}))

    body = {"count": total, "next": link(page + 1) if page * size < total else None,
            "previous": link(page - 1) if page > 1 else None, "results": results}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def _pool(app: web.Application):
    app[POOL] = await asyncpg.create_pool(app["dsn"], min_size=2, max_size=10)
    yield
    await app[POOL].close()


def make_app(dsn: str) -> web.Application:
    app = web.Application()
    app["dsn"] = dsn
    app.router.add_get("/qna/pending/", pending)
    app.cleanup_ctx.append(_pool)
    return app


def main(dsn: str, port: int) -> None:
    """One worker process; start several on one port (SO_REUSEPORT) to match Mentorkit's workers."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(make_app(dsn), host="127.0.0.1", port=port, reuse_port=True, access_log=None, print=None)


def serve(dsn: str, port: int, workers: int) -> None:
    processes = [multiprocessing.Process(target=main, args=(dsn, port)) for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:
            process.join(timeout=10)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
