"""Errors come out in the envelope style of the route that was hit, never with a traceback."""

import re

import pytest
from fakeplugins import installed

from core.keys import STYLES

STYLES_UNDER_TEST = ("tutorhub", "drf", "maestro", "sunbird")


@pytest.fixture
async def client(kit):
    return await kit.client(["styles"], installed=installed(styles="fakeplugins:Styles"),
                            server={"client_max_size": 1024})


def assert_style(style: str, body: dict, status: int, code: str | None = None) -> None:
    if style == "tutorhub":
        assert body["result"] == "ERR" and body["status"] == status and body["errCode"] == status
        assert body["message"].startswith("errMsg_")
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["date"])
        assert "detail" in body
    elif style == "drf":
        assert set(body) >= {"detail", "code"} and isinstance(body["detail"], str)
        if code:
            assert body["code"] == code
    elif style == "maestro":
        assert list(body) == ["error"] and isinstance(body["error"], str)
    elif style == "sunbird":
        assert body["ver"] == "3.0" and body["params"]["status"] == "failed"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\+00:00$", body["ts"])
        assert body["params"]["err"] and body["params"]["errmsg"]
        expected = {400: "CLIENT_ERROR", 404: "RESOURCE_NOT_FOUND", 500: "SERVER_ERROR"}
        if status in expected:
            assert body["responseCode"] == expected[status]
    else:  # pragma: no cover
        raise AssertionError(style)


@pytest.mark.parametrize("style", STYLES_UNDER_TEST)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500])
async def test_raised_errors_render_in_route_style(client, style, status):
    resp = await client.get(f"/{style}/raise/{status}")
    assert resp.status == status
    body = await resp.json()
    assert_style(style, body, status)
    assert resp.headers["X-Request-Id"]
    assert "Traceback" not in str(body) and "secret internal detail" not in str(body)


@pytest.mark.parametrize("style", STYLES_UNDER_TEST)
async def test_validation_auth_405_and_413_render_in_route_style(client, kit, style):
    resp = await client.post(f"/{style}/body", json={"nom": "x"})
    assert resp.status == 400
    body = await resp.json()
    assert_style(style, body, 400)
    assert "name" in str(body)

    resp = await client.post(f"/{style}/body", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert_style(style, await resp.json(), 400)

    resp = await client.get(f"/{style}/signed-in")
    assert resp.status == 401
    assert_style(style, await resp.json(), 401)

    student = await kit.user(client, "student")
    resp = await client.get(f"/{style}/admins", headers=student.headers)
    assert resp.status == 403
    assert_style(style, await resp.json(), 403)

    resp = await client.get(f"/{style}/signed-in", headers=student.headers)
    assert resp.status == 200 and (await resp.json())["user"] == student.id

    resp = await client.delete(f"/{style}/signed-in")
    assert resp.status == 405
    assert_style(style, await resp.json(), 405)
    assert "GET" in resp.headers["Allow"]

    resp = await client.post(f"/{style}/upload", data=b"x" * 4096)
    assert resp.status == 413
    assert_style(style, await resp.json(), 413)


async def test_unknown_path_is_tutorhub_404(client):
    resp = await client.get("/no/such/path")
    assert resp.status == 404
    assert_style("tutorhub", await resp.json(), 404)


async def test_drf_validation_names_the_field(client):
    resp = await client.post("/drf/body", json={})
    body = await resp.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {"name": ["Missing data for required field."]}
    assert "name" in body["detail"]


async def test_request_id_is_echoed_or_generated(client):
    resp = await client.get("/health", headers={"X-Request-Id": "abcdef123456"})
    assert resp.headers["X-Request-Id"] == "abcdef123456"
    resp = await client.get("/health", headers={"X-Request-Id": "bad id with spaces"})
    assert re.match(r"^[0-9a-f]{32}$", resp.headers["X-Request-Id"])


async def test_unhandled_exception_is_logged_with_request_id(client, caplog):
    resp = await client.get("/maestro/raise/500", headers={"X-Request-Id": "trace-me-123"})
    assert resp.status == 500
    assert await resp.json() == {"error": "Internal server error."}
    records = [r for r in caplog.records if r.name == "mentorkit.errors"]
    assert records and "GET /maestro/raise/500" in records[0].getMessage()
    assert records[0].exc_info is not None


def test_builtin_styles_are_registered(client):
    assert set(STYLES_UNDER_TEST) <= set(client.app[STYLES])
