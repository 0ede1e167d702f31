"""The password policy (portal.identity.passwords) and the people pages' escaping of user text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.errors import InvalidSpec
from portal.identity.passwords import MIN_LENGTH, MIN_SCORE, check_password, strength

EMAIL, NAME = "maria.souza@acme.example.com", "Maria Souza"


@pytest.mark.parametrize(
    "password",
    ["violet-harbor-cactus-93", "correct horse battery staple", "kX9#mq2Lp0vZ", "Tr0ub4dor&3xyz"],
)
def test_strong_passwords_pass(password):
    check_password(password, email=EMAIL, name=NAME)


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("", "required"),
        ("short-one", f"at least {MIN_LENGTH} characters"),
        ("x" * 300, "at most"),
        ("maria.souza-rocks-42", "e-mail address or your name"),
        ("Purple-SOUZA-engine", "e-mail address or your name"),
        ("maria souza 12345", "e-mail address or your name"),
        ("password1234", "too easy to guess"),
        ("qwertyuiop12", "too easy to guess"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("123456789012", "too easy to guess"),
    ],
)
def test_weak_passwords_are_refused_naming_the_field(password, words):
    with pytest.raises(InvalidSpec) as e:
        check_password(password, email=EMAIL, name=NAME)
    assert e.value.field == "password"
    assert e.value.message.startswith("password: ")
    assert words in e.value.message


def test_the_refusal_says_what_to_do():
    with pytest.raises(InvalidSpec) as e:
        check_password("password1234", email=EMAIL, name=NAME)
    assert "Add more unrelated words" in e.value.message
    assert f"at least {MIN_SCORE} needed" in e.value.message


def test_user_inputs_lower_the_score():
    # Words given to zxcvbn (the user's e-mail and name) count as guessable.
    assert strength("globextelecom", ["globex", "telecom"]).score <= strength("globextelecom").score
    assert 0 <= strength("anything").score <= 4


def test_short_name_words_do_not_block_passwords():
    check_password("violet-harbor-cactus-93", email="li@acme.example.com", name="Li Na")


ATTACK = '<img src=x onerror="alert(1)">'


def test_people_and_audit_tables_escape_user_text():
    from components.admin_audit import diff_html, entries_html
    from components.admin_people import groups_html, users_html
    from components.sharing_people import grant_html
    from portal.identity.grants import GrantView

    user = {
        "id": 1,
        "name": ATTACK,
        "email": ATTACK,
        "is_admin": False,
        "is_active": True,
        "has_password": False,
        "invite_pending": True,
        "locations": [1],
        "contracts": None,
        "customer_id": None,
        "last_login_at": None,
    }
    out = users_html([user], {1: ATTACK}, {})
    out += groups_html([{"id": 2, "name": ATTACK, "member_count": 1}])
    out += diff_html({"before": {"name": ATTACK}, "after": {ATTACK: ATTACK}, "note": ATTACK})
    out += entries_html(
        [
            {
                "id": 3,
                "at": datetime(2026, 12, 1, tzinfo=UTC),
                "user": ATTACK,
                "user_id": 1,
                "action": "edit",
                "object_type": "users",
                "object_id": 1,
                "details": {"before": None, "after": {"name": ATTACK}},
            }
        ]
    )
    out += grant_html(GrantView(4, "dashboard", 1, "user", 1, ATTACK, "viewer", None, False))
    assert "<img" not in out and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out


def test_audit_diff_reads_as_before_and_after():
    from components.admin_audit import diff_html

    text = diff_html(
        {"before": {"name": "Old", "locations": None}, "after": {"name": "New", "locations": [1, 2]}}
    )
    assert '<b>name</b>: <del class="before">Old</del> → <ins class="after">New</ins>' in text
    assert '<del class="before">—</del> → <ins class="after">[1, 2]</ins>' in text
    assert "created" in diff_html({"before": None, "after": {"name": "x"}})
    assert "removed" in diff_html({"before": {"name": "x"}, "after": None})
    assert diff_html({}) == ""
