"""Roles (U9) and passwords (U10, U11): who may change what, and what happens to sessions."""

from __future__ import annotations

import asyncio
import uuid

from auth_support import (
    assert_error,
    assert_no_secrets,
    client_with_events,
    login,
    token_works,
)
from sqlalchemy import select, update

from core.auth.models import User
from core.keys import DB


async def test_admin_changes_a_students_role(kit):
    client, events = await client_with_events(kit)
    admin = await kit.user(client, "admin")
    alice = await kit.user(client, "student")

    resp = await client.patch(f"/v1/userrole/{alice.id}", json={"roleId": "tutor"}, headers=admin.headers)
    text = await resp.text()
    assert resp.status == 200, text
    assert_no_secrets(text)
    body = await resp.json()
    assert body["action"] == "update" and body["user"]["roleId"] == "tutor" and body["user"]["recordVersion"] == 2
    assert events.named("user.role_changed") == [
        {"userId": alice.id, "oldRoleId": "student", "newRoleId": "tutor", "actorId": admin.id}
    ]
    # Her old session is gone; a new login carries the new role.
    assert not await token_works(client, alice.token)
    session = await (await login(client, alice.email, alice.password)).json()
    assert session["roleId"] == "tutor"
    # The same role again is a no-op: no event, sessions kept.
    resp = await client.patch(f"/v1/userrole/{alice.id}", json={"roleId": "tutor"}, headers=admin.headers)
    assert resp.status == 200 and (await resp.json())["user"]["recordVersion"] == 2
    assert len(events.named("user.role_changed")) == 1 and await token_works(client, session["accessToken"])


async def test_only_super_admins_grant_or_revoke_admin_roles(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    other_admin = await kit.user(client, "admin")
    root = await kit.user(client, "superAdmin")
    alice = await kit.user(client, "student")

    for target, role in ((alice, "admin"), (alice, "superAdmin"), (other_admin, "student"), (root, "tutor")):
        await assert_error(await client.patch(f"/v1/userrole/{target.id}", json={"roleId": role}, headers=admin.headers),
                           403, "errMsg_OnlySuperAdminCanManageAdmins")
    resp = await client.patch(f"/v1/userrole/{alice.id}", json={"roleId": "admin"}, headers=root.headers)
    assert resp.status == 200 and (await resp.json())["user"]["roleId"] == "admin"
    resp = await client.patch(f"/v1/userrole/{other_admin.id}", json={"roleId": "student"}, headers=root.headers)
    assert resp.status == 200 and (await resp.json())["user"]["roleId"] == "student"
    # Demoted: the old admin session no longer works anywhere.
    assert not await token_works(client, other_admin.token)


async def test_role_change_rejections(kit):
    client = await kit.client()
    root = await kit.user(client, "superAdmin")
    admin = await kit.user(client, "admin")
    tutor = await kit.user(client, "tutor")

    for who in (root, admin):
        await assert_error(await client.patch(f"/v1/userrole/{who.id}", json={"roleId": "student"}, headers=who.headers),
                           403, "errMsg_CannotChangeOwnRole")
    for bad in ({"roleId": "user"}, {"roleId": ""}, {}, {"roleId": ["admin"]}):
        error = await assert_error(await client.patch(f"/v1/userrole/{tutor.id}", json=bad, headers=root.headers),
                                   400, "errMsg_Invalid")
        assert "roleId" in error["detail"]["errors"]
    await assert_error(await client.patch(f"/v1/userrole/{admin.id}", json={"roleId": "tutor"}, headers=tutor.headers),
                       403, "errMsg_PermissionDenied")
    await assert_error(await client.patch("/v1/userrole/abc", json={"roleId": "tutor"}, headers=root.headers),
                       400, "errMsg_userIdisNotAValidID")
    await assert_error(await client.patch(f"/v1/userrole/{uuid.uuid4()}", json={"roleId": "tutor"}, headers=root.headers),
                       404, "errMsg_UserNotFound")
    me = await (await client.get(f"/v1/users/{tutor.id}", headers=tutor.headers)).json()
    assert me["user"]["roleId"] == "tutor" and me["user"]["recordVersion"] == 1


async def test_users_change_their_own_password(kit):
    client = await kit.client()
    alice = await kit.user(client, "student")
    other_session = (await (await login(client, alice.email, alice.password)).json())["accessToken"]
    new = "a-brand-new-password"

    body = {"oldPassword": alice.password, "newPassword": new}
    resp = await client.patch(f"/v1/userpassword/{alice.id}", json=body, headers=alice.headers)
    text = await resp.text()
    assert resp.status == 200, text
    assert_no_secrets(text)
    assert (await resp.json())["user"]["recordVersion"] == 2
    # This session stays; the other one is signed out; only the new password works.
    assert await token_works(client, alice.token) and not await token_works(client, other_session)
    await assert_error(await login(client, alice.email, alice.password), 401, "errMsg_InvalidCredentials")
    assert (await login(client, alice.email, new)).status == 200


async def test_own_password_change_rejections(kit):
    client = await kit.client()
    alice = await kit.user(client, "student")
    admin = await kit.user(client, "admin")
    path = f"/v1/userpassword/{alice.id}"

    await assert_error(await client.patch(path, json={"oldPassword": "wrong-password", "newPassword": "another-pw-1"},
                                          headers=alice.headers), 403, "errMsg_OldPasswordDoesNotMatch")
    await assert_error(await client.patch(path, json={"oldPassword": alice.password, "newPassword": "short"},
                                          headers=alice.headers), 400, "errMsg_PasswordTooShort")
    error = await assert_error(await client.patch(path, json={"newPassword": "another-pw-1"}, headers=alice.headers),
                               400, "errMsg_Invalid")
    assert "oldPassword" in error["detail"]["errors"]
    # Even an admin cannot use this route for someone else.
    await assert_error(await client.patch(path, json={"oldPassword": alice.password, "newPassword": "another-pw-1"},
                                          headers=admin.headers), 403, "errMsg_PermissionDenied")
    await assert_error(await client.patch(path, json={"oldPassword": alice.password, "newPassword": "another-pw-1"}),
                       401, "errMsg_NotAuthenticated")
    # Nothing changed.
    assert (await login(client, alice.email, alice.password)).status == 200
    assert await token_works(client, alice.token)


async def test_admins_set_passwords_by_the_admin_rule(kit):
    client = await kit.client()
    admin = await kit.user(client, "admin")
    other_admin = await kit.user(client, "admin")
    root = await kit.user(client, "superAdmin")
    alice = await kit.user(client, "student")

    resp = await client.patch(f"/v1/userpasswordbyadmin/{alice.id}", json={"password": "set-by-admin-1"}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    assert_no_secrets(await resp.text())
    assert not await token_works(client, alice.token)
    assert (await login(client, alice.email, "set-by-admin-1")).status == 200

    for target in (other_admin, root):
        await assert_error(await client.patch(f"/v1/userpasswordbyadmin/{target.id}", json={"password": "set-by-admin-2"},
                                              headers=admin.headers), 403, "errMsg_OnlySuperAdminCanManageAdmins")
    assert (await login(client, other_admin.email, other_admin.password)).status == 200
    resp = await client.patch(f"/v1/userpasswordbyadmin/{other_admin.id}", json={"password": "set-by-root-1"},
                              headers=root.headers)
    assert resp.status == 200
    assert (await login(client, other_admin.email, "set-by-root-1")).status == 200

    await assert_error(await client.patch(f"/v1/userpasswordbyadmin/{alice.id}", json={"password": "tiny"},
                                          headers=admin.headers), 400, "errMsg_PasswordTooShort")
    await assert_error(await client.patch(f"/v1/userpasswordbyadmin/{alice.id}", json={"password": "x" * 300},
                                          headers=admin.headers), 400, "errMsg_Invalid")
    bob = await kit.user(client, "tutor")
    await assert_error(await client.patch(f"/v1/userpasswordbyadmin/{alice.id}", json={"password": "by-a-tutor-1"},
                                          headers=bob.headers), 403, "errMsg_PermissionDenied")
    assert (await login(client, alice.email, "set-by-admin-1")).status == 200


async def test_two_super_admins_removing_each_other_at_once_leave_one(kit):
    client = await kit.client()
    for body in ({"roleId": "admin"}, {"accountStatus": "banned"}, None):
        a, b = await kit.user(client, "superAdmin"), await kit.user(client, "superAdmin")

        def request(actor, target, body=body):
            if body is None:
                return client.delete(f"/v1/users/{target.id}", headers=actor.headers)
            path = "/v1/userrole" if "roleId" in body else "/v1/users"
            return client.patch(f"{path}/{target.id}", json=body, headers=actor.headers)

        responses = await asyncio.gather(request(a, b), request(b, a))
        assert sorted(r.status for r in responses) == [200, 403], body
        loser = next(r for r in responses if r.status == 403)
        assert (await loser.json())["message"] in ("errMsg_LastSuperAdmin", "errMsg_PermissionDenied")
        async with client.app[DB].session() as session:
            remaining = (await session.scalars(select(User.id).where(
                User.role_id == "superAdmin", User.is_active.is_(True), User.account_status == "active"))).all()
        assert len(remaining) == 1, body
        # Reset: the survivor steps aside so the next round starts with two fresh superAdmins.
        async with client.app[DB].transaction() as session:
            await session.execute(update(User).where(User.id == remaining[0]).values(role_id="tutor"))
