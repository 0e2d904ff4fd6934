"""Settings from the environment: the runtime contract of DESIGN.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.app import create_app
from service.config import (
    DEV_SECRET_KEY,
    ConfigError,
    Environment,
    Settings,
    database_url_from_env,
    normalize_database_url,
)

PRODUCTION = {
    "HANDSUP_ENV": "production",
    "SECRET_KEY": "s3cret-for-tests-at-least-32-bytes-long",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "DATABASE_URL": "postgres://u:p@h/db",
}


def without(mapping: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in mapping.items() if k not in names}


# --- DATABASE_URL -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        (
            "postgres://u:p@h:5433/db?sslmode=require",
            "postgresql+psycopg://u:p@h:5433/db?sslmode=require",
        ),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_normalize_database_url(raw: str, expected: str) -> None:
    assert normalize_database_url(raw) == expected


@pytest.mark.parametrize("raw", ["postgres://u:p@h/db", "postgresql://u:p@h/db"])
def test_from_env_normalises_heroku_urls(raw: str) -> None:
    settings = Settings.from_env({**PRODUCTION, "DATABASE_URL": raw})
    assert settings.database_url == "postgresql+psycopg://u:p@h/db"


def test_settings_constructor_normalises_too() -> None:
    assert Settings(database_url="postgres://u:p@h/db").database_url == (
        "postgresql+psycopg://u:p@h/db"
    )


def test_database_url_from_env_normalises() -> None:
    assert database_url_from_env({"DATABASE_URL": " postgres://u:p@h/db "}) == (
        "postgresql+psycopg://u:p@h/db"
    )


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_database_url_is_sqlite_under_instance_path(
    tmp_path: Path, value: str | None
) -> None:
    environ = {"HANDSUP_ENV": "development", "HANDSUP_INSTANCE_PATH": str(tmp_path / "inst")}
    if value is not None:
        environ["DATABASE_URL"] = value
    settings = Settings.from_env(environ)
    expected = f"sqlite:///{tmp_path / 'inst' / 'handsup.db'}"
    assert settings.database_url == expected
    assert settings.instance_path == tmp_path / "inst"
    assert database_url_from_env(environ) == expected


def test_unset_database_url_defaults_to_instance_dir_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"HANDSUP_ENV": "development"})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'handsup.db'}"
    assert database_url_from_env({}) == settings.database_url


# --- required variables in production -----------------------------------------------------


def test_production_with_everything_set() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.env is Environment.PRODUCTION
    assert settings.is_production
    assert settings.secret_key == "s3cret-for-tests-at-least-32-bytes-long"
    assert settings.redis_url == "redis://redis.internal:6379/0"
    assert settings.port == 5000
    assert not settings.twilio_enabled


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_production_without_secret_key_names_it(secret: str | None) -> None:
    environ = without(PRODUCTION, "SECRET_KEY")
    if secret is not None:
        environ["SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env(environ)


def test_production_without_redis_url_names_it() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_env(without(PRODUCTION, "REDIS_URL"))


def test_missing_handsup_env_is_treated_as_production() -> None:
    """Fail safe: a deploy that forgot HANDSUP_ENV must not run with the dev secret."""
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"REDIS_URL": "redis://r:6379/0", "DATABASE_URL": "postgres://h/db"})


def test_production_without_database_url_names_it() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env(without(PRODUCTION, "DATABASE_URL"))


@pytest.mark.parametrize("env", ["development", "test"])
def test_dev_and_test_need_no_secret_or_redis(env: str) -> None:
    settings = Settings.from_env({"HANDSUP_ENV": env})
    assert settings.env.value == env
    assert settings.secret_key == DEV_SECRET_KEY
    assert settings.redis_url is None
    assert not settings.is_production


@pytest.mark.parametrize("raw", ["staging", "prod", "PRODUCTION-1"])
def test_invalid_handsup_env(raw: str) -> None:
    with pytest.raises(ConfigError, match="HANDSUP_ENV") as info:
        Settings.from_env({"HANDSUP_ENV": raw})
    assert raw in str(info.value)
    assert "production" in str(info.value)  # lists the valid choices


# --- PORT -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["abc", "0", "65536", "-1", "80.0", "5000x", "99999999", "²", "٣"])
def test_bad_port(raw: str) -> None:
    with pytest.raises(ConfigError, match="PORT") as info:
        Settings.from_env({"HANDSUP_ENV": "development", "PORT": raw})
    assert raw in str(info.value)


@pytest.mark.parametrize(
    ("raw", "port"), [("8080", 8080), (" 80 ", 80), ("65535", 65535), ("", 5000)]
)
def test_good_port(raw: str, port: int) -> None:
    assert Settings.from_env({"HANDSUP_ENV": "development", "PORT": raw}).port == port


def test_port_defaults_to_5000() -> None:
    assert Settings.from_env({"HANDSUP_ENV": "development"}).port == 5000


# --- Twilio credentials -----------------------------------------------------------------


def test_only_account_sid_names_auth_token() -> None:
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_env({"HANDSUP_ENV": "development", "TWILIO_ACCOUNT_SID": "AC123"})


def test_only_auth_token_names_account_sid() -> None:
    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID"):
        Settings.from_env({"HANDSUP_ENV": "development", "TWILIO_AUTH_TOKEN": "tok"})


def test_both_twilio_credentials_enable_twilio() -> None:
    settings = Settings.from_env(
        {
            "HANDSUP_ENV": "development",
            "TWILIO_ACCOUNT_SID": "AC123",
            "TWILIO_AUTH_TOKEN": "t",
            "TWILIO_API_BASE_URL": "http://127.0.0.1:9999",
        }
    )
    assert settings.twilio_enabled
    assert settings.twilio_account_sid == "AC123"
    assert settings.twilio_auth_token == "t"
    assert settings.twilio_api_base_url == "http://127.0.0.1:9999"


def test_neither_twilio_credential_is_simulator_only() -> None:
    assert not Settings.from_env({"HANDSUP_ENV": "development"}).twilio_enabled


def test_public_base_url_trailing_slash_is_dropped() -> None:
    settings = Settings.from_env(
        {"HANDSUP_ENV": "development", "PUBLIC_BASE_URL": "https://h.example.org/"}
    )
    assert settings.public_base_url == "https://h.example.org"
    assert Settings.from_env({"HANDSUP_ENV": "development"}).public_base_url is None


# --- create_app at start-up ----------------------------------------------------------------


def _set_env(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], tmp_path: Path) -> None:
    for name in (
        "HANDSUP_ENV",
        "SECRET_KEY",
        "REDIS_URL",
        "DATABASE_URL",
        "PORT",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "PUBLIC_BASE_URL",
        "TWILIO_API_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HANDSUP_INSTANCE_PATH", str(tmp_path / "instance"))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)


def test_create_app_in_production_without_secret_key_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environ = {**without(PRODUCTION, "SECRET_KEY"), "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env(environ)
    _set_env(monkeypatch, environ, tmp_path)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_create_app_in_production_without_redis_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environ = {**without(PRODUCTION, "REDIS_URL"), "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}
    _set_env(monkeypatch, environ, tmp_path)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        create_app()


def test_create_app_in_production_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environ = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}
    _set_env(monkeypatch, environ, tmp_path)
    app = create_app()
    try:
        assert app.config["SECRET_KEY"] == "s3cret-for-tests-at-least-32-bytes-long"
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert app.config["HANDSUP_ENV"] == "production"
        assert "simulator" not in app.blueprints  # dev only
    finally:
        app.extensions["handsup"].engine.dispose()


def test_proxy_hops_are_read_and_checked() -> None:
    base = {"HANDSUP_ENV": "development"}
    assert Settings.from_env(base).proxy_hops == 0
    assert Settings.from_env({**base, "HANDSUP_PROXY_HOPS": "1"}).proxy_hops == 1
    for bad in ("-1", "one", "9"):
        with pytest.raises(ConfigError, match="HANDSUP_PROXY_HOPS"):
            Settings.from_env({**base, "HANDSUP_PROXY_HOPS": bad})


# --- HANDSUP_SURGE_IN_FLIGHT ------------------------------------------------------------


@pytest.mark.parametrize("raw", ["0", "1", "abc", "-5", "3.5", "٣"])
def test_bad_surge_threshold_names_it(raw: str) -> None:
    with pytest.raises(ConfigError, match="HANDSUP_SURGE_IN_FLIGHT"):
        Settings.from_env({"HANDSUP_ENV": "development", "HANDSUP_SURGE_IN_FLIGHT": raw})


@pytest.mark.parametrize("raw", ["0", "17", "abc", "-1", "2.5"])
def test_bad_deferred_process_count_names_it(raw: str) -> None:
    with pytest.raises(ConfigError, match="HANDSUP_DEFERRED_PROCESSES"):
        Settings.from_env({"HANDSUP_ENV": "development", "HANDSUP_DEFERRED_PROCESSES": raw})


def test_deferred_processes_default_to_2_and_size_the_workers_lane_pool() -> None:
    from workers.runtime import Runtime

    assert Settings.from_env({"HANDSUP_ENV": "development"}).deferred_processes == 2
    settings = Settings.from_env({"HANDSUP_ENV": "development", "HANDSUP_DEFERRED_PROCESSES": "3"})
    rt = Runtime(settings)
    try:
        assert rt.deferred_lanes == 3
        # a private attribute typeshed does not declare
        pool_size = rt.deferred_pool._max_workers  # type: ignore[attr-defined]
        assert pool_size == 3  # started on the first batch, not here
    finally:
        rt.close()


def test_surge_threshold_defaults_to_16_and_reaches_the_apps_gauge(tmp_path: Path) -> None:
    from service.app import create_app
    from service.web.extensions import resources

    assert Settings.from_env({"HANDSUP_ENV": "development"}).surge_in_flight == 16
    settings = Settings.from_env(
        {
            "HANDSUP_ENV": "development",
            "HANDSUP_SURGE_IN_FLIGHT": "40",
            "HANDSUP_INSTANCE_PATH": str(tmp_path),
            # never connected (the app opens Redis on first use): no embedded one is started
            "REDIS_URL": "redis://127.0.0.1:9/0",
        }
    )
    gauge = resources(create_app(settings)).surge
    assert (gauge.enter_at, gauge.leave_at) == (40, 10)
