"""Response envelope styles.

The seeds speak four wire conventions. Each is implemented once here as a named
style; a route picks one in its policy and every response of that route (its
successes through the helpers below, its errors through the error middleware)
comes out in that style. Third-party plugins add styles with the
`register_envelopes` hook.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import uuid
from typing import Any, Mapping, Sequence

from aiohttp import web

from .errors import ApiError
from .jsonutil import json_response, utc_iso
from .keys import IDENTITY, POLICY, REQUEST_ID, REQUEST_START, SETTINGS, SUNBIRD_MSGID


class EnvelopeStyle:
    """Renders errors for one wire convention. Subclasses add success helpers."""

    name: str = ""

    def error(self, request: web.Request, err: ApiError) -> web.Response:
        raise NotImplementedError

    def _respond(self, err: ApiError, body: Any) -> web.Response:
        return json_response(body, status=err.status, headers=err.headers or None)


def _camel(code: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\W]+", code) if part)


class TutorhubStyle(EnvelopeStyle):
    """TutorHub: `{"status":"OK", "dataName":..., <dataName>: ...}`; errors `result: ERR`."""

    name = "tutorhub"
    app_version = "1.0.0"

    @staticmethod
    def message_key(code: str) -> str:
        return code if code.startswith("errMsg_") else "errMsg_" + _camel(code)

    def error(self, request: web.Request, err: ApiError) -> web.Response:
        detail = err.message if err.detail is None else {"message": err.message, "errors": err.detail}
        body = {
            "result": "ERR",
            "status": err.status,
            "message": self.message_key(err.code),
            "errCode": err.status,
            "date": utc_iso(dt.datetime.now(dt.timezone.utc)),
            "detail": detail,
        }
        return self._respond(err, body)

    def _base(self, request: web.Request, status: int, data_name: str, action: str) -> dict[str, Any]:
        identity = request.get(IDENTITY)
        started = request.get(REQUEST_START, time.perf_counter())
        return {
            "status": "OK",
            "statusCode": status,
            "elapsedMs": round((time.perf_counter() - started) * 1000),
            "ssoTime": 0,
            "source": "db",
            "cacheKey": None,
            "userId": identity.user_id if identity else None,
            "sessionId": identity.session_id if identity else None,
            "requestId": request.get(REQUEST_ID),
            "dataName": data_name,
            "method": request.method,
            "action": action,
            "appVersion": self.app_version,
        }

    def ok(
        self,
        request: web.Request,
        data_name: str,
        payload: Mapping[str, Any],
        *,
        action: str,
        status: int = 200,
    ) -> web.Response:
        body = self._base(request, status, data_name, action)
        body["rowCount"] = 1
        body[data_name] = payload
        return json_response(body, status=status)

    def page(
        self,
        request: web.Request,
        data_name: str,
        items: Sequence[Any],
        *,
        page_number: int,
        page_row_count: int,
        total: int,
    ) -> web.Response:
        body = self._base(request, 200, data_name, "list")
        body["rowCount"] = len(items)
        body[data_name] = items
        body["paging"] = {
            "pageNumber": page_number,
            "pageRowCount": page_row_count,
            "totalRowCount": total,
            "pageCount": math.ceil(total / page_row_count) if page_row_count and page_number else 1,
        }
        body["filters"] = []
        body["uiPermissions"] = []
        return json_response(body)


class DrfStyle(EnvelopeStyle):
    """Django REST framework: bare objects, `{count,next,previous,results}` pages."""

    name = "drf"

    def error(self, request: web.Request, err: ApiError) -> web.Response:
        body: dict[str, Any] = {"detail": err.message, "code": err.code}
        if err.detail is not None:
            body["errors"] = err.detail
        return self._respond(err, body)

    def page(
        self, request: web.Request, items: Sequence[Any], *, page: int, page_size: int, total: int
    ) -> web.Response:
        settings = request.app.get(SETTINGS)
        base_url = settings.server.base_url.rstrip("/") if settings is not None else ""

        def link(number: int) -> str:
            query = dict(request.query)
            query["page"] = str(number)
            query["page_size"] = str(page_size)
            if base_url:  # the public address, not the one behind the proxy
                return base_url + str(request.rel_url.with_query(query))
            return str(request.url.with_query(query))

        last = max(1, math.ceil(total / page_size))
        return json_response(
            {
                "count": total,
                "next": link(page + 1) if page < last else None,
                "previous": link(page - 1) if page > 1 and total else None,
                "results": items,
            }
        )


class MaestroStyle(EnvelopeStyle):
    """MaestroQA: bare JSON bodies; errors `{"error": "..."}`."""

    name = "maestro"

    def error(self, request: web.Request, err: ApiError) -> web.Response:
        return self._respond(err, {"error": err.message})


class SunbirdStyle(EnvelopeStyle):
    """Sunbird / EkStep: `{id, ver, ts, params, responseCode, result}`."""

    name = "sunbird"
    RESPONSE_CODES = {
        200: "OK",
        201: "OK",
        207: "PARTIAL_SUCCESS",
        400: "CLIENT_ERROR",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "RESOURCE_NOT_FOUND",
        429: "TOO_MANY_REQUESTS",
        500: "SERVER_ERROR",
    }

    @staticmethod
    def timestamp(now: dt.datetime | None = None) -> str:
        """`yyyy-MM-dd'T'HH:mm:ss'Z'XXX`: a literal Z, then the offset, as Sunbird prints it."""
        now = now or dt.datetime.now(dt.timezone.utc)
        return now.strftime("%Y-%m-%dT%H:%M:%SZ+00:00")

    def response_code(self, status: int) -> str:
        if status in self.RESPONSE_CODES:
            return self.RESPONSE_CODES[status]
        return "CLIENT_ERROR" if status < 500 else "SERVER_ERROR"

    def _body(self, request: web.Request, status: int, result: Any, err: str | None, errmsg: str | None) -> dict:
        policy = request.get(POLICY)
        return {
            "id": (policy.api_id if policy and policy.api_id else "api.error"),
            "ver": "3.0",
            "ts": self.timestamp(),
            "params": {
                "resmsgid": str(uuid.uuid4()),
                "msgid": request.get(SUNBIRD_MSGID),
                "status": "failed" if err else "successful",
                "err": err,
                "errmsg": errmsg,
            },
            "responseCode": self.response_code(status),
            "result": result,
        }

    def error(self, request: web.Request, err: ApiError) -> web.Response:
        return self._respond(err, self._body(request, err.status, err.extra, err.code, err.message))

    def ok(self, request: web.Request, result: Any, *, status: int = 200) -> web.Response:
        return json_response(self._body(request, status, result, None, None), status=status)


tutorhub = TutorhubStyle()
drf = DrfStyle()
maestro = MaestroStyle()
sunbird = SunbirdStyle()

BUILTIN_STYLES: dict[str, EnvelopeStyle] = {s.name: s for s in (tutorhub, drf, maestro, sunbird)}
