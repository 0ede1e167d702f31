"""The analyst API in-process, and data sources with encrypted credentials."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import portal
from portal.client import Connection, connect
from portal.data import datasources
from portal.errors import AuthenticationFailed, ConfigError, InvalidSpec, NotFound, PermissionDenied
from portal.identity import auth
from portal.infra.crypto import decrypt_json, encrypt_json, hash_token, sign
from portal.infra.db import transaction
from portal.ingest.introspect import probe_source
from portal.models import DataSource, User
from tests.support.principals import as_principal


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_connection_query_save_run(ctx, demo):
    conn = Connection(ctx, demo[("acme", "analyst")].id)
    assert conn.user["email"] == "analyst@acme.example.com"
    assert "tickets" in conn.sources()["source"].tolist()
    assert "team_name" in conn.columns("tickets")["name"].tolist()
    q = (
        portal.Query("tickets")
        .count(as_="n")
        .agg("median", "resolution_hours", as_="med")
        .by("team_name")
        .order("n", desc=True)
        .limit(5)
    )
    df = conn.query(q)
    assert list(df.columns) == ["team_name", "n", "med"] and len(df) <= 5 and df["n"].is_monotonic_decreasing
    spec = portal.Query("tickets").count(as_="n").where("priority", "=", "{{p}}")
    saved = conn.save_report("By prio", spec, params={"p": "low"}, publish=True)
    assert saved["visibility"] == "public" and saved["published"]
    updated = conn.save_report("By prio (urgent)", spec, params={"p": "urgent"}, report_id=saved["id"])
    assert updated["name"] == "By prio (urgent)"
    assert saved["id"] in conn.reports()["id"].tolist()
    assert conn.run_report(saved["id"])["n"].iloc[0] == conn.query(spec, p="urgent")["n"].iloc[0]
    with pytest.raises(InvalidSpec):
        conn.query({"source": "tickets"})
    conn.close()


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_connect_with_token_or_password(ctx, demo, settings):
    with transaction(ctx.sessions) as s:
        _, token = auth.issue_api_token(s, s.get(User, demo[("acme", "viewer")].id), "nb")
    with connect(token=token, settings=settings) as c:
        assert c.user["email"] == "viewer@acme.example.com"
    with connect(email="admin@globex.example.com", password="conductor-demo", settings=settings) as c:
        assert c.user["tenant_id"] != demo[("acme", "admin")].tenant_id
    with pytest.raises(AuthenticationFailed):
        connect(token="cbi_wrong", settings=settings)
    with pytest.raises(AuthenticationFailed):
        connect(settings=settings)


def test_crypto_roundtrip_and_wrong_key():
    blob = encrypt_json("k" * 40, {"password": "hunter2"})
    assert b"hunter2" not in blob
    assert decrypt_json("k" * 40, blob) == {"password": "hunter2"}
    with pytest.raises(ConfigError):
        decrypt_json("other-key" * 5, blob)
    assert hash_token("a") != hash_token("b") and len(sign("k", "m")) == 64


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_data_sources(ctx, demo, pg_server):
    key = ctx.settings.secret_key
    pg_url = pg_server.create_database()
    base = pg_url.replace("postgres@", "")  # credentials go in the encrypted part, not the URL
    with transaction(ctx.sessions) as s:
        admin, viewer = as_principal(s, demo[("acme", "admin")]), as_principal(s, demo[("acme", "viewer")])
        with pytest.raises(PermissionDenied):
            datasources.create_data_source(
                s, viewer, {"name": "x", "kind": "sql", "config": {"url": base}}, key
            )
        with pytest.raises(InvalidSpec) as e:
            datasources.create_data_source(
                s, admin, {"name": "x", "kind": "sql", "config": {"url": "postgresql://u:pw@h/db"}}, key
            )
        assert e.value.field == "config.url"
        with pytest.raises(InvalidSpec):
            datasources.create_data_source(
                s, admin, {"name": "x", "kind": "sql", "config": {"url": "not a url"}}, key
            )
        ds = datasources.create_data_source(
            s,
            admin,
            {
                "name": "ERP",
                "kind": "sql",
                "config": {"url": base},
                "credentials": {"username": "postgres", "password": "s3cr3t"},
            },
            key,
        )
        assert b"s3cr3t" not in ds.credentials_encrypted and "s3cr3t" not in str(ds.config_json)
        ok = probe_source(datasources.get_data_source(s, admin, ds.id), key)
        assert ok["ok"] is True, ok
        bad = datasources.create_data_source(
            s,
            admin,
            {"name": "Down", "kind": "sql", "config": {"url": "postgresql+psycopg://127.0.0.1:1/none"}},
            key,
        )
        res = probe_source(datasources.get_data_source(s, admin, bad.id), key)
        assert res["ok"] is False and res["message"]
        assert len(s.get(DataSource, bad.id).sync_history_json) == 1
        outsider = as_principal(s, demo[("globex", "admin")])
        with pytest.raises(NotFound):
            datasources.get_data_source(s, outsider, ds.id)
        assert s.scalar(select(DataSource.last_test_ok).where(DataSource.id == ds.id)) is True
