"""Bringing a tenant's own data in: file imports, connected databases, REST sources, syncs and
data-quality checks. Each load ends in a catalogued source (``portal.data.tenant_sources``)."""
