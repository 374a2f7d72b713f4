from pathlib import Path

import pytest

from core.config import Settings, env_overrides, load_settings
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_default_toml_matches_builtin_defaults():
    from_file = load_settings(ROOT / "config" / "default.toml", environ={})
    builtin = load_settings(None, environ={})
    for name in builtin.sections:
        assert dict(from_file.sections[name]) == dict(builtin.sections[name]), name


def test_production_example_is_valid():
    settings = load_settings(ROOT / "config" / "production.example.toml", environ={})
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert not settings.auto_migrate


def test_env_overrides_split_sections_and_parse_values():
    out = env_overrides(
        {"MENTORKIT_AUTH_JWT_SECRET": "s3", "MENTORKIT_SERVER_PORT": "9000", "MENTORKIT_PLUGINS": "qna, coaching",
         "MENTORKIT_QNA_MAX_ORDERS": "5", "OTHER": "x"},
        ["auth", "server", "qna"],
    )
    assert out == {"auth": {"jwt_secret": "s3"}, "server": {"port": 9000}, "plugins": {"enabled": ["qna", "coaching"]},
                   "qna": {"max_orders": 5}}


def test_env_beats_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 9001\n')
    assert load_settings(path, environ={}).server.port == 9001
    assert load_settings(path, environ={"MENTORKIT_SERVER_PORT": "9002"}).server.port == 9002


def test_all_errors_reported_at_once():
    with pytest.raises(ConfigError) as exc:
        Settings({"server": {"port": 0, "bogus": 1}, "database": {"url": "mysql://x"}, "email": {"backend": "pigeon"}})
    text = str(exc.value)
    for expected in ("server.port", "server.bogus: unknown setting", "database.url", "email.backend"):
        assert expected in text
    assert len(exc.value.problems) == 4


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(bad, environ={})


def test_secrets_are_masked_in_repr():
    settings = Settings({"auth": {"jwt_secret": "topsecretvalue"}, "email": {"password": "hunter2"}})
    assert "topsecretvalue" not in repr(settings.auth)
    assert "hunter2" not in repr(settings.email)
