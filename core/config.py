"""Settings: a TOML file, then `MENTORKIT_<SECTION>_<KEY>` environment overrides.

Every section is validated by a marshmallow schema (the core's below, a plugin's
from its `PluginSpec.config_schema`), and all problems are reported together so
an operator fixes a config file in one pass rather than one error per restart.
The defaults here are the embedded deployment; `config/default.toml` spells them
out and a test keeps the two equal.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Iterator, Mapping

from marshmallow import EXCLUDE, Schema, fields, validate
from marshmallow import ValidationError as MarshmallowValidationError

from .errors import ConfigError

ENV_PREFIX = "MENTORKIT_"
SECRET_KEYS = {"jwt_secret", "password", "secret_key", "webhook_secret", "api_key", "private_key"}


class ServerSchema(Schema):
    host = fields.String(load_default="127.0.0.1")
    port = fields.Integer(load_default=8080, validate=validate.Range(1, 65535))
    workers = fields.Integer(load_default=1, validate=validate.Range(1, 256))
    client_max_size = fields.Integer(load_default=1024 * 1024, validate=validate.Range(1024))
    access_log = fields.Boolean(load_default=True)
    base_url = fields.String(load_default="")
    log_level = fields.String(load_default="INFO", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))


class DatabaseSchema(Schema):
    url = fields.String(
        load_default="sqlite+aiosqlite:///./mentorkit.db",
        validate=validate.Regexp(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", error="must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL"),
    )
    echo = fields.Boolean(load_default=False)
    pool_size = fields.Integer(load_default=10, validate=validate.Range(1, 1000))
    auto_migrate = fields.Boolean(load_default=None, allow_none=True)


class RedisSchema(Schema):
    url = fields.String(load_default="")
    prefix = fields.String(load_default="mentorkit:")


class AuthSchema(Schema):
    jwt_secret = fields.String(load_default="")
    jwt_algorithm = fields.String(load_default="HS256", validate=validate.OneOf(["HS256", "RS256"]))
    private_key = fields.String(load_default="")
    access_token_ttl = fields.Integer(load_default=86400, validate=validate.Range(60))
    api_token_days = fields.Integer(load_default=90, validate=validate.Range(1, 3650))
    bootstrap_admin_email = fields.String(load_default="")
    bootstrap_admin_password = fields.String(load_default="")
    cookie_secure = fields.Boolean(load_default=False)
    login_limit = fields.String(load_default="10/minute")
    grants = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), load_default=dict)


class RateLimitSchema(Schema):
    default = fields.String(load_default="120/minute")
    fail_open = fields.Boolean(load_default=True)
    enabled = fields.Boolean(load_default=True)
    proxy_hops = fields.Integer(load_default=0, validate=validate.Range(0, 10))


class EmailSchema(Schema):
    backend = fields.String(load_default="console", validate=validate.OneOf(["console", "smtp"]))
    host = fields.String(load_default="localhost")
    port = fields.Integer(load_default=25)
    username = fields.String(load_default="")
    password = fields.String(load_default="")
    use_tls = fields.Boolean(load_default=False)
    start_tls = fields.Boolean(load_default=False)
    sender = fields.String(load_default="Mentorkit <no-reply@localhost>")
    timeout = fields.Float(load_default=10.0)
    max_attempts = fields.Integer(load_default=8, validate=validate.Range(1))
    outbox_interval = fields.Float(load_default=5.0, validate=validate.Range(min=0.1))


class TasksSchema(Schema):
    enabled = fields.Boolean(load_default=True)


class PluginsSchema(Schema):
    enabled = fields.List(fields.String(), load_default=None, allow_none=True)


CORE_SECTIONS: dict[str, type[Schema]] = {
    "server": ServerSchema,
    "database": DatabaseSchema,
    "redis": RedisSchema,
    "auth": AuthSchema,
    "ratelimit": RateLimitSchema,
    "email": EmailSchema,
    "tasks": TasksSchema,
    "plugins": PluginsSchema,
}


class Section(Mapping[str, Any]):
    """A validated section: attribute or item access, read-only."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self._name = name
        self._values = dict(values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"setting {self._name}.{key} does not exist") from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = {k: ("***" if k in SECRET_KEYS and v else mask_url_password(v)) for k, v in self._values.items()}
        return f"Section({self._name}, {shown})"


def mask_url_password(value: Any) -> Any:
    """`scheme://user:***@host/...` for a URL with a password (database, Redis); else unchanged.
    Used wherever a URL is printed: settings reprs and log lines."""
    if not isinstance(value, str) or "://" not in value:
        return value
    scheme, _, rest = value.partition("://")
    authority, slash, tail = rest.partition("/")
    credentials, at, host = authority.rpartition("@")
    if not at or ":" not in credentials:
        return value
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}{slash}{tail}"


class Settings:
    """Raw settings (file + env) and the validated core sections.

    Plugin sections stay raw here; `validate_plugin_sections` checks them once the
    enabled plugins, and so their schemas, are known.
    """

    def __init__(self, raw: dict[str, Any], source: str = "<defaults>") -> None:
        self.raw = raw
        self.source = source
        problems: list[str] = []
        self.sections: dict[str, Section] = {}
        for name, schema in CORE_SECTIONS.items():
            self.sections[name] = Section(name, _load(schema, name, raw.get(name, {}), problems))
        if problems:
            raise ConfigError(problems)

    def __getattr__(self, name: str) -> Section:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    def section(self, name: str) -> Section:
        return self.sections.get(name) or Section(name, self.raw.get(name, {}))

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> "Settings":
        raw = {k: dict(v) if isinstance(v, dict) else v for k, v in self.raw.items()}
        for section, values in overrides.items():
            raw.setdefault(section, {}).update(values)
        return Settings(raw, self.source)

    @property
    def is_sqlite(self) -> bool:
        return self.database.url.startswith("sqlite")

    @property
    def auto_migrate(self) -> bool:
        explicit = self.database.auto_migrate
        return self.is_sqlite if explicit is None else bool(explicit)

    def validate_plugin_sections(self, schemas: Mapping[str, type[Schema] | None]) -> None:
        problems: list[str] = []
        for name, schema in schemas.items():
            if schema is None:
                if name in self.raw and self.raw[name]:
                    self.sections[name] = Section(name, self.raw[name])
                continue
            self.sections[name] = Section(name, _load(schema, name, self.raw.get(name, {}), problems))
        if problems:
            raise ConfigError(problems)


def _load(schema: type[Schema], name: str, data: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        problems.append(f"[{name}] must be a table")
        return {}
    unknown = sorted(set(data) - set(schema().fields))
    for key in unknown:
        problems.append(f"{name}.{key}: unknown setting")
    try:
        return schema(unknown=EXCLUDE).load(data)
    except MarshmallowValidationError as exc:
        for key, messages in sorted(exc.normalized_messages().items()):
            text = " ".join(messages) if isinstance(messages, list) else str(messages)
            problems.append(f"{name}.{key}: {text}")
        return {}


def _parse_env_value(value: str) -> Any:
    """`true`, `5`, `["a"]` become TOML values; anything else stays a string."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def env_overrides(environ: Mapping[str, str], known_sections: list[str]) -> dict[str, dict[str, Any]]:
    """`MENTORKIT_DATABASE_URL` -> {"database": {"url": ...}}; `MENTORKIT_PLUGINS=a,b` enables plugins.

    The section is the longest known section name that prefixes the rest, so keys
    with underscores (`MENTORKIT_AUTH_JWT_SECRET`) split where they should.
    """
    out: dict[str, dict[str, Any]] = {}
    sections = sorted(known_sections, key=len, reverse=True)
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX):].lower()
        if rest == "plugins":
            out.setdefault("plugins", {})["enabled"] = [p.strip() for p in value.split(",") if p.strip()]
            continue
        for section in sections:
            if rest.startswith(section + "_"):
                out.setdefault(section, {})[rest[len(section) + 1:]] = _parse_env_value(value)
                break
    return out


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    extra_sections: list[str] | None = None,
) -> Settings:
    """Read TOML (if a path is given), apply env overrides, validate the core sections."""
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"config file not found: {path}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    environ = os.environ if environ is None else environ
    if extra_sections is None:
        # Installed plugins' sections, so `MENTORKIT_QNA_MAX_ACTIVE_ORDERS` works without a
        # [qna] table in the file. Listing entry points imports no plugin.
        from .plugins import installed_plugins

        extra_sections = list(installed_plugins())
    known = list(CORE_SECTIONS) + list(extra_sections) + [k for k in raw if isinstance(raw[k], dict)]
    for section, values in env_overrides(environ, known).items():
        raw.setdefault(section, {}).update(values)
    return Settings(raw, source)
