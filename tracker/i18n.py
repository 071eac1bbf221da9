"""Locale choice: the user's setting, then the session (the header switch), then zh_CN.

The browser's Accept-Language is deliberately ignored: the product's default is Chinese,
and many office PCs run English-language browsers.
"""

from __future__ import annotations

from flask import current_app, has_request_context, session
from flask_login import current_user

SUPPORTED = ("zh_CN", "en")


def select_locale() -> str:
    if not has_request_context():  # commands and jobs: messages default to zh_CN
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated:
        return current_user.language
    chosen = session.get("language")
    if chosen in SUPPORTED:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["TIMEZONE"]
