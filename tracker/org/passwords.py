"""The password policy: a minimum length, and no password that is common or built from the
person, their unit or this product (NIST SP 800-63B's blocklist advice, no composition rules).

zxcvbn (Dropbox's estimator, MIT) does the guessing: its lists of common passwords, names and
words, keyboard walks (qwertyui, 1qaz2wsx), sequences and repeats (12345678, abc12345), dates,
l33t and reversed spellings, and the words given as `user_inputs` (username, name, unit, product).
It keeps those inputs in a module-level dictionary while it matches, hence the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from flask import current_app

from tracker.i18n import lazy_gettext as _l

MIN_LENGTH = 8
MAX_LENGTH = 200  # the login form accepts no more
SCORED_LENGTH = 72  # zxcvbn refuses longer input; the first 72 characters are judged
# This product's names: what people type when a system asks them for a password.
PRODUCT_WORDS = ("tracker", "rectification", "zhenggai", "taizhang", "zhenggaitaizhang",
                 "整改", "台账", "整改台账")

_zxcvbn_lock = threading.Lock()


def context_words(*values: str | None) -> list[str]:
    """What a guesser would try first for this person: the given values (username, name, e-mail
    and its name part, unit code and name) and the product's names."""
    words: list[str] = []
    for value in values:
        value = (value or "").strip().lower()
        if len(value) >= 2:
            words.append(value)
            if "@" in value:
                words.append(value.split("@", 1)[0])
    return words + list(PRODUCT_WORDS)


def problem(password: str, context: Iterable[str] = ()) -> str | None:
    """Why `password` may not be used (a translated message), or None when it may."""
    if len(password) < MIN_LENGTH:
        return _l("At least %(n)s characters.", n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _l("At most %(n)s characters.", n=MAX_LENGTH)
    # Imported on first use: its word lists cost each process 12 MB, and few requests set passwords.
    from zxcvbn import zxcvbn

    minimum = int(current_app.config.get("PASSWORD_MIN_SCORE", 3))
    words = list(context) or list(PRODUCT_WORDS)
    with _zxcvbn_lock:
        result = zxcvbn(password[:SCORED_LENGTH], user_inputs=words)
    if result["score"] >= minimum:
        return None
    if any(m.get("dictionary_name") == "user_inputs" for m in result["sequence"]):
        return _l("This password is too close to your username, name or unit, or to this system's "
                  "name. Choose another one.")
    return _l("This password is too common or too easy to guess. Use a longer one, for example "
              "a few unrelated words.")
