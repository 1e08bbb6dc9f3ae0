"""The start-up check: every problem at once; production refuses, unset or
unknown environments count as production."""

from __future__ import annotations

import pytest

from relayauth import RelayAuth, UnsafeSettingsError, check_settings


def test_production_refuses_every_problem_at_once() -> None:
    with pytest.raises(UnsafeSettingsError) as e:
        RelayAuth("http://auth.example.com:8080", cache_ttl=30, revocation_sla=5, environment="production")
    settings = sorted(p.setting for p in e.value.problems)
    assert settings == ["cache_ttl", "server_url"]
    msg = str(e.value)
    assert "plain http to auth.example.com" in msg and "above the revocation SLA" in msg


@pytest.mark.parametrize("env", [None, "", "prod", "Production", "DEVELOPMENT", "dev"])
def test_unset_or_unknown_environment_is_production(env: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if env is None:
        monkeypatch.delenv("RELAY_ENV", raising=False)
    else:
        monkeypatch.setenv("RELAY_ENV", env)
    with pytest.raises(UnsafeSettingsError):
        RelayAuth("http://10.1.2.3:8080")
    # The same, passed explicitly.
    assert check_settings(server_url="http://10.1.2.3", environment=env or "nonsense")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080",
                                 "http://127.8.9.10", "https://auth.example.com", "https://auth.example.com/prefix/"])
def test_production_accepts_tls_or_loopback(url: str) -> None:
    assert check_settings(server_url=url, cache_ttl=5, revocation_sla=5, environment="production") == []
    RelayAuth(url, cache_ttl=2, environment="production")


def test_development_allows_what_production_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_ENV", "development")
    RelayAuth("http://auth.example.com:8080", cache_ttl=60)


def test_staging_warns(caplog: pytest.LogCaptureFixture) -> None:
    RelayAuth("http://auth.example.com", cache_ttl=60, environment="staging")
    assert "plain http" in caplog.text and "revocation SLA" in caplog.text


@pytest.mark.parametrize("kwargs,setting", [
    ({"server_url": "ftp://x"}, "server_url"),
    ({"server_url": "127.0.0.1:8080"}, "server_url"),
    ({"server_url": "http://"}, "server_url"),
    ({"server_url": "http://u:p@127.0.0.1"}, "server_url"),
    ({"server_url": "http://127.0.0.1/?x=1"}, "server_url"),
    ({"server_url": "http://127.0.0.1:99999999"}, "server_url"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": float("inf")}, "timeout"),
    ({"cache_ttl": -1}, "cache_ttl"),
    ({"cache_size": 0}, "cache_size"),
    ({"revocation_sla": 0}, "revocation_sla"),
])
def test_invalid_settings_refused_everywhere(kwargs: dict[str, object], setting: str) -> None:
    args: dict[str, object] = {"server_url": "http://127.0.0.1:8080", **kwargs}
    with pytest.raises(UnsafeSettingsError) as e:
        RelayAuth(environment="development", **args)  # type: ignore[arg-type]
    assert setting in [p.setting for p in e.value.problems]


def test_every_invalid_setting_listed() -> None:
    with pytest.raises(UnsafeSettingsError) as e:
        RelayAuth("ftp://", timeout=-1, cache_ttl=-1, cache_size=0, environment="development")
    assert {p.setting for p in e.value.problems} == {"server_url", "timeout", "cache_ttl", "cache_size"}
