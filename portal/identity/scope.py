"""Data scope of a caller: the row filters every query gets, whatever the spec says."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass


def _ids(values: Iterable[int] | None) -> frozenset[int] | None:
    return None if values is None else frozenset(int(v) for v in values)


@dataclass(frozen=True)
class Scope:
    """Row-level scope. ``None`` for a dimension means "not restricted"; an empty set means "nothing"."""

    tenant_key: str
    location_ids: frozenset[int] | None = None
    contract_ids: frozenset[int] | None = None
    customer_ids: frozenset[int] | None = None

    @classmethod
    def of(
        cls,
        tenant_key: str,
        *,
        locations: Iterable[int] | None = None,
        contracts: Iterable[int] | None = None,
        customers: Iterable[int] | None = None,
    ) -> Scope:
        """Build a scope from any iterables of ids."""
        return cls(tenant_key, _ids(locations), _ids(contracts), _ids(customers))

    def restrictions(self) -> dict[str, frozenset[int]]:
        """The restricted dimensions (location/contract/customer) and their allowed ids."""
        out: dict[str, frozenset[int]] = {}
        for kind, ids in (
            ("location", self.location_ids),
            ("contract", self.contract_ids),
            ("customer", self.customer_ids),
        ):
            if ids is not None:
                out[kind] = ids
        return out

    def narrow(self, other: Scope) -> Scope:
        """The intersection of two scopes of the same tenant (e.g. a user's and a share token's)."""
        if other.tenant_key != self.tenant_key:
            raise ValueError("cannot combine scopes of different tenants")

        def meet(a: frozenset[int] | None, b: frozenset[int] | None) -> frozenset[int] | None:
            if a is None:
                return b
            return a if b is None else a & b

        return Scope(
            self.tenant_key,
            meet(self.location_ids, other.location_ids),
            meet(self.contract_ids, other.contract_ids),
            meet(self.customer_ids, other.customer_ids),
        )

    @property
    def key(self) -> str:
        """Stable digest, part of every cache key."""
        doc = {"t": self.tenant_key, **{k: sorted(v) for k, v in self.restrictions().items()}}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]
