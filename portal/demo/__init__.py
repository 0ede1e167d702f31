"""The demo: a deterministic multi-tenant warehouse generator and ready-made demo content."""

from __future__ import annotations
