"""Locale choice: the user's setting, then the session (the header switch), then zh_CN.

The browser's Accept-Language is deliberately ignored: the product's default is Chinese,
and many office PCs run English-language browsers.
"""

from __future__ import annotations

import flask_babel
from babel.support import NullTranslations
from flask import current_app, g, has_request_context, session
from flask_babel.speaklater import LazyString
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


# --- fast message lookup ------------------------------------------------------------------------
# flask_babel.gettext resolves its domain, context and locale through several `g` lookups and
# formats the locale as a cache key on every call: ~2,000 proxy lookups for one list page.
# These keep Flask-Babel's semantics (its locale, refresh(), force_locale()) and remember the
# translations object per locale object on the request's Babel context.


def translations() -> NullTranslations:
    """The current translations: Flask-Babel's, looked up once per locale per context."""
    try:
        ctx = g._flask_babel
        locale = ctx.babel_locale
    except (AttributeError, RuntimeError):  # no locale chosen yet, or no app context
        return flask_babel.get_translations()
    cached = getattr(ctx, "tracker_translations", None)
    if cached is not None and cached[0] is locale:
        return cached[1]
    found = flask_babel.get_translations()
    ctx.tracker_translations = (locale, found)
    return found


def gettext(string: str, **variables) -> str:
    text = translations().ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    return translations().ungettext(singular, plural, num) % variables


def lazy_gettext(string: str, **variables) -> LazyString:
    return LazyString(gettext, string, **variables)


def install_jinja(app) -> None:
    """Templates translate through the fast lookup too (Flask-Babel installed its own first)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
