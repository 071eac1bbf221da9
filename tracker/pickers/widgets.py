"""A picker as a page renders it: a <select> that Tom Select (tracker/static/app.js) makes searchable.

While the actor's list is short (lists.INLINE_MAX) the whole list is in the page and searched there;
a longer one holds only the current choice and searches the JSON endpoint (/pick/<kind>) as the user
types. Without JavaScript a long list comes with a search box: its text, sent with the form, lists the
matches in the select on the next page (a POST form is then shown again, not saved).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from flask import request, url_for
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import FieldList, FormField, widgets

from tracker.i18n import gettext as _
from tracker.pickers import lists
from tracker.pickers.lists import Item, Pickable

SEARCH_SUFFIX = "-search"  # the no-JavaScript search box of a picker: "<field name>-search"


@dataclass
class Picker:
    kind: str  # people, units or sources (data-picker: what app.js enhances)
    choices: Sequence  # (value, label) pairs, or a refdata.PickList (tracker.web.select_options)
    url: str | None = None  # the JSON search of a long list; None: the whole list is in `choices`
    search: str = ""  # what a user without JavaScript searched for

    def attributes(self) -> Markup:
        """The <select>'s data attributes for app.js."""
        html = f' data-picker="{self.kind}"'
        if self.url:
            html += f' data-picker-url="{escape(self.url)}" data-picker-none="{escape(_("No matches"))}"'
        return Markup(html)

    def data(self) -> dict:
        """The same attributes as keyword arguments of a WTForms widget."""
        found = {"data-picker": self.kind}
        if self.url:
            found.update({"data-picker-url": self.url, "data-picker-none": _("No matches")})
        return found

    def noscript(self, name: str) -> Markup:
        """A long list's search box for browsers without JavaScript (not sent when scripts run)."""
        if not self.url:
            return Markup("")
        label = _("Search, then press Enter")
        return Markup(f'<noscript><input class="form-control form-control-sm mt-1" type="search" '
                      f'name="{escape(name)}{SEARCH_SUFFIX}" value="{escape(self.search)}" maxlength="200" '
                      f'placeholder="{escape(label)}" aria-label="{escape(label)}"></noscript>')


def searched(name: str) -> str:
    """What the no-JavaScript search box of picker `name` sent with this request."""
    return (request.values.get(name + SEARCH_SUFFIX) or "").strip()


def build(pick: Pickable, name: str, selected: Iterable, *,
          short: Callable[[], Sequence | None] | None = None, current: Iterable[tuple] = (),
          known: dict | None = None) -> Picker:
    """The picker of field `name` over the actor's list `pick`.

    `short()` gives the whole list while it is short, else None (default: pick.short_list, one query of
    at most INLINE_MAX + 1 rows); `current` are (value, label) pairs offered whatever the list holds (a
    stored value of the object being edited). A long list offers the current pairs, the chosen ids the
    actor may pick (one query, or looked up in `known`: {id: Item} of pick.chosen for many fields at
    once) and the matches of a no-JavaScript search."""
    actor = current_user
    whole = short() if short is not None else pick.short_list(actor)
    current = list(current)
    if whole is not None:
        listed = {str(row[0]) for row in whole}
        extra = [c for c in current if str(c[0]) not in listed]
        return Picker(pick.kind, list(whole) + extra if extra else whole)
    shown = {str(value) for value, _label in current}
    wanted = [v for v in selected if v not in (None, "") and str(v) not in shown]
    if known is not None:
        chosen = [known[i] for i in dict.fromkeys(lists.as_id(v) for v in wanted) if i in known]
    else:
        chosen = pick.chosen(actor, wanted)
    choices: list = current + chosen
    text = searched(name)
    if text:
        shown |= {str(item.value) for item in choices}
        choices += [item for item in pick.search(actor, text) if str(item.value) not in shown]
    return Picker(pick.kind, choices, url=url_for("pick.search", kind=pick.kind, **pick.args()), search=text)


def inline_limit() -> int:
    """How many rows to read to know whether a list is short: one more than lists.INLINE_MAX."""
    return lists.INLINE_MAX + 1


def capped(rows: Sequence) -> Sequence | None:
    """`rows` (read with a limit of inline_limit()) when they are the whole list, else None."""
    return rows if len(rows) <= lists.INLINE_MAX else None


def attach(field, pick: Pickable, *, blank: list | None = None, short=None, current: Iterable[tuple] = (),
           known: dict | None = None) -> Picker:
    """Make a WTForms select field a picker (see build): its choices are the picker's, after `blank`."""
    data = field.data if isinstance(field.data, list | tuple) else [field.data]
    picker = build(pick, field.name, data, short=short, current=current, known=known)
    field.picker = picker
    field.choices = list(blank or []) + [tuple(c) for c in picker.choices]
    return picker


def attach_rows(fields: list, pick: Pickable, *, blank: list | None = None, short=None) -> None:
    """attach() to the same field of many rows (a form's measures): the list is read once, and the
    chosen ids of every row are looked up in one query."""
    actor = current_user
    whole = short() if short is not None else pick.short_list(actor)
    known = None
    if whole is None:
        known = {item.value: item for item in pick.chosen(actor, [f.data for f in fields])}
    for f in fields:
        attach(f, pick, blank=blank, short=lambda: whole, known=known)


def searching(form) -> bool:
    """True when a picker of `form` (its rows too) got text in its no-JavaScript search box: the form is
    to be shown again with the matches, not saved."""
    for f in form:
        picker = getattr(f, "picker", None)
        if picker is not None and picker.search:
            return True
        if isinstance(f, FormField) and searching(f.form):
            return True
        if isinstance(f, FieldList) and any(searching([entry]) for entry in f.entries):
            return True
    return False


class PickerSelect(widgets.Select):
    """WTForms' Select, with the picker's data attributes and search box when the view attached one."""

    def __call__(self, field, **kwargs):
        picker = getattr(field, "picker", None)
        if picker is None:
            return super().__call__(field, **kwargs)
        kwargs.update(picker.data())
        return Markup(super().__call__(field, **kwargs) + picker.noscript(field.name))


__all__ = ["Item", "Picker", "PickerSelect", "attach", "attach_rows", "build", "capped", "searched",
           "searching"]
