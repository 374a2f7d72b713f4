"""Logging with the request id on every line, and one access line per request."""

from __future__ import annotations

import contextvars
import logging
import sys

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .keys import IDENTITY, REQUEST_ID

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class AccessLogger(AbstractAccessLogger):
    """`GET /qna/pending/ 200 1234B 3.2ms rid=... user=...`; never the query string's tokens."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        identity = request.get(IDENTITY)
        self.logger.info(
            "%s %s %s %sB %.1fms rid=%s user=%s ip=%s",
            request.method,
            request.path,
            response.status,
            response.body_length,
            time * 1000,
            request.get(REQUEST_ID, "-"),
            identity.user_id if identity else "-",
            request.remote,
        )
