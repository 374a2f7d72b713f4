"""User business routes (tutorhub-auth §4.1): register, create, list, search, get, update, delete, profile, brief."""

from __future__ import annotations

import asyncio
import uuid

from auth_support import (
    USER_FIELDS,
    assert_error,
    assert_no_secrets,
    client_with_events,
    login,
    token_works,
)
from sqlalchemy import func, select

from core.auth.models import User
from core.keys import DB

NEW_USER = {"email": "New.Person@Example.com", "password": "long-enough-pw", "fullname": "  New Person  "}


async def user_count(client) -> int:
    async with client.app[DB].session() as session:
        return await session.scalar(select(func.count()).select_from(User))


async def test_register_creates_a_student_in_the_envelope(kit):
    client, events = await client_with_events(kit)
    body = {**NEW_USER, "bio": "Hi", "roleId": "superAdmin", "applicationReviewNote": "approve me", "accountStatus": "banned"}
    resp = await client.post("/v1/registeruser", json=body)
    text = await resp.text()
    assert resp.status == 201, text
    assert_no_secrets(text)
    envelope = await resp.json()
    assert envelope["status"] == "OK" and envelope["statusCode"] == 201 and envelope["dataName"] == "user"
    assert envelope["action"] == "create" and envelope["method"] == "POST" and envelope["rowCount"] == 1
    user = envelope["user"]
    assert list(user) == USER_FIELDS
    assert user["email"] == "new.person@example.com" and user["fullname"] == "New Person" and user["bio"] == "Hi"
    assert user["roleId"] == "student" and user["applicationReviewNote"] is None
    assert user["accountStatus"] == "active" and user["accountStatus_idx"] == 0
    assert user["tutorApplicationStatus"] == "none" and user["tutorApplicationStatus_idx"] == 0
    assert user["emailVerified"] is False and user["isActive"] is True and user["recordVersion"] == 1
    assert user["avatar"].startswith("https://") and user["_owner"] == user["id"]
    assert user["createdAt"].endswith("Z")
    assert events.named("user.created") == [{"userId": user["id"], "roleId": "student", "actorId": None}]
    # Not logged in automatically, but the account can log in.
    assert "Set-Cookie" not in resp.headers
    assert (await login(client, NEW_USER["email"], NEW_USER["password"])).status == 200

    resp = await client.post("/v1/registeruser", json={**NEW_USER, "email": "NEW.person@example.com"})
    await assert_error(resp, 400, "errMsg_UserEmailAlreadyExists")


async def test_register_rejects_bad_bodies_without_creating_anything(kit):
    client = await kit.client()
    cases = [
        ({"email": "a@example.com", "password": "long-enough-pw"}, "errMsg_Invalid", "fullname"),
        ({**NEW_USER, "email": "not-an-email"}, "errMsg_Invalid", "email"),
        ({**NEW_USER, "fullname": "   "}, "errMsg_Invalid", "fullname"),
        ({**NEW_USER, "password": "short"}, "errMsg_PasswordTooShort", None),
        ({**NEW_USER, "bio": 12}, "errMsg_Invalid", "bio"),
    ]
    for body, key, field in cases:
        error = await assert_error(await client.post("/v1/registeruser", json=body), 400, key)
        if field:
            assert field in error["detail"]["errors"], error
    await assert_error(await client.post("/v1/registeruser", data=b"[1, 2]"), 400, "errMsg_InvalidJson")
    assert await user_count(client) == 0


async def test_simultaneous_registrations_of_one_email_create_one_user(kit):
    client = await kit.client()
    responses = await asyncio.gather(*(
        client.post("/v1/registeruser", json={**NEW_USER, "email": f"{case}@example.com"})
        for case in ("twin", "TWIN", "Twin")
    ))
    assert sorted(r.status for r in responses) == [201, 400, 400]
    assert await user_count(client) == 1


async def test_admin_creates_users(kit):
    client, events = await client_with_events(kit)
    admin = await kit.user(client, "admin")
    student = await kit.user(client, "student")
    body = {**NEW_USER, "applicationReviewNote": "seen", "avatar": "https://cdn.example.com/a.png"}

    resp = await client.post("/v1/users", json=body, headers=admin.headers)
    assert resp.status == 201, await resp.text()
    user = (await resp.json())["user"]
    assert user["roleId"] == "student" and user["applicationReviewNote"] == "seen"
    assert user["avatar"] == "https://cdn.example.com/a.png"
    assert events.named("user.created")[-1]["actorId"] == admin.id

    before = await user_count(client)
    await assert_error(await client.post("/v1/users", json={**body, "email": "x@example.com"}, headers=student.headers),
                       403, "errMsg_PermissionDenied")
    await assert_error(await client.post("/v1/users", json={**body, "email": "y@example.com"}), 401, "errMsg_NotAuthenticated")
    error = await assert_error(
        await client.post("/v1/users", json={**body, "email": "z@example.com", "roleId": "admin"}, headers=admin.headers),
        400, "errMsg_Invalid",
    )
    assert "roleId" in error["detail"]["errors"]
    await assert_error(await client.post("/v1/users", json=body, headers=admin.headers), 400, "errMsg_UserEmailAlreadyExists")
    assert await user_count(client) == before


async def test_list_users_pages_and_filters(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin", email="boss@corp.example.com", fullname="Big Boss")
    await kit.user(client, "tutor", email="tina@school.example.com", fullname="Tina Tutor")
    await kit.user(client, "student", email="sam@school.example.com", fullname="Sam Student")
    gone = await kit.user(client, "student", email="gone@school.example.com", fullname="Gone Student")
    assert (await client.delete(f"/v1/archiveprofile/{gone.id}", headers=gone.headers)).status == 200

    async def emails(params):
        resp = await client.get("/v1/users", params=params, headers=admin.headers)
        text = await resp.text()
        assert resp.status == 200, text
        assert_no_secrets(text)
        return [u["email"] for u in (await resp.json())["users"]]

    assert await emails({}) == ["boss@corp.example.com", "tina@school.example.com", "sam@school.example.com"]
    assert await emails({"email": "SCHOOL"}) == ["tina@school.example.com", "sam@school.example.com"]
    assert await emails([("fullname", "tina"), ("fullname", "boss")]) == ["boss@corp.example.com", "tina@school.example.com"]
    assert await emails({"roleId": "tut"}) == ["tina@school.example.com"]
    assert await emails({"email": "school", "roleId": "student"}) == ["sam@school.example.com"]
    assert await emails({"fullname": "null"}) == []
    assert await emails({"email": "%"}) == []

    resp = await client.get("/v1/users", params={"pageNumber": "2", "pageRowCount": "2"}, headers=admin.headers)
    body = await resp.json()
    assert body["dataName"] == "users" and body["action"] == "list" and body["rowCount"] == 1
    assert [u["email"] for u in body["users"]] == ["sam@school.example.com"]
    assert body["paging"] == {"pageNumber": 2, "pageRowCount": 2, "totalRowCount": 3, "pageCount": 2}
    assert list(body["users"][0]) == USER_FIELDS
    resp = await client.get("/v1/users", params={"pageNumber": "0", "pageRowCount": "1"}, headers=admin.headers)
    assert len((await resp.json())["users"]) == 3

    for params in ({"pageNumber": "-1"}, {"pageRowCount": "0"}, {"pageNumber": "two"}):
        await assert_error(await client.get("/v1/users", params=params, headers=admin.headers), 400, "errMsg_Invalid")


async def test_list_and_search_are_admin_only(kit):
    client = await kit.client()
    tutor = await kit.user(client, "tutor")
    for path in ("/v1/users", "/v1/searchusers?keyword=a"):
        await assert_error(await client.get(path, headers=tutor.headers), 403, "errMsg_PermissionDenied")
        await assert_error(await client.get(path), 401, "errMsg_NotAuthenticated")


async def test_search_users_by_keyword(kit):
    client = await kit.client()
    admin = await kit.user(client, "superAdmin", email="root@corp.example.com", fullname="Root")
    await kit.user(client, "tutor", email="ann@example.com", fullname="Ann Smith")
    await kit.user(client, "student", email="smithy@example.com", fullname="Bo")

    async def found(params):
        resp = await client.get("/v1/searchusers", params=params, headers=admin.headers)
        assert resp.status == 200, await resp.text()
        return [u["email"] for u in (await resp.json())["users"]]

    assert await found({"keyword": "SMITH"}) == ["ann@example.com", "smithy@example.com"]
    assert await found({"keyword": "smith", "roleId": "student"}) == ["smithy@example.com"]
    assert await found({"keyword": "corp"}) == ["root@corp.example.com"]
    for params in ({}, {"keyword": "  "}):
        await assert_error(await client.get("/v1/searchusers", params=params, headers=admin.headers),
                           400, "errMsg_keywordIsRequired")


async def test_get_user_self_or_admin(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    alice = await kit.user(client, "student")
    bob = await kit.user(client, "tutor")

    for who in (alice, admin):
        resp = await client.get(f"/v1/users/{alice.id}", headers=who.headers)
        text = await resp.text()
        assert resp.status == 200 and (await resp.json())["user"]["id"] == alice.id, text
        assert_no_secrets(text)
    # Someone else's id is 403 whether or not it exists, so ids cannot be probed.
    await assert_error(await client.get(f"/v1/users/{alice.id}", headers=bob.headers), 403, "errMsg_PermissionDenied")
    await assert_error(await client.get(f"/v1/users/{uuid.uuid4()}", headers=bob.headers), 403, "errMsg_PermissionDenied")
    await assert_error(await client.get(f"/v1/users/{uuid.uuid4()}", headers=admin.headers), 404, "errMsg_UserNotFound")
    await assert_error(await client.get("/v1/users/42", headers=admin.headers), 400, "errMsg_userIdisNotAValidID")
    await assert_error(await client.get(f"/v1/users/{alice.id}"), 401, "errMsg_NotAuthenticated")


async def test_admin_updates_a_user(kit):
    client, events = await client_with_events(kit)
    admin = await kit.user(client, "admin")
    alice = await kit.user(client, "student")
    before = (await (await client.get(f"/v1/users/{alice.id}", headers=admin.headers)).json())["user"]
    kit.clock.advance(minutes=5)

    changes = {"fullname": "Alice A.", "bio": "Math", "tutorApplicationStatus": "pending", "applicationReviewNote": "ok",
               "unknownField": "ignored"}
    resp = await client.patch(f"/v1/users/{alice.id}", json=changes, headers=admin.headers)
    body = await resp.json()
    assert resp.status == 200 and body["action"] == "update", body
    user = body["user"]
    assert user["fullname"] == "Alice A." and user["bio"] == "Math" and user["applicationReviewNote"] == "ok"
    assert user["tutorApplicationStatus"] == "pending" and user["tutorApplicationStatus_idx"] == 1
    assert user["recordVersion"] == before["recordVersion"] + 1 and user["updatedAt"] > before["updatedAt"]
    assert events.named("user.status_changed") == []
    # The same values again change nothing.
    resp = await client.patch(f"/v1/users/{alice.id}", json={"bio": "Math"}, headers=admin.headers)
    assert (await resp.json())["user"]["recordVersion"] == user["recordVersion"]

    for bad in ({"accountStatus": "deleted"}, {"tutorApplicationStatus": "maybe"}, {"fullname": ""},
                {"email": "new@example.com"}, {"password": "new-password-1"}, {"roleId": "admin"}, {"emailVerified": True}):
        error = await assert_error(await client.patch(f"/v1/users/{alice.id}", json=bad, headers=admin.headers),
                                   400, "errMsg_Invalid")
        assert set(error["detail"]["errors"]) == set(bad), error
    after = (await (await client.get(f"/v1/users/{alice.id}", headers=admin.headers)).json())["user"]
    assert after == user
    await assert_error(await client.patch(f"/v1/users/{alice.id}", json={"bio": "x"}, headers=alice.headers),
                       403, "errMsg_PermissionDenied")
    await assert_error(await client.patch("/v1/users/nope", json={"bio": "x"}, headers=admin.headers),
                       400, "errMsg_userIdisNotAValidID")
    await assert_error(await client.patch(f"/v1/users/{uuid.uuid4()}", json={"bio": "x"}, headers=admin.headers),
                       404, "errMsg_UserNotFound")


async def test_admins_cannot_edit_admins_but_super_admins_can(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    other_admin = await kit.user(client, "admin")
    root = await kit.user(client, "superAdmin")
    for target in (other_admin, root):
        await assert_error(await client.patch(f"/v1/users/{target.id}", json={"bio": "x"}, headers=admin.headers),
                           403, "errMsg_OnlySuperAdminCanManageAdmins")
    resp = await client.patch(f"/v1/users/{other_admin.id}", json={"bio": "by root"}, headers=root.headers)
    assert resp.status == 200 and (await resp.json())["user"]["bio"] == "by root"
    # An admin may edit their own profile fields, but not their own status.
    assert (await client.patch(f"/v1/users/{admin.id}", json={"bio": "me"}, headers=admin.headers)).status == 200
    await assert_error(await client.patch(f"/v1/users/{admin.id}", json={"accountStatus": "banned"}, headers=admin.headers),
                       403, "errMsg_CannotChangeOwnStatus")


async def test_suspension_revokes_access_at_once_and_emits_an_event(kit):
    client, events = await client_with_events(kit)
    admin = await kit.user(client, "superAdmin")
    tutor = await kit.user(client, "tutor")
    other_admin = await kit.user(client, "admin")
    token = await kit.api_token(client, other_admin)
    session = (await (await login(client, tutor.email, tutor.password)).json())["accessToken"]

    resp = await client.patch(f"/v1/users/{tutor.id}", json={"accountStatus": "suspended"}, headers=admin.headers)
    user = (await resp.json())["user"]
    assert user["accountStatus"] == "suspended" and user["accountStatus_idx"] == 1
    assert not await token_works(client, tutor.token) and not await token_works(client, session)
    await assert_error(await login(client, tutor.email, tutor.password), 403, "errMsg_AccountSuspended")
    assert events.named("user.status_changed") == [
        {"userId": tutor.id, "oldStatus": "active", "newStatus": "suspended", "actorId": admin.id}
    ]

    # Lifting it lets the user log in again (old sessions stay revoked).
    resp = await client.patch(f"/v1/users/{tutor.id}", json={"accountStatus": "active"}, headers=admin.headers)
    assert resp.status == 200
    assert (await login(client, tutor.email, tutor.password)).status == 200
    assert not await token_works(client, tutor.token)
    assert events.named("user.status_changed")[-1]["newStatus"] == "active"

    # Banning an admin also revokes their API tokens for good.
    assert (await client.get("/v1/users", headers={"apiToken": token})).status == 200
    await client.patch(f"/v1/users/{other_admin.id}", json={"accountStatus": "banned"}, headers=admin.headers)
    await client.patch(f"/v1/users/{other_admin.id}", json={"accountStatus": "active"}, headers=admin.headers)
    await assert_error(await client.get("/v1/users", headers={"apiToken": token}), 401, "errMsg_NotAuthenticated")


async def test_simultaneous_admin_updates_both_apply(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    root = await kit.user(client, "superAdmin")
    alice = await kit.user(client, "student")
    bodies = [({"bio": "from admin"}, admin), ({"qualifications": "from root"}, root), ({"specializations": "x"}, admin)]
    responses = await asyncio.gather(*(
        client.patch(f"/v1/users/{alice.id}", json=body, headers=who.headers) for body, who in bodies
    ))
    assert [r.status for r in responses] == [200, 200, 200]
    user = (await (await client.get(f"/v1/users/{alice.id}", headers=admin.headers)).json())["user"]
    assert (user["bio"], user["qualifications"], user["specializations"]) == ("from admin", "from root", "x")
    assert user["recordVersion"] == 4


async def test_admin_deletes_users(kit):
    client, events = await client_with_events(kit)
    admin = await kit.user(client, "admin")
    other_admin = await kit.user(client, "admin")
    alice = await kit.user(client, "student")

    resp = await client.delete(f"/v1/users/{alice.id}", headers=admin.headers)
    body = await resp.json()
    assert resp.status == 200 and body["action"] == "delete" and body["user"]["isActive"] is False
    assert not await token_works(client, alice.token)
    await assert_error(await login(client, alice.email, alice.password), 401, "errMsg_UserIsNotActive")
    await assert_error(await client.get(f"/v1/users/{alice.id}", headers=admin.headers), 404, "errMsg_UserNotFound")
    await assert_error(await client.delete(f"/v1/users/{alice.id}", headers=admin.headers), 404, "errMsg_UserNotFound")
    assert events.named("user.deleted") == [{"userId": alice.id, "actorId": admin.id, "archived": False}]

    await assert_error(await client.delete(f"/v1/users/{other_admin.id}", headers=admin.headers),
                       403, "errMsg_OnlySuperAdminCanManageAdmins")
    await assert_error(await client.delete(f"/v1/users/{admin.id}", headers=admin.headers),
                       403, "errMsg_CannotDeleteYourself")
    bob = await kit.user(client, "student")
    await assert_error(await client.delete(f"/v1/users/{admin.id}", headers=bob.headers), 403, "errMsg_PermissionDenied")
    await assert_error(await client.delete("/v1/users/xyz", headers=admin.headers), 400, "errMsg_userIdisNotAValidID")


async def test_users_update_their_own_profile_only(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    alice = await kit.user(client, "student")
    bob = await kit.user(client, "student")

    changes = {"fullname": "Alice B", "avatar": None, "certifications": "TEFL", "applicationDocuments": "https://d/1"}
    resp = await client.patch(f"/v1/profile/{alice.id}", json=changes, headers=alice.headers)
    text = await resp.text()
    assert resp.status == 200, text
    assert_no_secrets(text)
    user = (await resp.json())["user"]
    assert (user["fullname"], user["avatar"], user["certifications"], user["applicationDocuments"]) == (
        "Alice B", None, "TEFL", "https://d/1")
    assert user["recordVersion"] == 2

    for field, value in (("accountStatus", "active"), ("tutorApplicationStatus", "approved"),
                         ("applicationReviewNote", "self-approved"), ("roleId", "admin"), ("email", "a@b.example")):
        error = await assert_error(
            await client.patch(f"/v1/profile/{alice.id}", json={"bio": "sneaky", field: value}, headers=alice.headers),
            400, "errMsg_Invalid",
        )
        assert list(error["detail"]["errors"]) == [field]
    after = (await (await client.get(f"/v1/users/{alice.id}", headers=alice.headers)).json())["user"]
    assert after["bio"] is None and after["recordVersion"] == 2

    for who in (bob, admin):
        await assert_error(await client.patch(f"/v1/profile/{alice.id}", json={"bio": "x"}, headers=who.headers),
                           403, "errMsg_PermissionDenied")
    await assert_error(await client.patch("/v1/profile/1", json={"bio": "x"}, headers=alice.headers),
                       400, "errMsg_userIdisNotAValidID")


async def test_archive_own_profile(kit):
    client, events = await client_with_events(kit)
    alice = await kit.user(client, "student")
    bob = await kit.user(client, "student")
    root = await kit.user(client, "superAdmin")

    await assert_error(await client.delete(f"/v1/archiveprofile/{alice.id}", headers=bob.headers), 403, "errMsg_PermissionDenied")
    resp = await client.delete(f"/v1/archiveprofile/{alice.id}", headers=alice.headers)
    body = await resp.json()
    assert resp.status == 200 and body["action"] == "delete" and body["user"]["isActive"] is False
    assert not await token_works(client, alice.token)
    assert events.named("user.deleted") == [{"userId": alice.id, "actorId": alice.id, "archived": True}]
    # The last superAdmin stays.
    await assert_error(await client.delete(f"/v1/archiveprofile/{root.id}", headers=root.headers), 403, "errMsg_LastSuperAdmin")
    assert await token_works(client, root.token)


async def test_two_super_admins_leaving_at_once_leave_one(kit):
    client = await kit.client()
    roots = [await kit.user(client, "superAdmin") for _ in range(2)]
    responses = await asyncio.gather(*(
        client.delete(f"/v1/archiveprofile/{root.id}", headers=root.headers) for root in roots
    ))
    assert sorted(r.status for r in responses) == [200, 403]
    async with client.app[DB].session() as session:
        active = await session.scalar(
            select(func.count()).select_from(User).where(User.role_id == "superAdmin", User.is_active.is_(True))
        )
    assert active == 1


async def test_brief_user_is_public_and_minimal(kit):
    client = await kit.client()
    alice = await kit.user(client, "tutor", fullname="Alice T")
    resp = await client.get(f"/v1/briefuser/{alice.id}")
    body = await resp.json()
    assert resp.status == 200 and body["dataName"] == "user" and body["action"] == "get"
    assert list(body["user"]) == ["id", "fullname", "avatar", "isActive"]
    assert body["user"]["id"] == alice.id and body["user"]["fullname"] == "Alice T" and body["user"]["isActive"] is True
    assert alice.email not in await resp.text()
    await assert_error(await client.get("/v1/briefuser/not-a-uuid"), 400, "errMsg_userIdisNotAValidID")
    await assert_error(await client.get(f"/v1/briefuser/{uuid.uuid4()}"), 404, "errMsg_UserNotFound")
