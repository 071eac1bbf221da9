"""Template translation: Jinja's new-style gettext semantics, on the fast lookup."""

from __future__ import annotations

import flask_babel
from babel import Locale
from flask import render_template_string

from tracker import i18n


def render(app, source: str, locale: str = "zh_CN", autoescape: bool = True, **context) -> str:
    with app.test_request_context("/"):
        with flask_babel.force_locale(locale):
            if autoescape:
                return render_template_string(source, **context)
            template = app.jinja_env.from_string("{% autoescape false %}" + source + "{% endautoescape %}")
            return template.render(**context)


def test_a_message_is_translated_in_either_language(app):
    assert render(app, '{{ _("Rectification list") }}') == "整改清单"
    assert render(app, '{{ _("Rectification list") }}', "en") == "Rectification list"


def test_values_are_escaped_into_the_trusted_translation(app):
    html = render(app, '{{ _("Overdue %(n)s d", n=n) }}|{{ _("originally %(d)s", d=d) }}', n=3, d="<b>x</b>")
    assert html == "逾期3天|原定&lt;b&gt;x&lt;/b&gt;", html


def test_markup_values_and_percent_signs_pass_as_jinja_would(app):
    from markupsafe import Markup

    source = '{{ _("originally %(d)s", d=d) }}'
    assert render(app, source, "en", d=Markup("<i>1</i>")) == "originally <i>1</i>"
    assert render(app, '{{ _("100%% done") }}', "en") == "100% done"


def test_plain_text_templates_are_not_escaped(app):
    source = '{{ _("originally %(d)s", d=d) }}'
    assert render(app, source, "en", autoescape=False, d="<b>") == "originally <b>"


def test_plural_and_context_forms(app):
    source = '{{ ngettext("%(num)s day", "%(num)s days", n) }}|{{ pgettext("menu", "Report") }}'
    assert render(app, source, "en", n=2) == "2 days|Report"


def test_the_locale_is_parsed_once_per_name(app):
    with app.test_request_context("/"):
        first = i18n.babel_locale()
        assert first == Locale.parse("zh_CN")  # what Flask-Babel made of the name before
        assert i18n.babel_locale() is first


def test_every_message_of_the_code_has_a_chinese_translation():
    """zh_CN is the default: a message the code uses and the catalogue lacks would show in English."""
    from babel.messages.pofile import read_po

    from tracker.translations import sync

    template = sync.extract()
    with (sync.CATALOGUES / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        zh = read_po(f)
    missing = [m.id for m in template if m.id and (m.id not in zh or not zh[m.id].string)]
    assert missing == []
