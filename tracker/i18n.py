"""Locale choice: the user's setting, then the session (login page switch), then the browser."""

from __future__ import annotations

from flask import current_app, request, session
from flask_login import current_user

SUPPORTED = ("zh_CN", "en")


def select_locale() -> str:
    if current_user and current_user.is_authenticated:
        return current_user.language
    chosen = session.get("language")
    if chosen in SUPPORTED:
        return chosen
    return request.accept_languages.best_match(SUPPORTED) or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["TIMEZONE"]
