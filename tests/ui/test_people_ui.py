"""Browser tests of people administration: an admin creates a user and a group (with the user as a
member) from /admin/users, and reads both changes on /admin/audit; a non-admin sees "admins only";
an invited user chooses a password on /invite. User text with markup is shown literally."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.ui.conftest import login

pytestmark = [
    pytest.mark.ui,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ADMIN = "admin@acme.example.com"
PASSWORD = "conductor-demo"
STRONG = "violet-harbor-cactus-93"
expect.set_options(timeout=20_000)


def test_admin_creates_user_and_group_and_reads_the_audit(page: Page, portal_url: str, shot) -> None:
    tag = uuid.uuid4().hex[:6]
    email, name, group = f"ui-{tag}@acme.example.com", f"Zoë <b>{tag}</b>", f"Night shift {tag}"
    login(page, portal_url, ADMIN, target="/admin/users")
    page.goto(f"{portal_url}/admin/users")
    expect(page.get_by_role("link", name="Admin", exact=True)).to_be_visible()
    expect(page.locator(".people-list table")).to_contain_text("admin@acme.example.com")
    page.locator(".new-email input").fill(email)
    page.locator(".new-name input").fill(name)
    page.locator(".new-password input").fill(STRONG)
    page.locator(".create-user button").click()
    expect(page.locator(".notyf__message", has_text=f"Created {email}")).to_be_visible()
    expect(page.locator(".people-list")).to_contain_text(email)
    expect(page.locator(".people-list")).to_contain_text(name)  # markup shown as text
    expect(page.locator(".people-list b", has_text=tag)).to_have_count(0)
    shot(page, "user-created")

    page.locator(".bk-tab", has_text=re.compile(r"^Groups$")).click()
    page.locator(".new-group input").fill(group)
    page.locator(".create-group button").click()
    expect(page.locator(".groups")).to_contain_text(group)
    page.locator(".member-pick select").select_option(label=f"{name} ({email})")
    page.locator(".add-member button").click()
    expect(page.locator(".group-members")).to_contain_text(email)
    expect(page.locator(".group-row", has_text=group)).to_contain_text("1 member")
    shot(page, "group-with-member")

    page.goto(f"{portal_url}/admin/audit")
    table = page.locator(".audit-entries table")
    expect(table).to_be_visible()
    created = table.locator(".audit-row").filter(has_text=email).filter(has_text="create")
    expect(created.first).to_contain_text(name)
    membership = table.locator(".audit-row").filter(has_text=group).filter(has_text="edit")
    expect(membership.first.locator("ins.after")).to_contain_text(email)  # members: before → after
    page.locator(".audit-action select").select_option("create")
    expect(table.locator(".audit-row").first).to_contain_text("create")
    # Only create rows are left (a created object's details may well contain the word "edit").
    expect(table.locator(".audit-row:not([data-action=create])")).to_have_count(0)
    shot(page, "audit")
    # both pages fit a 1024 px window (their filter and form rows wrap)
    page.set_viewport_size({"width": 1024, "height": 900})
    page.wait_for_timeout(500)
    box = page.locator(".audit-trail").bounding_box()
    assert box["x"] + box["width"] <= 1024
    shot(page, "audit-1024")
    page.goto(f"{portal_url}/admin/users")
    expect(page.locator(".people-list table")).to_be_visible()
    page.wait_for_timeout(500)
    box = page.locator(".people-admin").bounding_box()
    assert box["x"] + box["width"] <= 1024
    shot(page, "users-1024")


def test_non_admin_sees_admins_only(page: Page, portal_url: str) -> None:
    login(page, portal_url, "viewer@acme.example.com", target="/admin/users")
    page.goto(f"{portal_url}/admin/users")
    expect(page.locator(".admins-only")).to_contain_text("Admins only")
    expect(page.locator(".people-list")).to_have_count(0)
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    page.goto(f"{portal_url}/admin/audit")
    expect(page.locator(".admins-only")).to_be_visible()
    expect(page.locator(".audit-entries")).to_have_count(0)


def test_invited_user_chooses_a_password(page: Page, portal_url: str, shot) -> None:
    r = requests.post(f"{portal_url}/api/tokens", json={"email": ADMIN, "password": PASSWORD}, timeout=30)
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {r.json()['token']}"
    email = f"inv-{uuid.uuid4().hex[:6]}@acme.example.com"
    user = admin.post(f"{portal_url}/api/users", json={"email": email, "name": "Invited <i>One</i>"}).json()
    link = admin.post(f"{portal_url}/api/users/{user['id']}/invite").json()["invite_url"]
    assert link.startswith(f"{portal_url}/invite?token=")
    token = link.split("token=", 1)[1]
    forged = requests.post(
        f"{portal_url}/invite", data={"token": token, "password": STRONG, "confirm": STRONG}, timeout=30
    )
    assert forged.status_code == 403  # no CSRF token: refused, the link still unused
    page.goto(link)
    expect(page.locator("p.sub").first).to_contain_text(email)
    page.fill("input[name=password]", "short")
    page.fill("input[name=confirm]", "short")
    page.evaluate(
        "document.querySelectorAll('input[minlength]').forEach(i => i.removeAttribute('minlength'))"
    )
    page.click("button[type=submit]")
    expect(page.locator(".err")).to_contain_text("at least 12 characters")
    page.fill("input[name=password]", STRONG)
    page.fill("input[name=confirm]", STRONG)
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text("Your password is set")
    shot(page, "password-set")
    again = requests.get(link, timeout=30)
    assert again.status_code == 404 and "already used or expired" in again.text
    ok = requests.post(f"{portal_url}/api/tokens", json={"email": email, "password": STRONG}, timeout=30)
    assert ok.status_code == 201, ok.text


def test_share_with_people_on_pdf_templates_reports_and_dashboards(page: Page, portal_url: str, shot) -> None:
    r = requests.post(
        f"{portal_url}/api/tokens",
        json={"email": "analyst@acme.example.com", "password": PASSWORD},
        timeout=30,
    )
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    board = s.get(f"{portal_url}/api/dashboards", params={"group": "mine"}, timeout=30).json()["dashboards"][
        0
    ]
    login(page, portal_url, "analyst@acme.example.com", target="/pdf")
    page.goto(f"{portal_url}/pdf")
    expect(page.locator(".share-people button")).to_be_hidden()  # nothing selected: no button
    page.locator(".template-list .tabulator-row").first.click()
    page.locator(".share-people button").click()
    dialog = page.locator(".share-people-dialog")
    expect(dialog.locator(".no-grants")).to_be_visible()
    dialog.locator(".grant-user select").select_option(
        label="Acme Facilities Viewer (viewer@acme.example.com)"
    )
    dialog.locator(".grant-add button").click()
    expect(dialog.locator(".grant", has_text="Acme Facilities Viewer")).to_contain_text("viewer")
    shot(page, "shared")
    dialog.locator(".grant-remove button").first.click()
    expect(dialog.locator(".no-grants")).to_be_visible()
    # the report library and the dashboard page carry the same button for the owner
    page.goto(f"{portal_url}/reports/library")
    page.locator(".report-list .tabulator-row").first.click()
    expect(page.locator(".report-detail .share-people button")).to_be_visible()
    page.goto(f"{portal_url}/dashboard?id={board['id']}")
    expect(page.locator(".share-buttons .share-people button")).to_be_visible()
    # someone who may only view a report gets no button
    page.context.clear_cookies()
    login(page, portal_url, "viewer@acme.example.com", target="/reports/library")
    page.goto(f"{portal_url}/reports/library?group=public")
    page.get_by_role("button", name="Public", exact=True).click()
    page.locator(".report-list .tabulator-row").first.click()
    expect(page.locator(".report-detail .report-head")).to_be_visible()
    expect(page.locator(".report-detail .share-people button")).to_be_hidden()
