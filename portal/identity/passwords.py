"""The password policy every new password meets (sign-up, reset, invitation, change).

Strength is judged by ``zxcvbn`` (Dropbox's estimator: dictionaries, keyboard patterns,
dates, l33t, repeats) rather than by composition rules, which push users to ``Password1!``:

- at least :data:`MIN_LENGTH` characters;
- not containing the local part of the user's e-mail address or (a word of) their name;
- a zxcvbn score of at least :data:`MIN_SCORE` (0-4; 3 = "safely unguessable").

Every refusal is an :class:`~portal.errors.InvalidSpec` on the field ``password`` that says
what to do. Demo accounts get a published password through a precomputed hash and never
pass through here (see :mod:`portal.demo.accounts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.errors import InvalidSpec

MIN_LENGTH = 12
#: Longer inputs are refused before zxcvbn sees them (its matching is superlinear in the length).
MAX_LENGTH = 256
MIN_SCORE = 3
#: Name words shorter than this are too common inside other words to be refused ("Li", "Jo").
_MIN_WORD = 3
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Strength:
    """What zxcvbn made of a password: its score (0-4) and its advice."""

    score: int
    warning: str
    suggestions: tuple[str, ...]


def strength(password: str, user_inputs: list[str] | tuple[str, ...] = ()) -> Strength:
    """zxcvbn's judgement of ``password``; ``user_inputs`` (e-mail, name) count as known words."""
    # Imported here: its dictionaries take a few tenths of a second to load, and every process
    # importing the identity package (workers, the command line) would pay for it.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:MAX_LENGTH], user_inputs=[u for u in user_inputs if u])
    feedback = result.get("feedback") or {}
    return Strength(
        score=int(result["score"]),
        warning=str(feedback.get("warning") or ""),
        suggestions=tuple(str(s) for s in feedback.get("suggestions") or ()),
    )


def _personal_words(email: str, name: str) -> list[str]:
    local = email.strip().lower().split("@", 1)[0]
    words = [local] if len(local) >= _MIN_WORD else []
    words += [w for w in _WORD.findall(name.lower()) if len(w) >= _MIN_WORD]
    full = " ".join(_WORD.findall(name.lower()))
    if full and full not in words:
        words.append(full)
    return words


def check_password(password: str, *, email: str = "", name: str = "") -> None:
    """Raise :class:`InvalidSpec` (field ``password``) unless ``password`` meets the policy."""
    if not isinstance(password, str) or not password:
        raise InvalidSpec("password: required; choose a password of at least 12 characters", field="password")
    if len(password) < MIN_LENGTH:
        raise InvalidSpec(
            f"password: must have at least {MIN_LENGTH} characters (it has {len(password)}); "
            "a few unrelated words make a long password that is easy to remember",
            field="password",
        )
    if len(password) > MAX_LENGTH:
        raise InvalidSpec(f"password: must have at most {MAX_LENGTH} characters", field="password")
    lowered = password.lower()
    compact = re.sub(r"[\W_]+", "", lowered)
    for word in _personal_words(email, name):
        if word in lowered or (word.replace(" ", "") and word.replace(" ", "") in compact):
            raise InvalidSpec(
                "password: must not contain your e-mail address or your name; choose words unrelated to you",
                field="password",
            )
    s = strength(password, [email, email.split("@", 1)[0], name, *name.split()])
    if s.score < MIN_SCORE:
        advice = " ".join(x for x in (s.warning, *s.suggestions) if x)
        raise InvalidSpec(
            f"password: too easy to guess (strength {s.score} of 4, at least {MIN_SCORE} needed); "
            + (advice + " " if advice else "")
            + "Add more unrelated words or characters.",
            field="password",
        )
