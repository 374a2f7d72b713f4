"""Permissions named `<plugin>.<action>`, granted to roles.

Plugins declare each permission with its default roles; `auth.grants` in config
adds roles (`grants = {"qna.coach" = ["admin"]}`). Admin roles do not get every
permission implicitly: a deployment says what its admins may do.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..errors import ConfigError


class PermissionRegistry:
    def __init__(self) -> None:
        self._roles: dict[str, set[str]] = {}
        self._by_role: dict[str, frozenset[str]] = {}  # every request asks; grants are fixed at start-up

    def declare(self, plugin: str, permissions: Mapping[str, Iterable[str]]) -> None:
        for name, roles in permissions.items():
            if plugin != "core" and not name.startswith(plugin + "."):
                raise ConfigError([f"plugin {plugin!r} declares permission {name!r}; it must start with {plugin + '.'!r}"])
            self._roles.setdefault(name, set()).update(roles)
        self._by_role.clear()

    def grant(self, grants: Mapping[str, Iterable[str]]) -> None:
        unknown = [f"auth.grants: unknown permission {name!r}" for name in grants if name not in self._roles]
        if unknown:
            raise ConfigError(unknown)
        for name, roles in grants.items():
            self._roles[name].update(roles)
        self._by_role.clear()

    def for_role(self, role: str) -> frozenset[str]:
        if role not in self._by_role:
            self._by_role[role] = frozenset(name for name, roles in self._roles.items() if role in roles)
        return self._by_role[role]

    def roles_for(self, name: str) -> frozenset[str]:
        return frozenset(self._roles.get(name, ()))

    def all(self) -> dict[str, frozenset[str]]:
        return {name: frozenset(roles) for name, roles in sorted(self._roles.items())}
