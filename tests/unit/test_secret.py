"""The signing secret: never a constant from the source; generated once, private, stable."""

from __future__ import annotations

import os
import stat

import pytest

from portal.config import PUBLISHED_SECRETS, SECRET_FILE, Settings, load_or_create_secret
from portal.errors import ConfigError


def test_generated_on_first_start_private_and_stable(tmp_path):
    s1 = Settings(home=tmp_path).with_secret()
    path = tmp_path / SECRET_FILE
    assert len(s1.secret_key) >= 32 and path.read_text().strip() == s1.secret_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(home=tmp_path).with_secret().secret_key == s1.secret_key  # restarts keep sessions
    assert Settings(home=tmp_path / "other").with_secret().secret_key != s1.secret_key  # per installation
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_default_settings_hold_no_secret():
    assert Settings().secret_key == "" and Settings.from_env({}).secret_key == ""


@pytest.mark.parametrize("secret", [*PUBLISHED_SECRETS, "too-short"])
def test_weak_or_published_secret_refused(tmp_path, secret):
    for dev in (True, False):
        with pytest.raises(ConfigError, match="CONDUCTOR_SECRET_KEY"):
            Settings(home=tmp_path, secret_key=secret, dev_mode=dev).with_secret()


def test_configured_secret_used_as_is(tmp_path):
    key = "x" * 48
    assert Settings(home=tmp_path, secret_key=key).with_secret().secret_key == key
    assert not (tmp_path / SECRET_FILE).exists()


def test_readable_secret_file_refused(tmp_path):
    path = tmp_path / SECRET_FILE
    load_or_create_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_secret(path)


def test_empty_secret_file_refused(tmp_path):
    path = tmp_path / SECRET_FILE
    path.write_text("")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="no usable secret"):
        load_or_create_secret(path)


def test_settings_from_env_security_options():
    s = Settings.from_env(
        {
            "CONDUCTOR_SECURE_COOKIES": "1",
            "CONDUCTOR_TRUSTED_PROXY": "yes",
            "CONDUCTOR_TOKEN_DAYS": "7",
            "CONDUCTOR_METRICS_TOKEN": "scrape",
            "CONDUCTOR_METRICS_NETWORKS": "10.0.0.0/8, 127.0.0.1/32",
            "CONDUCTOR_QUERY_TIMEOUT": "5",
        }
    )
    assert s.secure_cookies and s.trusted_proxy and s.api_token_days == 7 and s.query_timeout_seconds == 5
    assert s.metrics_token == "scrape" and s.metrics_networks == ("10.0.0.0/8", "127.0.0.1/32")
    with pytest.raises(ConfigError, match="CONDUCTOR_TOKEN_DAYS"):
        Settings.from_env({"CONDUCTOR_TOKEN_DAYS": "soon"})


def test_metrics_closed_by_default_outside_dev_mode():
    assert Settings.from_env({"CONDUCTOR_DEV": "0"}).metrics_networks == ()
    assert Settings.from_env({}).metrics_networks == ("127.0.0.0/8", "::1/128")


def test_settings_from_env_delivery_options(tmp_path):
    s = Settings.from_env(
        {
            "CONDUCTOR_HOME": str(tmp_path),
            "SMTP_URL": "smtps://mail.example.com",
            "WEBHOOK_ALLOW_PRIVATE": "1",
            "WEBHOOK_ALLOWED_HOSTS": " Hooks.Example.com , ,tickets.local",
        }
    )
    assert s.smtp_url == "smtps://mail.example.com"
    assert s.webhook_allow_private is True
    assert s.webhook_allowed_hosts == ("hooks.example.com", "tickets.local")
    # Embedded default: no mail server, messages land in the data directory's outbox.
    d = Settings.from_env({"CONDUCTOR_HOME": str(tmp_path)})
    assert d.smtp_url == "" and d.outbox_dir == tmp_path.resolve() / "outbox"
    assert d.webhook_allow_private is False and d.webhook_allowed_hosts == ()
