import pandas as pd
import pytest

from portal.identity.scope import Scope
from portal.infra.cache import QueryCache, frame_from_bytes, frame_to_bytes


def test_scope_narrow_and_key():
    a = Scope.of("acme", locations=[1, 2, 3])
    b = Scope.of("acme", locations=[2, 3, 4], contracts=[9])
    n = a.narrow(b)
    assert n.location_ids == {2, 3} and n.contract_ids == {9} and n.customer_ids is None
    assert a.key != n.key and Scope.of("acme", locations=[3, 2, 1]).key == a.key
    with pytest.raises(ValueError):
        a.narrow(Scope.of("globex"))


def test_frame_bytes_roundtrip():
    df = pd.DataFrame({"a": [1, 2], "b": ["São", None], "t": pd.to_datetime(["2026-01-01", None])})
    pd.testing.assert_frame_equal(frame_from_bytes(frame_to_bytes(df)), df, check_dtype=False)


def test_cache_keys_scope_and_invalidation(redis_client):
    c = QueryCache(redis_client, ttl_seconds=60)
    df = pd.DataFrame({"n": [1]})
    k1 = c.key("tickets", "SELECT 1", Scope.of("acme").key)
    assert k1 != c.key("tickets", "SELECT 1", Scope.of("globex").key)  # scope is part of the key
    assert c.get(k1) is None
    c.set(k1, df)
    assert c.get(k1)["n"].tolist() == [1]
    assert 0 < redis_client.ttl(k1) <= 60
    c.invalidate("tickets")
    assert c.key("tickets", "SELECT 1", Scope.of("acme").key) != k1
    k2 = c.key("expenses", "SELECT 1", Scope.of("acme").key)
    c.invalidate()
    assert c.key("expenses", "SELECT 1", Scope.of("acme").key) != k2
