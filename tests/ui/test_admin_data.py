"""Browser test of /admin/data: an admin connects the test PostgreSQL database, picks a table,
maps its location column and sees the new source listed in the catalog."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text

pytestmark = [
    pytest.mark.ui,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]
expect.set_options(timeout=20_000)


def test_connect_database_pick_table_map_location(
    page: Page, portal_url: str, signed_in: Any, pg_server: Any, shot: Any
) -> None:
    url = pg_server.create_database()
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE branch_sales (id int PRIMARY KEY, branch int, total numeric(10,2))"))
        c.execute(text("INSERT INTO branch_sales VALUES (1, 1, 9.5), (2, 2, 3.25)"))
    engine.dispose()
    tag = uuid.uuid4().hex[:6]
    signed_in(page, "admin@acme.example.com")
    page.goto(f"{portal_url}/admin/data")
    expect(page.locator(".data-sources")).to_be_visible()
    page.locator(".db-name input").fill(f"Branches <i>{tag}</i>")
    page.locator(".db-url input").fill(url.replace("postgres@", ""))
    page.locator(".db-user input").fill("postgres")
    page.locator(".db-connect button").click()
    expect(page.locator(".notyf__message", has_text="Database connected")).to_be_visible()
    expect(page.locator(".data-sources")).to_contain_text(f"Branches <i>{tag}</i>")  # markup shown as text
    expect(page.locator(".data-sources i", has_text=tag)).to_have_count(0)
    page.locator(".table-pick select").select_option("public.branch_sales")
    expect(page.locator(".column-grid")).to_contain_text("branch")
    page.locator(".expose-name input").fill(f"branch_sales_{tag}")
    page.locator(".scope-location select").select_option("branch")
    shot(page, "table-picked")
    page.locator(".expose button").click()
    expect(page.locator(".notyf__message", has_text="added to the catalog")).to_be_visible()
    row = page.locator(".catalog-row", has_text=f"branch_sales_{tag}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("sql")
    shot(page, "listed")
