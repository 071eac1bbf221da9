"""Locale choice: the user's setting, then the session (the header switch), then zh_CN.

The browser's Accept-Language is deliberately ignored: the product's default is Chinese,
and many office PCs run English-language browsers.
"""

from __future__ import annotations

import flask_babel
from babel import Locale
from babel.support import NullTranslations
from flask import current_app, has_request_context, session
from flask.globals import _cv_app
from flask_babel.speaklater import LazyString
from flask_login import current_user
from jinja2 import pass_eval_context
from markupsafe import Markup, escape

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


_PARSED: dict[str, Locale] = {}


def babel_locale() -> Locale:
    """select_locale() as a parsed Locale, parsed once per name: Flask-Babel parses the selector's
    answer on every request (0.15 ms), but passes a Locale through untouched."""
    name = select_locale()
    found = _PARSED.get(name)
    if found is None:
        found = _PARSED[name] = Locale.parse(name)
    return found


def select_timezone() -> str:
    return current_app.config["TIMEZONE"]


# --- fast message lookup ------------------------------------------------------------------------
# flask_babel.gettext resolves its domain, context and locale through several `g` lookups and
# formats the locale as a cache key on every call: ~2,000 proxy lookups for one list page.
# These keep Flask-Babel's semantics (its locale, refresh(), force_locale()) and remember the
# translations object per locale object on the request's Babel context.


def translations() -> NullTranslations:
    """The current translations: Flask-Babel's, looked up once per locale per context. The app
    context is read from its context variable rather than through the `g` proxy: a list page asks
    a hundred times."""
    app_ctx = _cv_app.get(None)
    try:
        ctx = app_ctx.g._flask_babel
        locale = ctx.babel_locale
    except AttributeError:  # no app context, or no locale chosen yet
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


def _format(eval_ctx, text: str, variables: dict) -> str:
    """Jinja's "new style" rule: the translation is always a format string, and in an HTML template
    it is trusted markup while the values put into it are escaped. Formatting a plain str with
    escaped values gives what Markup.__mod__ gives, at a fraction of the cost (a list of 50 rows
    with "Overdue %(n)s d" spent 8 % of the page in it)."""
    if not eval_ctx.autoescape:
        return text % variables
    return Markup(text % {k: v if isinstance(v, int | float) else escape(v) for k, v in variables.items()})


@pass_eval_context
def _jinja_gettext(eval_ctx, string: str, **variables) -> str:
    return _format(eval_ctx, translations().ugettext(string), variables)


@pass_eval_context
def _jinja_ngettext(eval_ctx, singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    return _format(eval_ctx, translations().ungettext(singular, plural, num), variables)


@pass_eval_context
def _jinja_pgettext(eval_ctx, context: str, string: str, **variables) -> str:
    variables.setdefault("context", context)
    return _format(eval_ctx, translations().upgettext(context, string), variables)


@pass_eval_context
def _jinja_npgettext(eval_ctx, context: str, singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("context", context)
    variables.setdefault("num", num)
    return _format(eval_ctx, translations().unpgettext(context, singular, plural, num), variables)


def install_jinja(app) -> None:
    """Templates translate through the fast lookup too, with the semantics of Jinja's new-style
    gettext; `_` is the function itself rather than Jinja's alias, which went through three
    context calls for every string."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(gettext=_jinja_gettext, _=_jinja_gettext, ngettext=_jinja_ngettext,
                                 pgettext=_jinja_pgettext, npgettext=_jinja_npgettext)
