"""The third-party example plugin, installed through its entry point, tested with the kit."""

from core import hookimpl
from core.keys import PLUGIN_MANAGER


class Recorder:
    """Another plugin implementing the hook the example plugin opened."""

    def __init__(self):
        self.notes = []

    @hookimpl
    def example_note_created(self, app, note):
        self.notes.append(note.text)


async def test_notes_round_trip_and_hook(kit):
    app = kit.app(["example"])
    recorder = Recorder()
    app[PLUGIN_MANAGER].register(recorder)
    client = await kit.aiohttp_client(app)
    alice = await kit.user(client, "student")

    resp = await client.post("/example/notes", json={"text": "remember"}, headers=alice.headers)
    assert resp.status == 201, await resp.text()
    note = await resp.json()
    assert note["text"] == "remember"
    assert recorder.notes == ["remember"]

    resp = await client.get(f"/example/notes/{note['id']}", headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["id"] == note["id"]


async def test_other_users_note_is_not_found(kit):
    client = await kit.client(["example"])
    alice = await kit.user(client, "student")
    bob = await kit.user(client, "student")
    note = await (await client.post("/example/notes", json={"text": "mine"}, headers=alice.headers)).json()
    resp = await client.get(f"/example/notes/{note['id']}", headers=bob.headers)
    assert resp.status == 404
    assert await resp.json() == {"detail": "Not found.", "code": "not_found"}


async def test_permission_config_and_validation(kit):
    client = await kit.client(["example"], example={"max_note_length": 5})
    student = await kit.user(client, "student")
    resp = await client.post("/example/notes", json={"text": "too long"}, headers=student.headers)
    assert resp.status == 400 and (await resp.json())["code"] == "too_long"
    resp = await client.post("/example/notes", json={"text": ""}, headers=student.headers)
    assert resp.status == 400 and (await resp.json())["code"] == "invalid"
    resp = await client.post("/example/notes", json={"text": "hi"})
    assert resp.status == 401


async def test_permission_is_granted_by_role(kit):
    # Only roles granted example.write may post; config can add a role.
    client = await kit.client(["example"], auth={"grants": {}})
    outsider = await kit.user(client, "guest")
    resp = await client.post("/example/notes", json={"text": "hi"}, headers=outsider.headers)
    assert resp.status == 403
    client = await kit.client(["example"], auth={"grants": {"example.write": ["guest"]}})
    resp = await client.post("/example/notes", json={"text": "hi"}, headers=outsider.headers)
    assert resp.status == 201


async def test_health_includes_plugin_check_and_openapi_lists_routes(kit):
    client = await kit.client(["example"])
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok" and health["plugins"] == ["example"]
    assert health["checks"] == {"example": "ok"}
    spec = await (await client.get("/api/docs/swagger.json")).json()
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/example/notes"]["post"]
    assert post["tags"] == ["example"] and post["x-access"] == "permission: example.write"
    assert "requestBody" in post
    page = await client.get("/api/docs")
    assert page.status == 200 and "swagger-ui" in await page.text()
    asset = await client.get("/api/docs/static/swagger-ui.css")
    assert asset.status == 200
    assert (await client.get("/api/docs/static/..%2Fsecret")).status == 404
